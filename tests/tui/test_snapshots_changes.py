"""Deliberate snapshots of messages that change (protocol 2): a room with edits, a delete,
replies and reactions; a selected message; the reply and edit modes; the delete question;
the reaction picker; the thread pane beside the room and over it. Fixed clock and data, as
in test_snapshots.py; update with ``--snapshot-update`` after looking at the new SVG.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from chat_tui.tui.app import ChatApp, create_app
from tests.support.raw import Client
from tests.tui.test_snapshots import SnapCompare, ThreadServer, fixed_clock, ready

__all__ = ["fixed_clock"]  # the fixture, used by name


@pytest.fixture
def fixed_changes_clock(fixed_clock: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replies, edits, deletes and reactions are stored on the same fixed clock as the
    messages (each entry of a batch one minute after the one before)."""
    from chat_server.store.sqlite import batch

    clock = vars(batch)["now_ts"]  # fixed_clock's, patched into the batch module
    monkeypatch.setattr("chat_server.store.sqlite.changes.now_ts", clock)
    monkeypatch.setattr("chat_server.store.sqlite.answers.now_ts", clock)
    monkeypatch.setattr("chat_server.store.sqlite.change_runs.now_ts", clock)


async def acked(client: Client, frame: dict[str, Any]) -> int:
    ack = await client.request(frame, "ack")
    assert ack["type"] == "ack", ack
    seq: int = ack["seq"]
    return seq


@pytest.fixture
def changed_world(tmp_path: Path, fixed_changes_clock: None) -> Iterator[tuple[str, str]]:
    """#general where messages were answered, fixed, taken back and reacted to."""
    server = ThreadServer(tmp_path / "snap.db")

    async def converse() -> str:
        s = server.under_test
        async with s.login("alice") as alice, s.login("bob") as bob, s.login("carol") as carol:
            for client in (alice, bob, carol):
                await client.join("general")
            plan = await acked(
                alice,
                {
                    "type": "send",
                    "room": "general",
                    "id": "a1",
                    "body": "the deploy is at 11, the migration first",
                },
            )
            oops = await acked(
                bob, {"type": "send", "room": "general", "id": "b1", "body": "db password: hunter2"}
            )
            await acked(
                carol,
                {
                    "type": "send",
                    "room": "general",
                    "id": "c1",
                    "reply_to": plan,
                    "body": "which migration? the [bold]column[/] rename?",
                },
            )
            answer = await acked(
                alice,
                {
                    "type": "send",
                    "room": "general",
                    "id": "a2",
                    "reply_to": plan,
                    "body": "yes, the rename: it backfills in batches",
                },
            )
            await acked(
                alice,
                {
                    "type": "edit",
                    "room": "general",
                    "target": answer,
                    "id": "a3",
                    "body": "yes, the rename: it backfills in batches of 10k rows",
                },
            )
            await acked(
                carol,
                {
                    "type": "send",
                    "room": "general",
                    "id": "c2",
                    "reply_to": oops,
                    "body": "you may want to rotate that",
                },
            )
            await acked(bob, {"type": "delete", "room": "general", "target": oops, "id": "b2"})
            for client, emoji, number in ((bob, "👍", 1), (carol, "👍", 2), (alice, "🎉", 3)):
                await acked(
                    client,
                    {
                        "type": "react",
                        "room": "general",
                        "target": plan,
                        "emoji": emoji,
                        "id": f"r{number}",
                    },
                )
            await acked(
                bob,
                {"type": "react", "room": "general", "target": answer, "emoji": "❤️", "id": "r4"},
            )
            return alice.token

    token = server.call(converse())
    server.wait_idle()
    try:
        yield server.url, token
    finally:
        server.stop()


def then(*keys: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Wait for the room (and its quotes), then press ``keys``."""

    async def run(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        app = pilot.app
        assert isinstance(app, ChatApp)
        for _ in range(500):
            if "↳ alice: the deploy" in "\n".join(app.chat.history.all_text()):
                break
            await pilot.pause(0.02)
        await pilot.press(*keys)
        for _ in range(50):  # a thread to load, a modal to mount
            pane = app.chat.thread
            if pane.root is None or len(pane.history.timeline("general").messages) > 1:
                break
            await pilot.pause(0.02)
        await pilot.pause()

    return run


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "size", "keys"),
    [
        ("room", (120, 40), ()),
        ("room", (80, 24), ()),
        ("selected", (80, 24), ("ctrl+up", "ctrl+up")),
        ("reply", (80, 24), ("ctrl+up", "ctrl+up", "r")),
        ("edit", (80, 24), ("up",)),
        ("delete", (80, 24), ("ctrl+up", "ctrl+up", "d")),
        ("react", (80, 24), ("ctrl+up", "ctrl+up", "plus")),
        ("thread", (120, 40), ("ctrl+up", "ctrl+up", "t")),
        ("thread", (80, 24), ("ctrl+up", "ctrl+up", "t")),
    ],
)
def test_changes(
    snap_compare: SnapCompare,
    changed_world: tuple[str, str],
    name: str,
    size: tuple[int, int],
    keys: tuple[str, ...],
) -> None:
    url, token = changed_world
    app = create_app(url, token=token, rooms=["general"])
    assert snap_compare(app, terminal_size=size, run_before=then(*keys))
