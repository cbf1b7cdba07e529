"""Desktop notifications: which message deserves one, and the two ways to send it.

A message another person sends that names you (a whole word, any case), that contains one of
your ``--highlight`` words, or that comes in a direct conversation, is an :class:`Alert`
(:func:`alert_for`, pure). The app sends one only while the terminal is not focused, and
never for the messages a reconnect catches up on.

The terminal way (:func:`terminal_sequence`) is an OSC 777 (``notify;TITLE;BODY``) or OSC 9
escape sequence written to the terminal, so it works over SSH; the text comes from other
people, so every control character is removed (no escape, BEL or ST can end the sequence
early and start another) and it is cut short. The command way (:class:`NotifyCommand`) runs
the user's program, never through a shell, with the alert as one JSON object on stdin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from chat_server.protocol import MessageRecord, clean_text, dm_pair, nick_key
from chat_server.ratelimit import TokenBucket
from chat_tui.tui.render import mentions, room_label
from chat_tui.tui.textual_internals import write_to_terminal

if TYPE_CHECKING:
    from chat_tui.tui.app import ChatApp

Kind = Literal["mention", "dm", "highlight"]
Style = Literal["osc777", "osc9"]

TEXT_MAX = 200  # characters of a title or body in a terminal notification
COMMAND_TIMEOUT = 5.0  # seconds a notify command may run before it is killed
# Notifications shown: 5 at once, then one every 5 s, however many people name you.
BURST, EVERY = 5, 5.0

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


@dataclass(frozen=True)
class Alert:
    """A message worth a notification; its fields are what ``--notify-command`` reads."""

    room: str
    nick: str
    body: str
    ts: str
    kind: Kind

    def as_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False).encode() + b"\n"


def highlight_pattern(words: Sequence[str]) -> re.Pattern[str] | None:
    """Any of ``words`` as a whole word, in any case; None for no (non-blank) words."""
    words = [word.strip() for word in words if word.strip()]
    if not words:
        return None
    either = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{either})(?!\w)", re.IGNORECASE)


def alert_for(
    message: MessageRecord, me: str, highlight: re.Pattern[str] | None = None
) -> Alert | None:
    """The alert ``message`` deserves for ``me``: a direct message, a mention, a highlight
    word (in that order), or None (your own messages never deserve one)."""
    if not me or nick_key(message.nick) == nick_key(me):
        return None
    kind: Kind
    if dm_pair(message.room) is not None:
        kind = "dm"
    elif mentions(message.body, message.nick, me):
        kind = "mention"
    elif highlight is not None and highlight.search(clean_text(message.body)):
        kind = "highlight"
    else:
        return None
    return Alert(message.room, message.nick, message.body, message.ts, kind)


def one_line(text: str, limit: int = TEXT_MAX) -> str:
    """Untrusted ``text`` made safe inside an escape sequence: escape sequences and every
    control character gone (runs of them, newlines included, become one space), at most
    ``limit`` characters."""
    text = _CONTROL.sub(" ", clean_text(text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def terminal_style(env: Mapping[str, str]) -> Style:
    """OSC 9 for the terminals known to show it and not OSC 777 (iTerm2, kitty, Windows
    Terminal); OSC 777 (foot, Ghostty, WezTerm, rxvt, VTE terminals with it) for the rest."""
    if env.get("TERM_PROGRAM") == "iTerm.app" or env.get("WT_SESSION"):
        return "osc9"
    return "osc9" if env.get("TERM") == "xterm-kitty" else "osc777"


def terminal_sequence(alert: Alert, me: str, style: Style, *, tmux: bool = False) -> str:
    """The escape sequence that shows ``alert`` as a desktop notification.

    ``tmux``: wrapped so that tmux passes it to the outer terminal (tmux 3.3 needs
    ``set -g allow-passthrough on`` for it).
    """
    where = one_line(room_label(alert.room, me))
    nick = one_line(alert.nick)
    title = f"{nick} in {where}" if alert.kind != "dm" else nick
    body = one_line(alert.body)
    if style == "osc9":  # one text; "<" first, so never a ConEmu "9;N;" subcommand
        sequence = f"\x1b]9;{one_line(f'<{nick}> {where}: {body}')}\x1b\\"
    else:  # the title is a field: a ";" in it would start the body
        sequence = f"\x1b]777;notify;{title.replace(';', ',')};{body}\x1b\\"
    if tmux:
        sequence = "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    return sequence


class NotifyCommandError(ValueError):
    """``--notify-command`` is not a command line (unbalanced quotes, or empty)."""


def parse_command(line: str) -> list[str]:
    """``--notify-command``'s words, as a POSIX shell would split them (no shell runs it)."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise NotifyCommandError(f"--notify-command: {exc}") from None
    if not argv:
        raise NotifyCommandError("--notify-command is empty")
    return argv


