"""Ordering and delivery under load: no gap, no duplicate, ack first, slow consumers cut off."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import ConnectionClosed

from chat_server import protocol as p
from tests.conftest import ChatServerUnderTest, Client, ServerFactory
from tests.support.metrics import scrape, value


async def pipeline(client: Client, room: str, count: int, prefix: str, pause: float = 0.0) -> None:
    for i in range(count):
        await client.send(
            {"type": "send", "room": room, "body": f"{prefix}{i}", "id": f"{prefix}{i}"}
        )
        if pause:
            await asyncio.sleep(pause)


async def collect_messages(client: Client, room: str, upto: int) -> list[int]:
    seqs: list[int] = []
    while not seqs or seqs[-1] < upto:
        frame = await client.recv_type("message", "history")
        if frame["type"] == "history":
            seqs.extend(m["seq"] for m in frame["messages"])
        elif frame["room"] == room:
            seqs.append(frame["seq"])
    return seqs


async def test_sender_gets_each_ack_before_its_own_message(make_server: ServerFactory) -> None:
    server: ChatServerUnderTest = await make_server(rate_per_second=1e6, rate_burst=10**6)
    async with server.login("alice") as alice:
        await alice.join("general")
        await pipeline(alice, "general", 200, "m")
        acked: set[int] = set()
        order: list[int] = []
        while len(order) < 200:
            frame = await alice.recv_type("ack", "message")
            if frame["type"] == "ack":
                acked.add(frame["seq"])
            else:
                assert frame["seq"] in acked, "message event before its ack"
                order.append(frame["seq"])
        assert order == list(range(1, 201))


@pytest.mark.slow
async def test_join_during_a_stream_has_no_gap_and_no_duplicate(
    make_server: ServerFactory,
) -> None:
    server: ChatServerUnderTest = await make_server(rate_per_second=1e6, rate_burst=10**6)
    total = 400
    async with (
        server.login("alice") as alice,
        server.login("bob") as bob,
        server.login("carol") as carol,
    ):
        await alice.join("general")
        await carol.join("general")
        sender = asyncio.create_task(pipeline(alice, "general", total, "m", pause=0.003))
        await carol.recv_type("message")  # the stream is running
        await bob.send({"type": "join", "room": "general"})
        joined = await bob.recv_type("joined")
        history = await bob.recv_type("history")
        seqs = [m["seq"] for m in history["messages"]]
        assert not seqs or seqs[-1] == joined["last_seq"]
        while not seqs or seqs[-1] < total:
            frame = await bob.recv_type("message")
            seqs.append(frame["seq"])
        await sender
        assert 0 < joined["last_seq"] < total  # bob joined while the stream ran
        assert seqs == list(range(seqs[0], total + 1))  # backlog, then live: contiguous


async def test_rejoin_with_since_resumes_exactly(make_server: ServerFactory) -> None:
    server: ChatServerUnderTest = await make_server(rate_per_second=1e6, rate_burst=10**6)
    async with server.login("alice") as alice, server.login("bob") as bob:
        await alice.join("general")
        await bob.join("general")
        for i in range(5):
            await alice.say("general", f"early {i}", f"e{i}")
        token = bob.token
    async with server.login("alice") as alice:
        for i in range(7):
            await alice.say("general", f"missed {i}", f"x{i}")
    async with server.resume(token) as bob:
        _, history = await bob.join("general", since=5)
        assert [m["seq"] for m in history["messages"]] == list(range(6, 13))
        assert history["messages"][0]["body"] == "missed 0"
        assert history["more"] is False


async def test_a_consumer_that_stops_reading_is_closed_with_1013(
    make_server: ServerFactory,
) -> None:
    server: ChatServerUnderTest = await make_server(
        rate_per_second=1e6, rate_burst=10**6, max_buffer=256 * 1024, metrics=True
    )
    body = "x" * 3900
    count = 1500  # about 6 MB: more than the socket buffers and the 256 KiB limit
    async with (
        server.login("alice") as alice,
        server.login("bob") as bob,
        server.client(max_queue=1) as slow,
    ):
        await slow.request({"type": "hello", "token": bob.token}, "welcome")
        await slow.join("general")
        await alice.join("general")
        await bob.join("general")
        for i in range(count):
            await alice.send({"type": "send", "room": "general", "body": body, "id": f"b{i}"})
        # everyone who reads gets every message, in order
        assert await collect_messages(bob, "general", count) == list(range(1, count + 1))
        # the one who did not read was cut off, and says why when it reads again
        codes = []
        try:
            while True:
                await slow.recv(timeout=15)
        except ConnectionClosed as closed:
            codes.append(closed.rcvd.code if closed.rcvd else None)
        assert codes == [1013]
        health = await asyncio.to_thread(_health, server.url)
        assert health["connections"] == 2
        # and an operator sees it (serve --metrics)
        samples = await scrape(server.running.port)
        assert value(samples, "chat_slow_consumer_closes_total") == 1
        assert value(samples, "chat_connection_closes_total", code="1013") == 1
        assert value(samples, "chat_connections") == 2


def _health(url: str) -> dict[str, object]:
    import urllib.request

    with urllib.request.urlopen(url.replace("ws://", "http://").replace("/ws", "/healthz")) as r:
        result: dict[str, object] = json.loads(r.read())
    return result


async def test_presence_online_and_offline(server: ChatServerUnderTest) -> None:
    async with server.login("alice") as alice:
        await alice.join("general")
        async with server.login("bob") as bob:
            await bob.join("general")
            joined = await alice.recv()
            assert joined == {
                "type": "presence",
                "room": "general",
                "nick": "bob",
                "status": "joined",
            }
        offline = await alice.recv()
        assert offline == {
            "type": "presence",
            "room": "general",
            "nick": "bob",
            "status": "offline",
        }
        async with server.login("bob"):
            online = await alice.recv()
            assert online == {
                "type": "presence",
                "room": "general",
                "nick": "bob",
                "status": "online",
            }


async def test_a_block_hides_the_blocker_in_a_big_room_too(
    server: ChatServerUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No online/offline goes to a big room, but its members page showed alice online to bob:
    her block tells bob she is offline there as everywhere, and her unblock online again."""
    monkeypatch.setattr(p, "PRESENCE_MEMBERS_MAX", 2)
    async with server.login("carol") as carol:
        await carol.join("crowd")
    async with server.login("alice") as alice, server.login("bob") as bob:
        await alice.join("crowd")
        await bob.join("crowd")
        await alice.recv_type("presence")  # bob joined
        page = await bob.request({"type": "members", "room": "crowd"}, "members")
        assert page["online"] == ["alice", "bob"]
        await alice.request({"type": "block", "nick": "bob"}, "blocked")
        assert await bob.recv() == _presence("crowd", "alice", "offline")
        await alice.request({"type": "unblock", "nick": "bob"}, "unblocked")
        assert await bob.recv() == _presence("crowd", "alice", "online")


