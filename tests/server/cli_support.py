"""Running the ``chat-server`` command and talking to what it serves, for the CLI tests.

Each command runs as a real subprocess with the test's environment minus any CHAT_* setting.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ServerProcess
from tests.raw import Frame, expect, recv, request

TIMEOUT = 10.0
FAST = ("--rate", "100000", "--burst", "100000")

Spawn = Callable[..., ServerProcess]


# --- running the command ------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any CHAT_* setting leaking in, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    env.update(extra)
    return env


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chat_server", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env if env is not None else clean_env(),
        timeout=60,
        check=False,
    )


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"


def assert_one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    """Non-zero exit, exactly one line on stderr, no traceback; returns the line."""
    assert result.returncode != 0, f"expected a failure, got exit 0: {result.stdout}"
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines}"
    return lines[0]


# --- talking to the server ----------------------------------------------------------------


async def close_code(ws: ClientConnection, timeout: float = TIMEOUT) -> int | None:
    """Wait for the server to close the connection; the code it sent."""
    try:
        while True:
            await recv(ws, timeout)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None


async def welcome(url: str, **hello: str) -> Frame:
    """One hello on a fresh connection; returns the welcome (or the error)."""
    async with connect(url, open_timeout=TIMEOUT) as ws:
        return await request(ws, {"type": "hello", **hello}, "welcome")


async def refused(url: str, **hello: str) -> None:
    """The hello gets auth_failed, then the connection is closed with 1008."""
    async with connect(url, open_timeout=TIMEOUT) as ws:
        reply = await request(ws, {"type": "hello", **hello}, "welcome")
        assert reply["type"] == "error" and reply["code"] == "auth_failed", reply
        assert await close_code(ws) == 1008


async def join(ws: ClientConnection, room: str) -> Frame:
    joined = await request(ws, {"type": "join", "room": room}, "joined")
    assert joined["type"] == "joined", joined
    history = await expect(ws, "history")
    assert history["type"] == "history", history
    return history


async def history(url: str, token: str, room: str) -> list[Frame]:
    """Every message of ``room``, read with a token hello and forward paging."""
    async with connect(url, open_timeout=TIMEOUT) as ws:
        hi = await request(ws, {"type": "hello", "token": token}, "welcome")
        assert hi["type"] == "welcome", hi
        messages: list[Frame] = []
        after = 0
        while True:
            page = await request(
                ws, {"type": "history", "room": room, "after": after, "limit": 100}, "history"
            )
            assert page["type"] == "history", page
            messages.extend(page["messages"])
            if not page["more"]:
                return messages
            after = page["messages"][-1]["seq"]
