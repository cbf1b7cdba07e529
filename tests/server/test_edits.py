"""Edits and deletes on a real server over each store: what the author, the room and a
member who was offline each see, live, in pages, in search, and (SQLite) on disk."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chat_server.store import SQLiteStore
from tests.conftest import ChatServerUnderTest, Client, ServerFactory
from tests.server.each_store import STORES, on_store

Frame = dict[str, Any]
SECRET = "hunter2zqxj"


@pytest.fixture(params=STORES)
async def server(
    request: pytest.FixtureRequest, make_server: ServerFactory
) -> AsyncIterator[ChatServerUnderTest]:
    async with on_store(request, make_server) as running:
        yield running


async def ask(client: Client, frame: Frame, *types: str) -> Frame:
    """A request's direct answer (matched by its ref), skipping events that came first."""
    frame = {**frame, "ref": frame.get("ref", "r")}
    await client.send(frame)
    while True:
        reply = await client.recv()
        if reply.get("ref") == frame["ref"] and reply["type"] in (*types, "error"):
            return reply


async def edit(client: Client, room: str, target: int, body: str, key: str) -> Frame:
    frame = {"type": "edit", "room": room, "target": target, "body": body, "id": key}
    return await ask(client, frame, "ack")


async def delete(client: Client, room: str, target: int, key: str, **extra: Any) -> Frame:
    frame = {"type": "delete", "room": room, "target": target, "id": key, **extra}
    return await ask(client, frame, "ack")


async def page(client: Client, room: str, **params: Any) -> list[Frame]:
    reply = await ask(client, {"type": "history", "room": room, **params}, "history")
    messages: list[Frame] = reply["messages"]
    return messages


async def test_an_edit_reaches_the_room_live_and_in_pages(server: ChatServerUnderTest) -> None:
    async with server.login("alice") as alice, server.login("bob") as bob:
        await alice.join("general")
        await bob.join("general")
        await alice.say("general", "helo bob", "m1")
        await bob.recv_type("message")
        ack = await edit(alice, "general", 1, "hello \x1b[2Jbob", "e1")
        assert (ack["type"], ack["seq"], ack["id"]) == ("ack", 2, "e1")
        live = await bob.recv_type("edit")
        assert live == {
            "type": "edit", "room": "general", "seq": 2, "nick": "alice", "ts": ack["ts"],
            "id": "e1", "target": 1, "body": "hello bob",
        }  # fmt: skip
        message, entry = await page(bob, "general")
        assert (message["body"], message["edited"], message["version"]) == (
            "hello bob", ack["ts"], 2,
        )  # fmt: skip
        assert "kind" not in message and "deleted" not in message
        assert (entry["kind"], entry["target"], entry["body"]) == ("edit", 1, "hello bob")
        # the same id again: the first ack, and nothing new for the room
        again = await edit(alice, "general", 1, "something else", "e1")
        assert {k: again[k] for k in ("seq", "ts", "id")} == {
            k: ack[k] for k in ("seq", "ts", "id")
        }
        await alice.say("general", "next", "m2")
        assert (await bob.recv_type("message", "edit"))["seq"] == 3
        [hit] = (await ask(bob, {"type": "search", "q": "hello"}, "results"))["messages"]
        assert (hit["seq"], hit["body"], hit["version"]) == (1, "hello bob", 2)


async def test_someone_elses_message_is_forbidden_and_a_missing_one_not_found(
    server: ChatServerUnderTest,
) -> None:
    async with server.login("alice") as alice, server.login("mallory") as mallory:
        await alice.join("general")
        await mallory.join("general")
        await alice.say("general", "mine", "m1")
        refused = await edit(mallory, "general", 1, "pwned", "x1")
        assert (refused["type"], refused["code"], refused["ref"]) == ("error", "forbidden", "r")
        assert (await delete(mallory, "general", 1, "x2"))["code"] == "forbidden"
        assert (await edit(alice, "general", 7, "nothing", "a1"))["code"] == "not_found"
        await edit(alice, "general", 1, "mine, fixed", "a2")
        assert (await edit(alice, "general", 2, "an edit", "a3"))["code"] == "not_found"
        async with server.login("outsider") as outsider:
            assert (await edit(outsider, "general", 1, "x", "o1"))["code"] == "not_member"
            assert (await edit(outsider, "nowhere", 1, "x", "o2"))["code"] == "not_member"
        [message, _] = await page(alice, "general")
        assert message["body"] == "mine, fixed"


