"""Deliberate snapshots of rooms with owners: the member list's ``~``/``@`` marks, the topic
and the lock in the title, notices in the history, a pending invitation (listed, then
asked), and a room greyed out after a kick. Fixed clock and data, as in test_snapshots.py;
update with ``--snapshot-update`` after looking at the new SVG.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from chat_tui.tui.app import ChatApp, create_app
from tests.support.raw import Client
from tests.tui.test_room_admin import acked, say
from tests.tui.test_snapshots import SnapCompare, ThreadServer, fixed_clock, ready

__all__ = ["fixed_clock"]  # the fixture, used by name


@pytest.fixture
def fixed_rooms_clock(fixed_clock: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notices are stored on the same fixed clock as the messages, and the lines only this
    client shows (``you were removed…``) are stamped 09:30."""
    from chat_server.store.sqlite import batch

    clock = vars(batch)["now_ts"]  # fixed_clock's, patched into the batch module
    monkeypatch.setattr("chat_server.store.sqlite.rooms.now_ts", clock)
    monkeypatch.setattr("chat_server.store.sqlite.changes.now_ts", clock)
    monkeypatch.setattr("chat_tui.tui.timeline._now", lambda: "2026-11-26T09:30:00.000Z")


class World:
    """#ops, alice's private room, where bob is an op and carol was removed; dave is
    invited to it."""

    def __init__(self, tmp_path: Path) -> None:
        self.server = ThreadServer(tmp_path / "snap.db")
        self.tokens: dict[str, str] = {}

    def build(self) -> None:
        async def converse() -> None:
            s = self.server.under_test
            async with (
                s.login("alice") as alice,
                s.login("bob") as bob,
                s.login("carol") as carol,
                s.login("dave") as dave,
            ):
                for client in (alice, bob, carol, dave):
                    self.tokens[client.nick] = client.token
                await acked(
                    alice,
                    {"type": "create", "room": "ops", "private": True, "id": "c1",
                     "topic": "deploys and incidents; runbook in the wiki"},
                )  # fmt: skip
                await self.join(alice, bob, "ops")
                await self.join(alice, carol, "ops")
                await acked(alice, {"type": "role", "room": "ops", "nick": "bob", "role": "op",
                                    "id": "r1"})  # fmt: skip
                await say(alice, "ops", "the deploy is at 11, the migration first", "a1")
                await say(bob, "ops", "I'll watch the dashboards", "b1")
                await say(carol, "ops", "BUY CHEAP WATCHES at [link]", "s1")
                await acked(alice, {"type": "topic", "room": "ops", "id": "t1",
                                    "topic": "deploy at 11: migration first"})  # fmt: skip
                await acked(alice, {"type": "invite", "room": "ops", "nick": "dave", "id": "i9"})

        self.server.call(converse())
        self.server.wait_idle()

    async def join(self, owner: Client, client: Client, room: str) -> None:
        await acked(owner, {"type": "invite", "room": room, "nick": client.nick,
                            "id": f"i-{client.nick}"})  # fmt: skip
        await client.send({"type": "join", "room": room})
        for _ in range(50):
            if (await client.recv())["type"] == "history":
                return
        raise AssertionError("no history after the join")

    async def on_server(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` on the server's loop from the app's."""
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.server.loop))


@pytest.fixture
def rooms_world(tmp_path: Path, fixed_rooms_clock: None) -> Iterator[World]:
    world = World(tmp_path)
    world.build()
    try:
        yield world
    finally:
        world.server.stop()


def until_shown(text: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Wait for the room, then for ``text`` in its history."""

    async def run(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        app = pilot.app
        assert isinstance(app, ChatApp)
        for _ in range(500):
            if text in "\n".join(app.chat.history.all_text()):
                break
            await pilot.pause(0.02)
        await pilot.pause()

    return run


@pytest.mark.slow
@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_an_owned_room(
    snap_compare: SnapCompare, rooms_world: World, size: tuple[int, int]
) -> None:
    """Marks in the member list (120 columns), the lock and the topic in the title, the
    notices of the room's log as dim lines among the messages."""
    app = create_app(rooms_world.server.url, token=rooms_world.tokens["alice"], rooms=["ops"])
    shown = "alice set the topic: deploy at 11"
    assert snap_compare(app, terminal_size=size, run_before=until_shown(shown))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "keys"), [("listed", ()), ("asked", ("enter",))])
def test_a_pending_invitation(
    snap_compare: SnapCompare, rooms_world: World, name: str, keys: tuple[str, ...]
) -> None:
    """dave is invited to #ops: listed under the rooms, and Enter on it asks."""
    url, token = rooms_world.server.url, rooms_world.tokens["dave"]
    app = create_app(url, token=token, rooms=["general"])

    async def run(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        assert isinstance(pilot.app, ChatApp)
        rooms = pilot.app.chat.rooms
        for _ in range(500):
            if rooms.invites:
                break
            await pilot.pause(0.02)
        if keys:
            rooms.focus()
            rooms.highlighted = rooms.option_count - 1
            await pilot.press(*keys)
            for _ in range(50):
                if pilot.app.screen is not pilot.app.chat:
                    break
                await pilot.pause(0.02)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run)


@pytest.mark.slow
def test_a_kicked_room_greys_out(snap_compare: SnapCompare, rooms_world: World) -> None:
    """carol is removed while she looks: the room greys out in the list, the title says
    who removed her and why, and so does a line in the room."""
    world = rooms_world
    app = create_app(world.server.url, token=world.tokens["carol"], rooms=["ops"])

    async def kick() -> None:
        async with world.server.under_test.resume(world.tokens["alice"]) as alice:
            await acked(alice, {"type": "kick", "room": "ops", "nick": "carol", "id": "k1",
                                "reason": "spam, and not the first time"})  # fmt: skip

    async def run(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        assert isinstance(pilot.app, ChatApp)
        await world.on_server(kick())
        info = pilot.app.chat.rooms.rooms["ops"]
        for _ in range(500):
            if info.removed is not None:
                break
            await pilot.pause(0.02)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 30), run_before=run)
