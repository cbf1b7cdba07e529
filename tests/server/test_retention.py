"""Retention on a real server over each store: the pruning task erases what expired, and
a client resuming from below the room's floor is told where the floor is."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import ChatServerUnderTest, Client, ServerFactory
from tests.server.each_store import STORES, on_store

Frame = dict[str, Any]


@pytest.fixture(params=STORES)
async def server(
    request: pytest.FixtureRequest, make_server: ServerFactory
) -> AsyncIterator[ChatServerUnderTest]:
    # entries expire a second after they are made; the task looks ten times a second
    async with on_store(
        request, make_server, retention=1.0, retention_interval=0.1, retention_pause=0.0
    ) as running:
        yield running


async def ask(client: Client, frame: Frame, *types: str) -> Frame:
    """A request's direct answer (matched by its ref), skipping events that came first."""
    frame = {**frame, "ref": frame.get("ref", "r")}
    await client.send(frame)
    while True:
        reply = await client.recv()
        if reply.get("ref") == frame["ref"] and reply["type"] in (*types, "error"):
            return reply


async def floor_reaches(client: Client, room: str, floor: int) -> Frame:
    """The room's history once its floor is ``floor`` (the task runs on its own clock)."""
    for _ in range(100):
        reply = await ask(client, {"type": "history", "room": room}, "history")
        if reply.get("floor", 1) >= floor:
            return reply
        await asyncio.sleep(0.1)
    raise AssertionError(f"the floor of {room} never reached {floor}")


async def test_expired_messages_vanish_and_a_resume_from_below_sees_the_floor(
    server: ChatServerUnderTest,
) -> None:
    async with server.login("alice") as alice, server.login("bob") as bob:
        joined, _ = await alice.join("general")
        assert joined["retention_s"] == 1 and "floor" not in joined
        await bob.join("general")
        store = server.running.store
        assert await store.set_retention("general", 0)  # kept forever for now
        for n in range(3):
            await alice.say("general", f"ancient words {n}", f"m{n}")
        found = await ask(alice, {"type": "search", "q": "ancient"}, "results")
        assert len(found["messages"]) == 3
        assert await store.set_retention("general", None)  # the server's second, from now

        pruned = await floor_reaches(alice, "general", 4)
        assert (pruned["messages"], pruned["floor"]) == ([], 4)
        found = await ask(alice, {"type": "search", "q": "ancient"}, "results")
        assert found["messages"] == []
        # the room keeps what follows for an hour (``chat-server rooms retention``)
        assert await store.set_retention("general", 3600)
        await alice.say("general", "fresh words", "m3")
        bob_token = bob.token

    async with server.resume(bob_token) as bob:
        # bob saw up to seq 1 before: entries 2 and 3 are gone, and the floor says so
        joined, history = await bob.join("general", since=1)
        assert (joined["floor"], joined["retention_s"], joined["last_seq"]) == (4, 3600, 4)
        assert history["floor"] == 4
        assert [(m["seq"], m["body"]) for m in history["messages"]] == [(4, "fresh words")]
        older = await ask(bob, {"type": "history", "room": "general", "before": 4}, "history")
        assert (older["messages"], older["more"], older["floor"]) == ([], False, 4)