def _presence(room: str, nick: str, status: str) -> dict[str, str]:
    return {"type": "presence", "room": room, "nick": nick, "status": status}


async def test_a_big_rooms_members_see_who_joins_but_not_who_comes_and_goes(
    server: ChatServerUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A room of more than PRESENCE_MEMBERS_MAX members (2 here, 500 in use) hears nobody's
    online and offline: each would go to every member, and a restart that brings 10,000 back
    would send 50 million. Joins still show there, a members page says who is online now,
    and a small room of the same people hears everything."""
    monkeypatch.setattr(p, "PRESENCE_MEMBERS_MAX", 2)
    async with server.login("carol") as carol:
        await carol.join("crowd")
    async with server.login("alice") as alice:
        await alice.join("crowd")
        await alice.join("pair")
        async with server.login("bob") as bob:
            await bob.join("pair")
            assert await alice.recv() == _presence("pair", "bob", "joined")
            await bob.join("crowd")  # its third member
            assert await alice.recv() == _presence("crowd", "bob", "joined")
        # rooms are told in name order: a "crowd" offline would have come first
        assert await alice.recv() == _presence("pair", "bob", "offline")
        async with server.login("bob"):
            assert await alice.recv() == _presence("pair", "bob", "online")
            page = await alice.request({"type": "members", "room": "crowd"}, "members")
            assert page["members"] == ["alice", "bob", "carol"]
            assert page["online"] == ["alice", "bob"]
            await alice.no_frame()


async def test_logout_revokes_the_token_everywhere(server: ChatServerUnderTest) -> None:
    async with server.login("alice") as alice, server.resume(alice.token) as second:
        await alice.send({"type": "logout"})
        try:
            await alice.recv()
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1000
        try:
            while True:
                await second.recv(timeout=5)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1008
    async with server.client() as again:
        reply = await again.request({"type": "hello", "token": alice.token}, "welcome")
        assert reply["code"] == "auth_failed"
