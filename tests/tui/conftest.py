"""Fixtures of the TUI tests: the real app under ``run_test()`` against a real server.

Every test gets its own config dir (stored tokens) and runs in UTC, so time stamps are
the same everywhere. ``until`` waits for a condition the user would see, with a generous
timeout (the machine is shared and loaded), instead of sleeping a fixed time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget

from chat_tui.tui.app import ChatApp
from chat_tui.tui.screens.login import LoginScreen
from tests.conftest import ChatServerUnderTest

WAIT = 10.0


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A private config dir (no real token is read or written) and the UTC time zone."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CHAT_TOKEN", raising=False)
    monkeypatch.delenv("CHAT_PASSWORD", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def until(
    pilot: Pilot[Any], condition: Callable[[], object], what: str, timeout: float = WAIT
) -> None:
    """Let the app run until ``condition()`` is true; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await pilot.pause(0.02)


def widget_text(widget: Widget) -> str:
    """The lines a widget shows on screen, as plain text."""
    region = Region(0, 0, widget.size.width, widget.size.height)
    return "\n".join(strip.text.rstrip() for strip in widget.render_lines(region))


def on_login_screen(app: ChatApp) -> bool:
    """The login screen is up *and mounted*: a pushed screen is ``app.screen`` a moment
    before its widgets exist and its field has the focus (the race of a flaky test)."""
    screen = app.screen
    return (
        isinstance(screen, LoginScreen)
        and screen.is_mounted
        and bool(list(screen.query("#login-error")))
    )


def login_error(app: ChatApp) -> str:
    """What the login screen's error line says; "" until that screen is mounted."""
    return widget_text(app.screen.query_one("#login-error")) if on_login_screen(app) else ""


def screen_text(app: ChatApp) -> str:
    """The history pane's visible lines, as the user reads them."""
    return "\n".join(app.chat.history.visible_text())


async def token_for(server: ChatServerUnderTest, nick: str, password: str = "secret-pw") -> str:
    """Create ``nick`` on the server (or log in) and return a session token."""
    async with server.login(nick, password) as client:
        return client.token


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await asyncio.sleep(0)


async def seed(server: ChatServerUnderTest, nick: str, room: str, bodies: list[str]) -> list[int]:
    """Post ``bodies`` to ``room`` as ``nick`` (pipelined), returning their seqs."""
    async with server.login(nick) as client:
        await client.join(room)
        for number, body in enumerate(bodies):
            await client.send(
                {"type": "send", "room": room, "body": body, "id": f"seed-{number}-{len(bodies)}"}
            )
        seqs = []
        for _ in bodies:
            ack = await client.recv_type("ack", "error")
            assert ack["type"] == "ack", ack
            seqs.append(ack["seq"])
        return seqs


@pytest.fixture
async def fast_server(make_server: Callable[..., Any]) -> ChatServerUnderTest:
    """A server without the send rate limit, for seeding long histories quickly."""
    result: ChatServerUnderTest = await make_server(rate_per_second=100000.0, rate_burst=100000)
    return result


async def enter(pilot: Pilot[Any], app: ChatApp, line: str) -> None:
    """Put ``line`` in the composer and press Enter (pressing each key is slow under load)."""
    app.chat.composer.value = line
    await pilot.press("enter")