async def test_a_delete_made_while_offline_arrives_on_join_since_and_erases(
    server: ChatServerUnderTest,
) -> None:
    async with server.login("bob") as bob:
        await bob.join("general")
        bob_token = bob.token
    async with server.login("alice") as alice:
        await alice.join("general")
        await alice.say("general", f"my password is {SECRET}", "m1")
        await alice.say("general", "after", "m2")
        await ask(alice, {"type": "search", "q": "password"}, "results")  # indexed now
        await edit(alice, "general", 1, f"pw {SECRET}, oops", "e1")
        gone = await delete(alice, "general", 1, "d1", reason="pasted a secret")
        assert gone["seq"] == 4
        # a second delete answers with the first one's seq and ts, under its own id
        again = await delete(alice, "general", 1, "d2")
        assert (again["id"], again["seq"], again["ts"]) == ("d2", 4, gone["ts"])
    async with server.resume(bob_token) as bob:
        _, history = await bob.join("general", since=0)
        entries = history["messages"]
        assert [(e["seq"], e.get("kind", "message")) for e in entries] == [
            (1, "message"), (2, "message"), (3, "edit"), (4, "delete"),
        ]  # fmt: skip
        message, _, edited, deleted = entries
        assert (message["body"], message["deleted"], message["version"]) == ("", True, 4)
        assert (edited["body"], edited["deleted"]) == ("", True)
        assert (deleted["target"], deleted["reason"]) == (1, "pasted a secret")
        assert SECRET not in str(entries) + str(await page(bob, "general", after=2))
        for q in (SECRET, "password"):
            assert (await ask(bob, {"type": "search", "q": q}, "results"))["messages"] == []
    store = server.running.ctx.store
    if isinstance(store, SQLiteStore):
        for _ in range(100):
            if not store._cache.purge:
                break
            await asyncio.sleep(0.05)
        path = server.settings.db_path
        db = sqlite3.connect(path)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        for file in (path, path.with_name(path.name + "-wal")):
            assert SECRET.encode() not in file.read_bytes()


async def test_a_live_delete_and_protocol_1_pages_of_unchanged_rooms(
    server: ChatServerUnderTest,
) -> None:
    async with server.login("alice") as alice, server.login("bob") as bob:
        await alice.join("general")
        await bob.join("general")
        await alice.say("general", "plain", "m1")
        await bob.recv_type("message")
        [plain] = await page(bob, "general")
        assert set(plain) == {"room", "seq", "nick", "body", "ts", "id"}  # as in protocol 1
        ack = await delete(alice, "general", 1, "d1")
        live = await bob.recv_type("delete")
        assert live == {
            "type": "delete", "room": "general", "seq": 2, "nick": "alice", "ts": ack["ts"],
            "id": "d1", "target": 1,
        }  # fmt: skip
        async with server.client() as again:
            await again.send({"type": "hello", "token": bob.token})
            welcome = await again.recv_type("welcome")
        [state] = welcome["rooms"]
        assert (state["last_seq"], state["unread"]) == (2, 1)  # changes are not unread


async def test_edits_and_deletes_spend_the_send_budget(make_server: ServerFactory) -> None:
    server = await make_server(rate_per_second=0.01, rate_burst=3)
    async with server.login("alice") as alice:
        await alice.join("general")
        await alice.say("general", "one", "m1")
        assert (await edit(alice, "general", 1, "two", "e1"))["type"] == "ack"
        assert (await delete(alice, "general", 1, "d1"))["type"] == "ack"
        refused = await edit(alice, "general", 1, "four", "e2")
        assert (refused["code"], refused["retry_after"] > 0) == ("rate_limited", True)
        refused = await delete(alice, "general", 1, "d2")
        assert refused["code"] == "rate_limited"


async def test_a_block_stops_edits_in_a_direct_conversation_but_not_deletes(
    server: ChatServerUnderTest,
) -> None:
    async with server.login("alice") as alice, server.login("bob") as bob:
        ack = await ask(alice, {"type": "send", "to": "bob", "body": "hi", "id": "m1"}, "ack")
        room = ack["room"]
        await ask(bob, {"type": "block", "nick": "alice"}, "blocked")
        refused = await edit(alice, room, 1, "hi again", "e1")
        assert (refused["type"], refused["code"]) == ("error", "forbidden")
        assert (await delete(alice, room, 1, "d1"))["type"] == "ack"
