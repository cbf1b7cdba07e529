"""Two chat-server processes on one PostgreSQL database and one Redis behave as one chat."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

from tests.raw import request
from tests.scale.cluster import Cluster, Member

pytestmark = pytest.mark.slow


async def test_a_room_spans_both_nodes_every_message_once_in_seq_order(cluster: Cluster) -> None:
    node_a, node_b = cluster.start_node(), cluster.start_node()
    alice = await Member.connect(node_a.url, "alice")
    bob = await Member.connect(node_b.url, "bob")
    try:
        await alice.join("lobby")
        joined = await bob.join("lobby")
        assert joined["members"] == ["alice", "bob"]
        assert joined["online"] == ["alice", "bob"]  # alice is online, on the other node
        await alice.wait_for(lambda: ("lobby", "bob", "joined") in alice.presence, "bob joined")
        # whatever else lands on the channel is ignored, never a crash (the fixture checks logs)
        await cluster.publish_raw(b"not an event", b"\x93\xa1r\x01\x02")

        await asyncio.gather(
            *(alice.send(f"from A {i}", f"a{i}", room="lobby") for i in range(30)),
            *(bob.send(f"from B {i}", f"b{i}", room="lobby") for i in range(30)),
        )
        for member in (alice, bob):
            view = member.view("lobby")
            await member.wait_for(lambda: len(view.live) == 60, "every message live")  # noqa: B023
            assert sorted(view.live) == list(range(1, 61))
            assert set(view.live.values()) == {1}  # each exactly once
            for sender in ("alice", "bob"):
                # one node's events keep their order through Redis
                seqs = [s for s in view.live_order if view.messages[s]["nick"] == sender]
                assert seqs == sorted(seqs)
        assert alice.view("lobby").ordered() == bob.view("lobby").ordered()
        bodies = {m["body"] for m in alice.view("lobby").ordered()}
        assert bodies == {f"from A {i}" for i in range(30)} | {f"from B {i}" for i in range(30)}
    finally:
        await alice.close()
        await bob.close()


async def test_concurrent_senders_on_both_nodes_never_duplicate_or_skip_a_seq(
    cluster: Cluster,
) -> None:
    nodes = [cluster.start_node(), cluster.start_node()]
    members = [
        await Member.connect(nodes[i % 2].url, f"user{i}") for i in range(4)
    ]  # two on each node
    try:
        for member in members:
            await member.join("busy")
        acks = await asyncio.gather(
            *(
                member.send(f"{member.nick} says {n}", f"m{n}", room="busy")
                for n in range(40)
                for member in members
            )
        )
        assert sorted(ack["seq"] for ack in acks) == list(range(1, 161))
        for member in members:
            await member.catch_up("busy")
            stored = member.view("busy").ordered()
            assert [m["seq"] for m in stored] == list(range(1, 161))
            assert len({(m["nick"], m["id"]) for m in stored}) == 160
            assert {(m["nick"], m["id"]): m["seq"] for m in stored} == {
                (members[i % 4].nick, f"m{i // 4}"): acks[i]["seq"] for i in range(160)
            }
    finally:
        for member in members:
            await member.close()


async def test_direct_messages_read_markers_and_presence_across_nodes(cluster: Cluster) -> None:
    node_a, node_b = cluster.start_node(), cluster.start_node()
    alice = await Member.connect(node_a.url, "alice")
    bob = await Member.connect(node_b.url, "bob")
    alice_on_b: Member | None = None
    try:
        await alice.join("lobby")
        await bob.join("lobby")

        # a new direct conversation reaches bob on the other node without a join
        ack = await alice.send("psst, bob", "dm1", to="bob")
        assert ack["room"] == "dm:alice:bob"
        await bob.wait_for(lambda: bool(bob.view("dm:alice:bob").messages), "the DM")
        assert bob.view("dm:alice:bob").messages[1]["body"] == "psst, bob"
        await bob.send("hi alice", "dm2", to="alice")
        await alice.wait_for(lambda: 2 in alice.view("dm:alice:bob").messages, "the reply")

        # the read marker moves on alice's other connection, on the other node
        alice_on_b = await Member.connect(node_b.url, token=alice.token)
        await alice_on_b.join("lobby")
        await bob.send("one", "l1", room="lobby")
        await alice.wait_for(lambda: 1 in alice.view("lobby").messages, "bob's message")
        await alice.ws.send('{"type": "read", "room": "lobby", "seq": 1}')
        await alice_on_b.wait_for(lambda: ("lobby", 1) in alice_on_b.reads, "the read event")

        # alice stays online while one of her connections is left
        await alice.close()
        await bob.send("two", "l2", room="lobby")
        await alice_on_b.wait_for(lambda: 2 in alice_on_b.view("lobby").messages, "two")
        await alice_on_b.close()
        await bob.wait_for(lambda: ("lobby", "alice", "offline") in bob.presence, "offline")
        assert bob.presence.count(("lobby", "alice", "offline")) == 1

        back = await Member.connect(node_a.url, token=alice.token)
        await bob.wait_for(lambda: ("lobby", "alice", "online") in bob.presence, "online")
        await back.close()
    finally:
        await alice.close()
        await bob.close()
        if alice_on_b is not None:
            await alice_on_b.close()


class Synced:
    """Password hellos on either of two nodes, each followed by a wait until the other node
    has heard what the hello made the first one publish (a failed login, a signup).

    That travels on the node's Redis channel before the marker message sent after it, and
    Redis keeps one publisher's order: once the marker arrives on the other node, so has it.
    Both watchers (one per node) must have joined the room ``sync``.
    """

    def __init__(self, urls: tuple[str, str], watchers: tuple[Member, Member]) -> None:
        self.urls = urls
        self.watchers = watchers
        self.markers = 0

    async def log_in(self, node: int, source: str, nick: str, password: str) -> str:
        """A password hello on node A (0) or B (1) from ``source``: the reply's type or error
        code, once the other node has heard whatever came of it."""
        here, there = self.watchers[node], self.watchers[1 - node]
        async with connect(self.urls[node], local_addr=(source, 0)) as ws:
            hello = {"type": "hello", "nick": nick, "password": password}
            reply = await request(ws, hello, "welcome")
        self.markers += 1
        marker = self.markers
        await here.send(f"marker {marker}", f"m{marker}", room="sync")
        await there.wait_for(lambda: marker in there.view("sync").live, "the marker")
        return str(reply.get("code", reply["type"]))


async def test_failed_logins_are_throttled_across_nodes(cluster: Cluster) -> None:
    """Failed logins made on node B count on node A, for the address and for the nick: the
    limits (2 failures per address, a nick closed after 2) hold for the chat, not per node;
    the owner, from a clean address, still gets in."""
    limits = ("--login-failures", "2/h", "--nick-failures", "2/h")
    node_a, node_b = cluster.start_node(*limits), cluster.start_node(*limits)
    carol = await Member.connect(node_a.url, "carol")
    await carol.close()
    on_a = await Member.connect(node_a.url, "watcher_a")
    on_b = await Member.connect(node_b.url, "watcher_b")
    log_in = Synced((node_a.url, node_b.url), (on_a, on_b)).log_in
    try:
        for member in (on_a, on_b):
            await member.join("sync")
        # the address: one failure on each node spends it, on any nick
        assert await log_in(0, "127.0.0.2", "carol", "not-her-password") == "auth_failed"
        assert await log_in(1, "127.0.0.2", "carol", "not-her-password") == "auth_failed"
        assert await log_in(0, "127.0.0.2", "watcher_b", "guess") == "rate_limited"
        # the nick: two failures on node B close it on node A to addresses that failed
        assert await log_in(1, "127.0.0.3", "erin", "guess") == "welcome"  # a new account
        assert await log_in(1, "127.0.0.4", "erin", "wrong") == "auth_failed"
        assert await log_in(1, "127.0.0.5", "erin", "wrong") == "auth_failed"
        assert await log_in(0, "127.0.0.4", "erin", "wrong") == "rate_limited"
        # the owners, from addresses without failures, get in on either node
        assert await log_in(0, "127.0.0.6", "carol", "secret-pw") == "welcome"
        assert await log_in(0, "127.0.0.3", "erin", "guess") == "welcome"
    finally:
        await on_a.close()
        await on_b.close()


async def test_signups_per_address_are_limited_across_nodes(cluster: Cluster) -> None:
    """Accounts made from an address on node A count on node B: the allowance (2 an hour) is
    the address's for the chat, not per node; another address still signs up on B."""
    limits = ("--signup-rate", "2/h")
    node_a, node_b = cluster.start_node(*limits), cluster.start_node(*limits)
    on_a = await Member.connect(node_a.url, "watcher_a")  # from 127.0.0.1, as ever
    on_b = await Member.connect(node_b.url, "watcher_b")
    log_in = Synced((node_a.url, node_b.url), (on_a, on_b)).log_in
    try:
        for member in (on_a, on_b):
            await member.join("sync")
        assert await log_in(0, "127.0.0.2", "ann", "ann-secret") == "welcome"
        assert await log_in(0, "127.0.0.2", "amy", "amy-secret") == "welcome"
        # node B has let 127.0.0.2 make no account itself, and still refuses it one
        assert await log_in(1, "127.0.0.2", "abe", "abe-secret") == "rate_limited"
        assert await log_in(1, "127.0.0.3", "bea", "bea-secret") == "welcome"
        # a login to an account is no signup: the address may still use the ones it made
        assert await log_in(1, "127.0.0.2", "ann", "ann-secret") == "welcome"
    finally:
        await on_a.close()
        await on_b.close()


