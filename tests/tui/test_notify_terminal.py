"""The terminal notification, end to end: ``chat-tui connect`` runs in a pseudo-terminal (the
fake terminal), which reports losing the focus (``ESC [ O``) as a real one does and reads what
the app writes: an OSC 777 sequence for a mention while unfocused, with the text made safe;
nothing while focused, for your own message, past the budget, or with ``--no-notify``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import termios
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.client.cli_support import chat_tui_command, tui_env
from tests.conftest import ChatServerUnderTest
from tests.tui.conftest import token_for

pytestmark = pytest.mark.slow

WAIT = 30.0
OSC_777 = re.compile(rb"\x1b\]777;notify;(.*?)\x1b\\", re.DOTALL)
FOCUS_OUT, FOCUS_IN = b"\x1b[O", b"\x1b[I"


class FakeTerminal:
    """A 120x40 pseudo-terminal running ``chat-tui ARGS``; ``output`` is all it was sent."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.proc = subprocess.Popen(
            chat_tui_command(*args),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": "xterm-256color"},
            start_new_session=True,
        )
        os.close(slave)
        os.set_blocking(self.master, False)
        self.output = b""

    def _read(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while chunk := os.read(self.master, 65536):
                self.output += chunk

    async def wait_for(self, pattern: bytes, after: int = 0) -> int:
        """Until ``pattern`` is in the output past ``after``; returns where it ends."""
        deadline = time.monotonic() + WAIT
        while (found := self.output.find(pattern, after)) < 0:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"no {pattern!r} on the terminal: {self.output[-400:]!r}")
            await asyncio.sleep(0.02)
            self._read()
        return found + len(pattern)

    async def focus(self, focused: bool, probe: str) -> None:
        """Report the focus with ``probe`` pasted into the composer in the same write: once it
        is drawn, the app has read the report (the terminal's input is read in order). The
        paste goes first when the focus is lost: an unfocused app has no focused widget."""
        paste = f"\x1b[200~{probe}\x1b[201~".encode()
        os.write(self.master, FOCUS_IN + paste if focused else paste + FOCUS_OUT)
        await self.wait_for(probe.encode())

    def notifications(self) -> list[bytes]:
        return OSC_777.findall(self.output)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@contextlib.asynccontextmanager
async def terminal(
    server: ChatServerUnderTest, home: Path, *args: str
) -> AsyncIterator[FakeTerminal]:
    env = tui_env(home, CHAT_TOKEN=await token_for(server, "alice"))
    for name in ("TMUX", "TERM_PROGRAM", "WT_SESSION"):  # OSC 777, not wrapped, here
        env.pop(name, None)
    term = FakeTerminal(env, "connect", server.url, "--room", "general", *args)
    try:
        await term.wait_for("● connected".encode())
        yield term
    finally:
        term.close()


async def say(server: ChatServerUnderTest, nick: str, body: str) -> None:
    async with server.login(nick) as client:
        await client.join("general")
        await client.say("general", body, f"{nick}-{len(body)}-{body[:8]}")


async def test_a_mention_while_unfocused_is_an_osc_777_notification(
    server: ChatServerUnderTest, tmp_path: Path
) -> None:
    async with terminal(server, tmp_path) as term:
        await say(server, "bob", "alice: while-you-look")
        await term.wait_for(b"while-you-look")
        assert term.notifications() == [], "focused: no notification"

        await term.focus(False, "probe-one")
        await say(server, "alice", "alice-from-her-phone")
        await term.wait_for(b"alice-from-her-phone")
        assert term.notifications() == [], "your own message: none"

        hostile = "alice: look \x1b]777;notify;fake;x\x07 \x1b[2J;here\x9c end"
        await say(server, "bob", hostile)
        await term.wait_for(b"\x1b]777;notify;")
        await term.wait_for(b"end\x1b\\")
        [payload] = term.notifications()
        assert payload == b"bob in #general;alice: look  ;here end"
        assert not re.search(rb"[\x00-\x1f\x7f]", payload)

        async with server.login("carol") as carol:  # a flood: 4 more shown, then 1 per 5 s
            await carol.join("general")
            for number in range(8):
                await carol.say("general", f"alice: flood-{number}", f"flood-{number}")
        await term.wait_for(b"flood-7")
        assert len(term.notifications()) == 5
        assert b"flood-3" in term.notifications()[-1]

        await term.focus(True, "probe-two")
        await say(server, "bob", "alice: focused-again")
        await term.wait_for(b"focused-again")
        assert len(term.notifications()) == 5, "focused again: none"


async def test_no_notify_writes_no_sequence(server: ChatServerUnderTest, tmp_path: Path) -> None:
    async with terminal(server, tmp_path, "--no-notify") as term:
        await term.focus(False, "probe-one")
        await say(server, "bob", "alice: unseen-mention")
        await term.wait_for(b"unseen-mention")
        assert term.notifications() == []
        assert b"\x1b]9;" not in term.output