class NotifyCommand:
    """Runs the user's notify command, one at a time: an alert that comes while it runs is
    dropped (the user is being told already). A run is killed after ``timeout`` seconds.

    ``report`` hears of a failure in one line, and then of none until a run succeeds again,
    so a broken command never floods the screen.
    """

    def __init__(
        self, argv: list[str], report: Callable[[str], None], timeout: float = COMMAND_TIMEOUT
    ) -> None:
        self.argv = argv
        self.timeout = timeout
        self._report = report
        self._reported = False
        self.running = False
        self.dropped = 0  # alerts that came while a run was on

    def claim(self) -> bool:
        """Whether a run may start now (then it is marked as running)."""
        if self.running:
            self.dropped += 1
            return False
        self.running = True
        return True

    async def run(self, alert: Alert) -> None:
        """Run the command with ``alert`` on stdin (after :meth:`claim` said yes)."""
        try:
            failure = await self._run(alert.as_json())
        finally:
            self.running = False
        if failure is None:
            self._reported = False
        elif not self._reported:
            self._reported = True
            self._report(f"notify command {os.path.basename(self.argv[0])} {failure}")

    async def _run(self, data: bytes) -> str | None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,  # the terminal is the TUI's
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,  # no ctrl+c of ours reaches it
            )
        except OSError as exc:
            return f"cannot run: {exc.strerror or exc}"
        try:
            await asyncio.wait_for(proc.communicate(data), self.timeout)
        except TimeoutError:
            return f"ran over {self.timeout:g} s and was stopped"
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        return None if proc.returncode == 0 else f"exited with status {proc.returncode}"


@dataclass(frozen=True)
class NotifySettings:
    """``chat-tui connect``'s notification options."""

    terminal: bool = True  # the escape sequence (off with --no-notify)
    command: list[str] | None = None  # --notify-command, split
    highlights: tuple[str, ...] = ()  # --highlight words
    command_timeout: float = COMMAND_TIMEOUT


class Notifier:
    """The app's side: an alert for each message that deserves one while the terminal is
    not focused, through the terminal and the notify command; at most :data:`BURST` at once,
    then one every :data:`EVERY` seconds (the rest are dropped)."""

    def __init__(
        self, app: ChatApp, settings: NotifySettings, env: Mapping[str, str] | None = None
    ) -> None:
        env = os.environ if env is None else env
        self.app = app
        self.settings = settings
        self.highlight = highlight_pattern(settings.highlights)
        self.style = terminal_style(env)
        self.tmux = bool(env.get("TMUX"))
        self.command = None
        if settings.command:
            self.command = NotifyCommand(settings.command, self._failed, settings.command_timeout)
        self.live = True  # False while a reconnect catches up (old news: no alerts)
        # room -> its last seq when (re-)joined: older messages a catch-up brings are old news
        self.joined_at: dict[str, int] = {}
        self.budget = TokenBucket(1 / EVERY, BURST, time.monotonic())

    def message(self, message: MessageRecord) -> None:
        app = self.app
        if app.app_focus or not self.live or message.seq <= self.joined_at.get(message.room, 0):
            return
        alert = alert_for(message, app.nick, self.highlight)
        if alert is None or not self.budget.take(time.monotonic()):
            return  # a flood of mentions is not a flood of pop-ups (or of commands run)
        if self.settings.terminal:
            write_to_terminal(app, terminal_sequence(alert, app.nick, self.style, tmux=self.tmux))
        if self.command is not None and self.command.claim():
            app.run_worker(self.command.run(alert), group="notify", exit_on_error=False)

    def _failed(self, line: str) -> None:
        self.app.notice(None, line)
