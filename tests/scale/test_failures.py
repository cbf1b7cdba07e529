"""Losing a node or Redis loses no stored message; clients move on and converge by seq."""

from __future__ import annotations

import asyncio

import pytest

from tests.scale.cluster import Cluster, Member, PrivateRedis, healthz, kill, wait_health

pytestmark = pytest.mark.slow


async def test_a_killed_nodes_clients_resume_on_the_other_and_its_users_go_offline(
    cluster: Cluster,
) -> None:
    node_a = cluster.start_node(presence_ttl=2)
    node_b = cluster.start_node(presence_ttl=2)
    alice = await Member.connect(node_a.url, "alice")
    bob = await Member.connect(node_b.url, "bob")
    moved: Member | None = None
    try:
        await alice.join("ops")
        await bob.join("ops")
        for i in range(1, 11):
            await bob.send(f"before {i}", f"k{i}", room="ops")
        await alice.wait_for(lambda: alice.view("ops").contiguous == 10, "the first ten")

        kill(node_a)  # SIGKILL: no goodbye, its presence entry just expires
        for i in range(11, 21):
            await bob.send(f"meanwhile {i}", f"k{i}", room="ops")
        await bob.wait_for(lambda: ("ops", "alice", "offline") in bob.presence, "alice offline")

        # alice's client reconnects to the surviving node and resumes from its last seq
        moved = await Member.connect(node_b.url, token=alice.token, views=alice.views)
        joined = await moved.join("ops", since=alice.view("ops").contiguous)
        assert joined["last_seq"] == 20
        assert [m["seq"] for m in joined["history"]["messages"]] == list(range(11, 21))
        await bob.wait_for(lambda: ("ops", "alice", "online") in bob.presence, "alice online")
        for i in range(21, 26):
            await bob.send(f"after {i}", f"k{i}", room="ops")
        view = moved.view("ops")
        await moved.wait_for(lambda: view.contiguous == 25, "the rest")
        assert [m["seq"] for m in view.ordered()] == list(range(1, 26))
        assert set(view.live.values()) == {1}  # nothing twice
        assert healthz(node_b.url)["status"] == "ok"
    finally:
        await alice.close()
        await bob.close()
        if moved is not None:
            await moved.close()


async def test_restarting_redis_during_a_stream_loses_no_stored_message(
    cluster: Cluster, private_redis: PrivateRedis
) -> None:
    node_a = cluster.start_node(redis_url=private_redis.url)
    node_b = cluster.start_node(redis_url=private_redis.url)
    alice = await Member.connect(node_a.url, "alice")
    bob = await Member.connect(node_b.url, "bob")
    acked: list[int] = []
    restarted = asyncio.Event()

    async def stream() -> None:
        """alice sends until Redis has come back, then ten more."""
        n = 0
        after = 0
        while after < 10:
            n += 1
            ack = await alice.send(f"message {n}", f"k{n}", room="feed")
            acked.append(ack["seq"])
            after += restarted.is_set()
            await asyncio.sleep(0.02)

    carol: Member | None = None
    try:
        await alice.join("feed")
        await bob.join("feed")
        carol = await Member.connect(node_a.url, "carol")
        await carol.join("feed")
        await carol.close()
        await bob.wait_for(lambda: ("feed", "carol", "offline") in bob.presence, "carol left")
        sender = asyncio.create_task(stream())
        await bob.wait_for(lambda: len(bob.view("feed").live) >= 5, "the stream")

        private_redis.stop()
        await wait_health(node_a.url, "degraded")
        await wait_health(node_b.url, "degraded")
        carol = await Member.connect(node_a.url, token=carol.token)  # heard on node A only
        await alice.wait_for(lambda: len(acked) >= len(bob.view("feed").live) + 5, "acks")
        private_redis.start()  # empty: no data survived
        await wait_health(node_a.url, "ok")
        await wait_health(node_b.url, "ok")
        restarted.set()
        await asyncio.wait_for(sender, 30)

        assert acked == list(range(1, len(acked) + 1))
        for member in (alice, bob):
            await member.catch_up("feed")
            stored = member.view("feed").ordered()
            assert [m["seq"] for m in stored] == acked
            assert [m["body"] for m in stored] == [f"message {n}" for n in acked]
        # bob's client saw live events again after the restart (then filled the gap)
        assert max(bob.view("feed").live) == acked[-1]
        # and hears that carol came online while node A was cut off
        left = bob.presence.index(("feed", "carol", "offline"))
        await bob.wait_for(lambda: ("feed", "carol", "online") in bob.presence[left:], "carol")
        assert node_a.proc.poll() is None and node_b.proc.poll() is None
    finally:
        await alice.close()
        await bob.close()
        if carol is not None:
            await carol.close()


async def test_a_node_started_without_redis_serves_its_own_clients_until_redis_comes(
    cluster: Cluster, private_redis: PrivateRedis
) -> None:
    private_redis.stop()
    node_a = cluster.start_node(redis_url=private_redis.url)
    assert healthz(node_a.url)["status"] == "degraded"
    alice = await Member.connect(node_a.url, "alice")
    bob: Member | None = None
    try:
        await alice.join("lobby")
        await alice.send("anyone?", "k1", room="lobby")
        await alice.wait_for(lambda: 1 in alice.view("lobby").live, "her own message")

        private_redis.start()
        await wait_health(node_a.url, "ok")
        node_b = cluster.start_node(redis_url=private_redis.url)
        bob = await Member.connect(node_b.url, "bob")
        joined = await bob.join("lobby")
        assert joined["online"] == ["alice", "bob"]  # node A re-registered its users
        await bob.send("here", "k2", room="lobby")
        await alice.wait_for(lambda: 2 in alice.view("lobby").live, "bob's message")
    finally:
        await alice.close()
        if bob is not None:
            await bob.close()
