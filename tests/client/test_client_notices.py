"""The client library meets protocol 2's room notices from a real server: a notice takes a
seq of the room's log, so a client that does not show notices yet must still keep the room's
order across them, live and in a join's backlog, and never take one for a message."""

from __future__ import annotations

import json

from websockets.asyncio.client import connect

from tests.client.conftest import RestartableServer
from tests.client.test_client import Watcher


async def commands(server: RestartableServer, token: str, room: str) -> None:
    """Alice, on a bare websocket: a room of hers, its topic, a message, a new topic, another."""
    frames = [
        {"type": "create", "room": room, "topic": "first", "id": "c1"},
        {"type": "send", "room": room, "body": "one", "id": "m1"},
        {"type": "topic", "room": room, "topic": "second", "id": "t1"},
        {"type": "send", "room": room, "body": "two", "id": "m2"},
    ]
    async with connect(server.url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        for frame in frames:
            await ws.send(json.dumps(frame))
            while (reply := json.loads(await ws.recv()))["type"] != "ack":
                assert reply["type"] != "error", reply


async def test_notices_keep_the_order_and_are_not_shown_as_messages(
    chat: RestartableServer,
) -> None:
    alice = await chat.account("alice")
    async with chat.client(await chat.account("bob")) as bob:
        await commands(chat, alice, "ops")
        joined = await bob.join("ops")
        assert [(m.seq, m.body) for m in joined.messages if m.kind is None] == [
            (2, "one"), (4, "two"),
        ]  # fmt: skip
        assert all(m.kind is None for m in joined.messages)  # (what it shows of a join)
        watcher = Watcher(bob)
        async with connect(chat.url) as ws:  # a new topic, then a message: seqs 5 and 6
            await ws.send(json.dumps({"type": "hello", "token": alice}))
            assert json.loads(await ws.recv())["type"] == "welcome"
            for frame in (
                {"type": "topic", "room": "ops", "topic": "third", "id": "t2"},
                {"type": "send", "room": "ops", "body": "three", "id": "m3"},
            ):
                await ws.send(json.dumps(frame))
                while (reply := json.loads(await ws.recv()))["type"] != "ack":
                    assert reply["type"] != "error", reply
        assert await watcher.messages_up_to("ops", 6) == [6]
        assert all(m.kind is None for m in watcher.messages("ops"))
        page = await bob.history("ops")
        notices = [(m.seq, m.event, m.topic) for m in page.messages if m.kind == "notice"]
        assert notices == [(1, "create", "first"), (3, "topic", "second"), (5, "topic", "third")]
        assert [m.seq for m in page.messages if m.kind is None] == [2, 4, 6]
