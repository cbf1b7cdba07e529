"""What a search may cost, tried as an abuser would on a real server: a search that runs past
``--search-timeout`` is stopped (``too_large``), a user has one search under way at a time,
and a bystander's searches are answered meanwhile. Outcomes only, never timings."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from chat_server.server_frames import SearchHit
from tests.conftest import Client, ServerFactory


async def fill(writer: Client, room: str, count: int) -> None:
    """``count`` messages "needle N" from ``writer`` in ``room``, pipelined 500 at a time."""
    for first in range(0, count, 500):
        batch = range(first, min(first + 500, count))
        for i in batch:
            body = f"needle {i}"
            await writer.send({"type": "send", "room": room, "body": body, "id": f"n{i}"})
        for _ in batch:
            await writer.recv_type("ack")


async def search(client: Client, q: str, ref: str, **fields: Any) -> dict[str, Any]:
    return await client.request({"type": "search", "q": q, "ref": ref, **fields}, "results")


async def test_a_search_past_the_timeout_is_refused_and_bystanders_still_find(
    make_server: ServerFactory,
) -> None:
    """mallory's only "needle" lies below 2,000 of alice's: her search walks through them
    all and is stopped (a timeout of 0 stops any query at SQLite's first look at the clock,
    a few thousand steps in). bob's small searches are answered meanwhile, and so is
    mallory's own next one that names her room."""
    server = await make_server(search_timeout=0.0, rate_per_second=10_000.0, rate_burst=10_000)
    async with (
        server.login("alice") as alice,
        server.login("mallory") as mallory,
        server.login("bob") as bob,
    ):
        await alice.join("archive")
        await mallory.join("den")
        await mallory.say("den", "needle in the den", "m1")
        await fill(alice, "archive", 2000)
        await mallory.say("den", "the den again", "m2")
        await bob.join("archive")
        await bob.say("archive", "did I miss anything?", "b1")

        refused = await search(mallory, "needle", "broad")
        assert refused["type"] == "error" and refused["code"] == "too_large", refused
        assert "add a word" in refused["message"]
        found = await search(bob, "anything", "bystander")
        assert [(m["room"], m["body"]) for m in found["messages"]] == [
            ("archive", "did I miss anything?")
        ]
        narrow = await search(mallory, "again", "narrow", room="den")
        assert [m["body"] for m in narrow["messages"]] == ["the den again"]
        assert (await mallory.say("den", "still here", "m3"))["type"] == "ack"


async def test_a_user_has_one_search_under_way_at_a_time(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one of mallory's searches runs (held here, as a slow query would hold it), a
    second from her other connection is refused with ``retry_after``; bob's is answered;
    once hers returns she may search again."""
    server = await make_server()
    store = server.running.ctx.store
    real_search = store.search
    release, holding = asyncio.Event(), asyncio.Event()

    async def slow_for_mallory(
        user_id: int, words: Sequence[str], room_id: int | None, limit: int, **kw: float
    ) -> list[SearchHit]:
        if user_id == mallory_id:
            holding.set()
            await release.wait()
        hits: list[SearchHit] = await real_search(user_id, words, room_id, limit, **kw)
        return hits

    monkeypatch.setattr(store, "search", slow_for_mallory)
    async with server.login("mallory") as mallory, server.login("bob") as bob:
        mallory_user = await store.user_by_nick("mallory")
        assert mallory_user is not None
        mallory_id = mallory_user.id
        await mallory.join("general")
        await mallory.say("general", "a needle", "m1")
        await bob.join("general")
        async with server.resume(mallory.token) as other:
            await mallory.send({"type": "search", "q": "needle", "ref": "first"})
            await asyncio.wait_for(holding.wait(), 10)
            second = await search(other, "needle", "second")
            assert second["code"] == "rate_limited" and second["retry_after"] > 0, second
            assert "one search at a time" in second["message"]
            found = await search(bob, "needle", "bystander")
            assert [m["body"] for m in found["messages"]] == ["a needle"]
            release.set()
            first = await mallory.recv_type("results")
            assert (first["ref"], [m["body"] for m in first["messages"]]) == (
                "first",
                ["a needle"],
            )
            again = await search(other, "needle", "again")
            assert [m["body"] for m in again["messages"]] == ["a needle"]
