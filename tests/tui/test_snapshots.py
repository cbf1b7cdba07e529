"""Deliberate snapshots of the main screen (pytest-textual-snapshot), fixed clock and data.

``snap_compare`` runs the app in its own event loop, so the server here runs in a thread
with its own loop; its clock is fixed (one minute per stored batch from 09:00 UTC) so the
time stamps on screen are the same on every run. Update with ``--snapshot-update`` after
looking at the new SVG.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from chat_server.config import Settings
from chat_server.protocol import format_ts
from chat_server.server import Running, start
from chat_tui.tui.app import ChatApp, create_app
from chat_tui.tui.screens.login import LoginScreen
from tests.conftest import ChatServerUnderTest
from tests.limits import lenient_login_settings

T = TypeVar("T")
SnapCompare = Callable[..., bool]


class ThreadServer:
    """A real chat-server on port 0, running in a thread's own event loop."""

    def __init__(self, db: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        settings = Settings(host="127.0.0.1", port=0, db_path=db, **lenient_login_settings())
        self.running: Running = self.call(start(settings))
        self.under_test = ChatServerUnderTest(self.running, settings)
        self.url = self.running.url

    def call(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)  # type: ignore[arg-type]

    def wait_idle(self) -> None:
        """Until the seeding connections are gone (the same "online" count each run)."""

        async def everyone_gone() -> None:
            for _ in range(1000):
                if not self.running.ctx.health()["connections"]:
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("the seeding connections did not close")

        self.call(everyone_gone())

    def stop(self) -> None:
        self.call(self.running.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages stored one minute apart from 2026-11-26 09:00 UTC."""
    start_at = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    ticks = iter(range(100000))

    def clock() -> str:
        return format_ts(start_at + timedelta(minutes=next(ticks)))

    # The writer's batches (accounts, joins, messages) tick the clock; the rest of the store
    # (the tokens it records) reads a fixed time, so a login more or less moves no message.
    monkeypatch.setattr("chat_server.store.sqlite.accounts.now_ts", lambda: format_ts(start_at))
    monkeypatch.setattr("chat_server.store.sqlite.batch.now_ts", clock)


@pytest.fixture
def chat_world(tmp_path: Path, fixed_clock: None) -> Iterator[tuple[str, str]]:
    """A server with alice, bob and carol talking in #general, #random and a DM."""
    server = ThreadServer(tmp_path / "snap.db")

    async def converse() -> str:
        s = server.under_test
        async with s.login("alice") as alice, s.login("bob") as bob, s.login("carol") as carol:
            for client in (alice, bob, carol):
                await client.join("general")
            await alice.join("random")
            await bob.join("random")
            await alice.say("general", "morning! the deploy is at 11", "a1")
            await bob.say("general", "ok, I'll watch the dashboards", "b1")
            await carol.say("general", "/me brings coffee", "c1")
            await bob.say("general", "alice: can you check [bold red]this[/] first?", "b2")
            await carol.say(
                "general",
                "a long one: the migration renames the column, backfills it in batches of "
                "ten thousand rows and only then drops the old index, so expect some load",
                "c2",
            )
            await bob.say("general", "漢字 and emoji 🎉 line up", "b3")
            await bob.say("random", "anyone for lunch?", "b4")
            ack = await bob.request(
                {"type": "send", "to": "alice", "body": "psst", "id": "b5"}, "ack"
            )
            assert ack["type"] == "ack", ack
            return alice.token

    token = server.call(converse())
    server.wait_idle()  # bob and carol are offline before alice looks
    try:
        yield server.url, token
    finally:
        server.stop()


async def ready(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, ChatApp)
    for _ in range(500):
        if app.ready:
            break
        await pilot.pause(0.02)
    app.chat.composer.cursor_blink = False
    await pilot.pause()


@pytest.mark.slow
def test_main_screen_80x24(snap_compare: SnapCompare, chat_world: tuple[str, str]) -> None:
    url, token = chat_world
    app = create_app(url, token=token, rooms=["general"])
    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)


@pytest.mark.slow
def test_main_screen_120x40(snap_compare: SnapCompare, chat_world: tuple[str, str]) -> None:
    url, token = chat_world
    app = create_app(url, token=token, rooms=["general"])
    assert snap_compare(app, terminal_size=(120, 40), run_before=ready)


def test_login_screen(snap_compare: SnapCompare) -> None:
    """No token for this server: the login screen, before any connection is made."""

    async def wait_login(pilot: Pilot[Any]) -> None:
        for _ in range(500):
            if isinstance(pilot.app.screen, LoginScreen):
                break
            await pilot.pause(0.02)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    app = create_app("ws://chat.example.test:8765/ws", nick="dave")
    assert snap_compare(app, terminal_size=(80, 24), run_before=wait_login)
