"""Limits whose unit is a user or a connection's reads, tried as an abuser would on a real
server: each test floods from one account and asserts what a bystander gets meanwhile (every
reply, all acks), besides the abuser being refused (``rate_limited`` with ``retry_after``, or
``too_large`` for the rooms cap). Floods are bounded in count; timings are never asserted,
only outcomes (the send bound is computed from the elapsed time, with a margin)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chat_server.session import MAX_PAUSE, TOLERATED_REFUSALS
from tests.conftest import ChatServerUnderTest, Client, ServerFactory

Frame = dict[str, Any]


@contextlib.asynccontextmanager
async def connections(
    server: ChatServerUnderTest, token: str, count: int
) -> AsyncIterator[list[Client]]:
    """``count`` more connections of the user whose token this is."""
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(server.resume(token)) for _ in range(count)]


async def replies(client: Client, refs: set[str], *types: str) -> dict[str, Frame]:
    """The reply (of ``types``, or an error) to each of ``refs``, whatever order they come in;
    the frames that complete a reply (a join's history) and live events are skipped."""
    got: dict[str, Frame] = {}
    while len(got) < len(refs):
        frame = await client.recv(timeout=20)
        ref = frame.get("ref")
        if ref in refs and ref not in got and frame["type"] in (*types, "error"):
            got[ref] = frame
    return got


def outcome(frames: dict[str, Frame]) -> tuple[list[Frame], list[Frame]]:
    """(served, refused) of a flood's replies; every refusal says when to come back."""
    refused = [f for f in frames.values() if f["type"] == "error"]
    for error in refused:
        assert error["code"] == "rate_limited", error
        assert error["retry_after"] > 0, error
    return [f for f in frames.values() if f["type"] != "error"], refused


# --- sends: one budget per user ---------------------------------------------------------------


async def test_a_users_connections_share_one_send_budget(make_server: ServerFactory) -> None:
    server = await make_server()
    rate, burst = server.settings.rate_per_second, server.settings.rate_burst
    async with server.login("mallory") as mallory, server.login("bob") as bob:
        await mallory.join("lobby")
        await bob.join("lobby")
        async with connections(server, mallory.token, 9) as more:
            flooders = [mallory, *more]
            for client in more:
                await client.join("lobby")

            async def flood(n: int, client: Client) -> dict[str, Frame]:
                refs = {f"s{n}-{i}" for i in range(20)}
                for ref in sorted(refs):  # 20 sends pipelined on each of 10 connections
                    await client.send(
                        {"type": "send", "room": "lobby", "body": "spam", "id": ref, "ref": ref}
                    )
                return await replies(client, refs, "ack")

            async def bystander() -> list[Frame]:
                return [await bob.say("lobby", f"still here {i}", f"b{i}") for i in range(10)]

            started = time.monotonic()
            floods, bobs = await asyncio.gather(
                asyncio.gather(*(flood(n, c) for n, c in enumerate(flooders))), bystander()
            )
            elapsed = time.monotonic() - started
    acked, refused = outcome({ref: f for frames in floods for ref, f in frames.items()})
    assert len(acked) + len(refused) == 200
    # one bucket for the user, not one per connection (which would let all 200 in)
    assert burst <= len(acked) <= burst + rate * elapsed + 2
    assert refused
    assert [ack["type"] for ack in bobs] == ["ack"] * 10  # bob's every send stored meanwhile


# --- rooms: created per hour, joined at most --------------------------------------------------


async def test_pipelined_joins_of_new_rooms_stop_at_the_creation_rate(
    make_server: ServerFactory,
) -> None:
    server = await make_server()
    per_hour = server.settings.room_create_rate
    async with server.login("mallory") as mallory:
        refs = {f"j{i:03d}" for i in range(3 * per_hour)}
        for ref in sorted(refs):  # new rooms, pipelined
            await mallory.send({"type": "join", "room": f"flood-{ref}", "ref": ref})
        joined, refused = outcome(await replies(mallory, refs, "joined"))
        assert len(joined) == per_hour and len(refused) == 2 * per_hour
        assert all(error["retry_after"] <= 3600 for error in refused)
        # another connection, or a reconnect, does not start a new hour
        async with server.resume(mallory.token) as again:
            error = await again.request({"type": "join", "room": "one-more", "ref": "x"}, "joined")
            assert (error["type"], error["code"]) == ("error", "rate_limited")
        # meanwhile bob and carol use the server as ever: login, join, send, list
        async with server.login("bob") as bob, server.login("carol") as carol:
            await bob.join("general")
            await carol.join("general")
            assert (await bob.say("general", "hello", "b1"))["seq"] == 1
            page = await bob.request({"type": "rooms", "limit": 10}, "rooms")
            assert len(page["rooms"]) == 10 and page["cursor"] is not None
            # the biggest room first, the flood's one-member rooms after it
            assert page["rooms"][0] == {"room": "general", "members": 2, "last_seq": 1}
            listed = await all_rooms(bob)
    assert sum(room["room"].startswith("flood-") for room in listed) == per_hour
    assert "one-more" not in {room["room"] for room in listed}


async def all_rooms(client: Client) -> list[Frame]:
    """Every public room along the cursors; each page checked against its limit."""
    listed: list[Frame] = []
    cursor = None
    while True:
        frame: Frame = {"type": "rooms", "limit": 7}
        if cursor is not None:
            frame["cursor"] = cursor
        page = await client.request(frame, "rooms")
        assert page["type"] == "rooms" and len(page["rooms"]) <= 7, page
        listed += page["rooms"]
        cursor = page["cursor"]
        if cursor is None:
            return listed


@pytest.mark.slow
async def test_room_lists_in_a_loop_and_pipelined_new_rooms_leave_a_bystander_served(
    make_server: ServerFactory,
) -> None:
    # the benchmark's rooms attack: 3 connections looping ``rooms``, one with 64 joins of new
    # rooms in flight, all of one account, with every limit at its default
    server = await make_server()
    settings = server.settings
    per_hour, read_burst = settings.room_create_rate, settings.read_burst
    async with server.login("alice") as alice:
        await alice.join("general")
        await alice.say("general", "welcome, all", "a1")
    bystander_done = asyncio.Event()
    async with server.login("mallory") as mallory, connections(server, mallory.token, 3) as loopers:

        async def list_rooms(n: int, client: Client) -> dict[str, Frame]:
            # until the bystander is through and the budget ran out, within a bound
            got: dict[str, Frame] = {}
            for i in range(4 * read_burst):
                if bystander_done.is_set() and any(f["type"] == "error" for f in got.values()):
                    break
                ref = f"l{n}-{i}"
                got[ref] = await client.request({"type": "rooms", "limit": 50, "ref": ref}, "rooms")
            return got

        async def create_rooms() -> dict[str, Frame]:
            refs = {f"j{i:02d}" for i in range(64)}
            for ref in sorted(refs):  # new rooms, pipelined
                await mallory.send({"type": "join", "room": f"flood-{ref}", "ref": ref})
            return await replies(mallory, refs, "joined")

        async def bystander() -> list[str]:
            seen = []
            try:
                async with server.login("newcomer") as newcomer:
                    seen.append("welcome")
                    joined, history = await newcomer.join("general")
                    seen += [joined["type"], history["type"]]
                    ack = await newcomer.say("general", "did I miss anything?", "n1")
                    seen.append(ack["type"])
                    page = await newcomer.request(
                        {"type": "history", "room": "general", "limit": 5}, "history"
                    )
                    seen.append(page["type"])
                    assert [m["body"] for m in page["messages"]] == [
                        "welcome, all",
                        "did I miss anything?",
                    ], page
                    listed = await newcomer.request({"type": "rooms", "limit": 5}, "rooms")
                    seen.append(listed["type"])
            finally:
                bystander_done.set()
            return seen

        lists, joins, seen = await asyncio.gather(
            asyncio.gather(*(list_rooms(n, c) for n, c in enumerate(loopers))),
            create_rooms(),
            bystander(),
        )
    assert seen == ["welcome", "joined", "history", "ack", "history", "rooms"]
    for frames in lists:
        served, refused = outcome(frames)
        assert len(served) >= read_burst and refused  # served its burst, then refused
        assert all(page["type"] == "rooms" for page in served)
    joined, refused = outcome(joins)
    assert len(joined) == per_hour and len(refused) == 64 - per_hour
    async with server.login("auditor") as auditor:
        listed = await all_rooms(auditor)
    flood = [room for room in listed if room["room"].startswith("flood-")]
    assert len(flood) == per_hour and all(room["members"] == 1 for room in flood)


async def test_a_user_in_as_many_rooms_as_allowed_leaves_one_to_join_another(
    make_server: ServerFactory,
) -> None:
    server = await make_server(max_rooms_per_user=3)
    async with server.login("bob") as bob, server.login("mallory") as mallory:
        for room in ("r1", "r2", "r3"):
            await bob.join(room)
        await bob.say("r1", "hi", "b1")
        for room in ("r1", "r2", "r3"):
            await mallory.join(room)
        refused = await mallory.request({"type": "join", "room": "r4", "ref": "j4"}, "joined")
        assert (refused["type"], refused["code"], refused["ref"]) == ("error", "too_large", "j4")
        assert "leave one" in refused["message"] and "retry_after" not in refused
        # a room she is in already is never refused: a reconnect re-joins them all
        joined, history = await mallory.join("r1", since=0)
        assert joined["last_seq"] == 1 and len(history["messages"]) == 1
        # a direct message to her still reaches her: the cap is on what she joins
        await bob.request(
            {"type": "send", "to": "mallory", "body": "psst", "id": "d1", "ref": "d1"}, "ack"
        )
        assert (await mallory.recv_type("message"))["body"] in ("psst",)
        left = await mallory.request({"type": "leave", "room": "r2"}, "left")
        assert left["type"] == "left"
        left = await mallory.request({"type": "leave", "room": "r3"}, "left")
        joined, _ = await mallory.join("r4")  # two left, one taken by the DM: room for one
        assert joined["room"] == "r4"


# --- reads: a budget per connection, and search apart ----------------------------------------


async def test_reads_over_the_budget_are_refused_and_read_nothing(
    make_server: ServerFactory,
) -> None:
    server = await make_server(read_burst=6, read_rate=0.01)
    async with server.login("alice") as alice:
        await alice.join("general")  # one read
        await alice.say("general", "hi", "a1")
        refs = [f"h{i}" for i in range(8)]
        for ref in refs:
            await alice.send({"type": "history", "room": "general", "ref": ref})
        got = await replies(alice, set(refs), "history")
        assert [got[ref]["type"] for ref in refs] == ["history"] * 5 + ["error"] * 3
        _, refused = outcome(got)
        assert all(error["retry_after"] > 10 for error in refused)  # 0.01 tokens a second
        for kind in ({"type": "rooms"}, {"type": "join", "room": "general"}):
            error = await alice.request({**kind, "ref": "more"}, "rooms", "joined")
            assert error["code"] == "rate_limited", error
        await alice.no_frame()  # nothing was read for the refused requests
        # the budget is the connection's: alice's other connection, and sends, are served
        async with server.resume(alice.token) as other:
            page = await other.request({"type": "history", "room": "general"}, "history")
            assert [m["body"] for m in page["messages"]] == ["hi"]
        assert (await alice.say("general", "still sending", "a2"))["seq"] == 2


@pytest.mark.slow
async def test_searches_in_a_loop_do_not_hold_up_logins_and_joins(
    make_server: ServerFactory,
) -> None:
    server = await make_server(rate_per_second=10_000.0, rate_burst=10_000)
    search_burst = server.settings.search_burst
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"
    query = (words + " incididunt ut labore et dolore magna aliqua enim ad minim")[:128]
    assert len(query) == 128
    async with server.login("writer") as writer:
        await writer.join("archive")
        for batch in range(4):  # 2,000 messages to search through
            for i in range(500):
                body = f"{words} {batch}-{i}"
                await writer.send(
                    {"type": "send", "room": "archive", "body": body, "id": f"{batch}-{i}"}
                )
            for _ in range(500):
                await writer.recv_type("ack")
        async with contextlib.AsyncExitStack() as stack:
            # three people (one search at a time each), each searching the archive in a loop
            searchers = [
                await stack.enter_async_context(server.login(f"searcher{n}")) for n in range(3)
            ]
            for searcher in searchers:
                await searcher.join("archive")

            async def loop(n: int, client: Client) -> dict[str, Frame]:
                refs = {f"q{n}-{i}" for i in range(3 * search_burst)}
                for ref in sorted(refs):
                    await client.send({"type": "search", "q": query, "limit": 100, "ref": ref})
                return await replies(client, refs, "results")

            async def bystander() -> list[str]:
                seen = []
                async with server.login("newcomer") as newcomer:
                    seen.append("welcome")
                    joined, history = await newcomer.join("archive")
                    seen += [joined["type"], history["type"]]
                    ack = await newcomer.say("archive", "did I miss anything?", "n1")
                    seen.append(ack["type"])
                    page = await newcomer.request(
                        {"type": "history", "room": "archive", "limit": 5}, "history"
                    )
                    seen.append(page["type"])
                return seen

            searches, seen = await asyncio.gather(
                asyncio.gather(*(loop(n, c) for n, c in enumerate(searchers))), bystander()
            )
    assert seen == ["welcome", "joined", "history", "ack", "history"]
    for frames in searches:
        results, refused = outcome(frames)
        assert len(results) >= search_burst and refused  # served its burst, then refused
        assert all(r["type"] == "results" for r in results)


# slow: the server's stop waits its close timeout for mallory, whose unread flood keeps it from
# reading her closing handshake (as it would for any client that stops reading)
@pytest.mark.slow
async def test_asking_on_while_told_to_wait_is_slowed_down_not_closed(
    make_server: ServerFactory,
) -> None:
    """Past TOLERATED_REFUSALS refusals in a row, a connection's next request is read only
    after the wait it was told (at most MAX_PAUSE): a flood of 200 pipelined requests is not
    answered at once, the connection stays open, and bob is served meanwhile."""
    server = await make_server(read_burst=5, read_rate=0.01)
    async with server.login("mallory") as mallory, server.login("bob") as bob:
        refs = [f"r{n}" for n in range(200)]
        for ref in refs:
            await mallory.send({"type": "rooms", "ref": ref})
        started = time.monotonic()
        # bob's requests are answered while mallory's flood waits in her socket
        await bob.join("general")
        assert (await bob.say("general", "hello", "b1"))["seq"] == 1
        answered: list[Frame] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(3.0):  # a few pauses' worth, then stop looking
                while True:
                    answered.append(await mallory.recv(timeout=10))
        elapsed = time.monotonic() - started
        # at full speed: the 5 of the burst and the tolerated refusals; then one a MAX_PAUSE
        paused = 1 + int(elapsed / MAX_PAUSE)
        assert 5 + TOLERATED_REFUSALS < len(answered) <= 5 + TOLERATED_REFUSALS + paused
        served, refused = outcome({f["ref"]: f for f in answered})
        assert len(served) == 5 and len(refused) == len(answered) - 5
        assert mallory.ws.close_code is None  # slowed down, not closed
