"""The client library meets protocol 2's change entries (edit, delete) from a real server:
it keeps each room's order across them and shows none of them as a message, live, in a
catch-up or in a join's backlog (the clients apply changes in a later slice)."""

from __future__ import annotations

import json

from websockets.asyncio.client import connect

from chat_server import protocol as p
from chat_tui.client.rooms import change_record
from tests.client.conftest import RestartableServer
from tests.client.test_client import Watcher


async def changes(server: RestartableServer, token: str, room: str) -> None:
    """Alice, on a bare websocket: a message, its edit, another, its delete, a third."""
    frames = [
        {"type": "send", "room": room, "body": "helo", "id": "m1"},
        {"type": "edit", "room": room, "target": 1, "body": "hello", "id": "e1"},
        {"type": "send", "room": room, "body": "second", "id": "m2"},
        {"type": "delete", "room": room, "target": 1, "id": "d1", "reason": "typo"},
        {"type": "send", "room": room, "body": "third", "id": "m3"},
    ]
    async with connect(server.url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        await ws.send(json.dumps({"type": "join", "room": room}))
        for frame in frames:  # one at a time: each change needs its target stored
            await ws.send(json.dumps(frame))
            while (reply := json.loads(await ws.recv()))["type"] != "ack":
                assert reply["type"] != "error", reply


async def test_live_changes_keep_the_order_and_are_not_shown_as_messages(
    chat: RestartableServer,
) -> None:
    alice = await chat.account("alice")
    async with chat.client(await chat.account("bob")) as bob:
        watcher = Watcher(bob)
        await bob.join("general")
        await changes(chat, alice, "general")
        assert await watcher.messages_up_to("general", 5) == [1, 3, 5]
        assert all(m.kind is None for m in watcher.messages("general"))
    async with chat.client(await chat.account("carol")) as carol:
        joined = await carol.join("general", since=0)
        assert [(m.seq, m.body, m.deleted) for m in joined.messages] == [
            (1, "", True),
            (3, "second", False),
            (5, "third", False),
        ]
        page = await carol.history("general")  # the raw page keeps the change entries
        assert [m.kind for m in page.messages] == [None, "edit", None, "delete", None]


def test_a_live_change_is_the_entry_history_lists() -> None:
    edit = p.EditEvent(room="a", seq=2, nick="alice", ts="t", id="e1", target=1, body="hi")
    assert change_record(edit) == p.MessageRecord(
        "a", 2, "alice", "hi", "t", "e1", kind="edit", target=1
    )
    delete = p.DeleteEvent(room="a", seq=3, nick="alice", ts="t", id="d1", target=1, reason="x")
    assert change_record(delete) == p.MessageRecord(
        "a", 3, "alice", "", "t", "d1", kind="delete", target=1, reason="x"
    )
