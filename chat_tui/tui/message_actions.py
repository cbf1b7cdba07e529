"""What the user does to one message: reply, edit, delete, react (protocol 2).

Reached three ways, all ending here: a key on the selected message in the history pane
(``r``, ``e``, ``d``, ``+``), a slash command with a short reference (``/reply ^1 text``,
``/edit #41 text``), and ``up`` in an empty composer (edit your last message).

Replying and editing put the composer in a mode, shown on the line above it ("replying to
bob: …", "editing your message"): Enter sends the reply or the new text, escape leaves the
mode and gives back what was in the composer before. Who may do what is the server's own
pure rule (:mod:`chat_server.access`), asked here first so a refusal shows at once; the
server asks it again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from rich.text import Text

from chat_server import access
from chat_server import protocol as p
from chat_tui.client.client import ChatClient
from chat_tui.client.errors import ClientError
from chat_tui.tui.render import parse_ts, quote_text
from chat_tui.tui.screens.confirm_delete import ConfirmDelete
from chat_tui.tui.screens.react_picker import ReactionPicker

if TYPE_CHECKING:
    from chat_tui.tui.app import ChatApp


# The roles of a room whose holders may delete anyone's message there, as a server admin may
# (the server's ``moderator`` of ``access.change_refusal``; chat_server/store/rooms.py asks it).
MODERATORS: Final = frozenset({"owner", "op"})


@dataclass(frozen=True)
class Mode:
    """The composer is writing a reply to, or the new text of, message ``seq`` of ``room``."""

    kind: Literal["reply", "edit"]
    room: str
    seq: int
    draft: str  # what the composer held before: escape gives it back


def refusal(
    action: Literal["reply", "edit", "delete", "react"],
    message: p.MessageRecord,
    me: str,
    *,
    admin: bool,
    role: str | None = None,
    edit_window: float | None,
    now: float,
) -> str | None:
    """Why the user may not ``action`` this message (the server's rule), None when they may.

    ``admin``: a server admin; ``role``: the user's role in the message's room ("owner",
    "op", None for a member). Both may delete anyone's message, and edit only their own.
    """
    if action == "reply" or action == "react":
        refused = access.answer_refusal(message.seq, "message", deleted=message.deleted)
    else:
        refused = access.change_refusal(
            action,
            message.seq,
            "message",
            author=p.nick_key(message.nick) == p.nick_key(me),
            deleted=message.deleted,
            moderator=admin or role in MODERATORS,
            age=now - parse_ts(message.ts).timestamp(),
            edit_window=edit_window,
        )
    return refused.message if refused is not None else None


class MessageActions:
    """The message actions of one app; each takes the room and the seq of its target."""

    def __init__(self, app: ChatApp) -> None:
        self.app = app
        self.mode: Mode | None = None

    # --- the four actions ---------------------------------------------------------------

    def reply(self, room: str, seq: int) -> None:
        message = self.allowed("reply", room, seq)
        if message is not None:
            self._enter(Mode("reply", room, seq, self._draft()), "")

    def edit(self, room: str, seq: int, body: str | None = None) -> None:
        """Edit message ``seq``: with ``body`` at once, else in the composer."""
        message = self.allowed("edit", room, seq)
        if message is None:
            return
        if body is not None:
            self._submit_edit(room, seq, body)
            return
        self._enter(Mode("edit", room, seq, self._draft()), message.body.replace("\n", "⏎"))

    def delete(self, room: str, seq: int) -> None:
        """Ask once, then delete: the text is erased for everyone."""
        message = self.allowed("delete", room, seq)
        if message is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._run(room, "delete", self._client().delete(room, seq))
            self.app.chat.composer.focus()

        self.app.push_screen(ConfirmDelete(message.nick, message.body), callback=answered)

    def react(self, room: str, seq: int, emoji: str | None = None, remove: bool = False) -> None:
        """Add ``emoji`` (or take it back); without one, the picker asks which (one you
        already put there is taken back)."""
        message = self.allowed("react", room, seq)
        if message is None:
            return
        if emoji is not None:
            self._run(room, "react", self._client().react(room, seq, emoji, remove))
            return
        me = p.nick_key(self.app.nick)
        mine = {r.emoji for r in message.reactions if any(p.nick_key(n) == me for n in r.nicks)}

        def picked(choice: str | None) -> None:
            if choice is not None:
                job = self._client().react(room, seq, choice, remove=choice in mine)
                self._run(room, "react", job)
            self.app.chat.composer.focus()

        self.app.push_screen(ReactionPicker(mine), callback=picked)

    def edit_last(self, room: str) -> bool:
        """Start editing your last message in ``room``; False when you have none loaded."""
        message = self.app.chat.history.timeline(room).last_mine()
        if message is None:
            return False
        self.edit(room, message.seq)
        return True

    # --- the composer's mode ------------------------------------------------------------

    def submit(self, body: str) -> bool:
        """Enter in the composer: send the reply or the edit; False when not in a mode."""
        mode = self.mode
        if mode is None:
            return False
        self._leave()
        if mode.kind == "reply":
            self.app.commands.send(mode.room, body, reply_to=mode.seq)
        else:
            self._submit_edit(mode.room, mode.seq, body)
        return True

    def cancel(self) -> bool:
        """Escape: leave the mode, the composer as it was before; False when not in one."""
        mode = self.mode
        if mode is None:
            return False
        self._leave()
        composer = self.app.chat.composer
        composer.value = mode.draft
        composer.cursor_position = len(mode.draft)
        return True

    def _enter(self, mode: Mode, value: str) -> None:
        chat = self.app.chat
        self.mode = mode
        target = self.app.message(mode.room, mode.seq)
        if chat.has_class("narrow") and chat.thread.root is not None:
            chat.close_thread()  # the composer is under the thread: show the room again
        if mode.kind == "reply" and target is not None:
            line = Text("replying to ", "bold")
            quote = quote_text(target.nick, target.body, deleted=target.deleted)
            line.append_text(quote[2:])  # without the arrow
        else:
            line = Text("editing your message", "bold")
        chat.show_mode(line, Text("  (enter sends, esc cancels)", "dim"))
        chat.history.select(None)
        chat.composer.value = value
        chat.composer.cursor_position = len(value)
        chat.composer.focus()

    def leave(self) -> None:
        """End the mode, keeping what is typed (another room: a reply or an edit belongs
        to its own)."""
        if self.mode is not None:
            self._leave()

    def _leave(self) -> None:
        self.mode = None
        self.app.chat.show_mode(None)

    def _draft(self) -> str:
        mode = self.mode
        if mode is not None:  # one mode replaces another: the first draft is the one kept
            self._leave()
            return mode.draft
        return self.app.chat.composer.value

    def _submit_edit(self, room: str, seq: int, body: str) -> None:
        if not body.strip():
            self.app.notice(room, "an edit needs text: to take a message back, delete it", "error")
            return
        self._run(room, "edit", self._client().edit(room, seq, body))

    # --- helpers ------------------------------------------------------------------------

    def allowed(
        self, action: Literal["reply", "edit", "delete", "react"], room: str, seq: int
    ) -> p.MessageRecord | None:
        """The message when the user may act on it; else None, and a notice saying why."""
        app = self.app
        if app.client is None:
            app.notice(room, "not connected", "error")
            return None
        message = app.message(room, seq)
        if message is None:
            app.notice(room, f"no message #{seq} here (or not loaded: scroll up to it)", "error")
            return None
        welcome = app.welcome
        info = app.chat.rooms.rooms.get(room)
        why = refusal(
            action,
            message,
            app.nick,
            admin=welcome.admin if welcome else False,
            role=info.role(app.nick) if info is not None else None,
            edit_window=welcome.limits.edit_window_s if welcome else None,
            now=time.time(),
        )
        if why is not None:
            app.notice(room, f"cannot {action}: {why}", "error")
            return None
        return message

    def _client(self) -> ChatClient:
        client = self.app.client
        assert client is not None
        return client

    def _run(self, room: str, action: str, job: Awaitable[p.Ack]) -> None:
        async def run() -> None:
            try:
                await job
            except ClientError as exc:
                self.app.notice(room, f"cannot {action}: {exc}", "error")
            self.app.show_queue()  # made while offline, it was counted as queued

        self.app.run_worker(run(), exit_on_error=False)
        self.app.call_later(self.app.show_queue)