async def test_leaving_a_room_takes_the_users_connections_on_every_node_out(
    cluster: Cluster,
) -> None:
    node_a, node_b = cluster.start_node(), cluster.start_node()
    alice = await Member.connect(node_a.url, "alice")
    alice_on_b = await Member.connect(node_b.url, token=alice.token)
    bob = await Member.connect(node_b.url, "bob")
    try:
        for member in (alice, alice_on_b, bob):
            await member.join("lobby")
            await member.join("sync")
        left = await alice.request({"type": "leave", "room": "lobby"})
        assert left["type"] == "left"
        await alice_on_b.wait_for(
            lambda: any(f["type"] == "left" and f["room"] == "lobby" for f in alice_on_b.frames),
            "left on the other node",
        )
        await bob.send("after alice left", "k1", room="lobby")
        await bob.send("marker", "k2", room="sync")  # same node, same order through Redis
        await alice_on_b.wait_for(lambda: 1 in alice_on_b.view("sync").live, "the marker")
        assert not alice_on_b.view("lobby").messages
        assert not alice.view("lobby").messages
    finally:
        for member in (alice, alice_on_b, bob):
            await member.close()


async def test_a_kick_on_one_node_removes_the_user_from_the_room_on_every_node(
    cluster: Cluster,
) -> None:
    """The owner on node A kicks mallory, connected to node B and to node A: each of her
    connections gets ``left`` {by, reason} and nothing of the room after it."""
    node_a, node_b = cluster.start_node(), cluster.start_node()
    alice = await Member.connect(node_a.url, "alice")
    carol = await Member.connect(node_b.url, "carol")
    mallory_b = await Member.connect(node_b.url, "mallory")
    mallory_a = await Member.connect(node_a.url, token=mallory_b.token)
    members = (alice, carol, mallory_b, mallory_a)
    try:
        created = await alice.request({"type": "create", "room": "lobby", "id": "c1"})
        assert created["type"] == "ack", created
        for member in members:
            await member.join("lobby")
        started = asyncio.get_running_loop().time()
        kick = {"type": "kick", "room": "lobby", "nick": "mallory", "reason": "spam", "id": "k1"}
        assert (await alice.request(kick))["type"] == "ack"
        left = {"type": "left", "room": "lobby", "by": "alice", "reason": "spam"}
        for mallory in (mallory_b, mallory_a):
            await mallory.wait_for(lambda m=mallory: left in m.frames, "left")  # type: ignore[misc]
        took = asyncio.get_running_loop().time() - started
        await carol.wait_for(
            lambda: any(f["type"] == "notice" and f["event"] == "kick" for f in carol.frames),
            "the kick's notice",
        )
        await alice.send("after the kick", "m1", room="lobby")
        await carol.wait_for(lambda: len(carol.view("lobby").live) == 1, "the message")
        for mallory in (mallory_b, mallory_a):
            assert mallory.view("lobby").live == {}, "nothing of the room after the kick"
        refused = await mallory_b.request({"type": "history", "room": "lobby"})
        assert refused["code"] == "not_member"
        # DESIGN.md: within 200 ms on every node (9-30 ms measured here, the kick's commit
        # included); ten times that, on a shared and busy machine
        assert took < 2.0, f"the kick took {took:.3f} s to reach every connection"
    finally:
        for member in members:
            await member.close()
