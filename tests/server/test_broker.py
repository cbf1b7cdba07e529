"""The Broker contract, on every implementation: the in-process broker and Redis.

What a node publishes reaches its own receiver (and, with Redis, every other node's), in
the order it was published; presence says who is online anywhere; a failed login reaches
the other nodes' login limits, and a signup their signup limits (never the node's own: it
counted it already).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Any

import msgspec
import pytest
import redis.asyncio

from chat_server.broker import Broker, LocalBroker
from chat_server.broker.envelope import (
    Envelope,
    LeaveUser,
    LoginResult,
    RoomEvent,
    RoomEventExcept,
    Signup,
    SubscribeUser,
    UserEvent,
    decode_envelope,
    encode_envelope,
)
from chat_server.broker.redis import RedisBroker

WAIT = 5.0


class Recorder:
    """A receiver that writes down what it is handed, as the hub would act on it."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.changed = asyncio.Event()

    def _note(self, *event: Any) -> None:
        self.events.append(event)
        self.changed.set()

    def deliver_room(
        self, room: str, data: bytes, seq: int | None = None, exclude_user: int | None = None
    ) -> None:
        self._note("room", room, data, seq, exclude_user)

    def deliver_user(self, user_id: int, data: bytes, exclude: str | None = None) -> None:
        self._note("user", user_id, data, exclude)

    def deliver_room_except(self, room: str, data: bytes, exclude_users: Collection[int]) -> None:
        self._note("except", room, data, sorted(exclude_users))

    def deliver_user_rooms(self, user_id: int, events: Sequence[tuple[str, bytes]]) -> None:
        self._note("user rooms", user_id, [tuple(event) for event in events])

    def subscribe_user(self, user_id: int, room: str) -> None:
        self._note("subscribe", user_id, room)

    def leave_user(self, user_id: int, room: str, data: bytes, exclude: str | None = None) -> None:
        self._note("leave", user_id, room, data, exclude)

    def failed_login(self, key: str, address: str | None) -> None:
        """The LoginHook: what the node's login limits would count."""
        self._note("failed login", key, address)

    def signup(self, address: str) -> None:
        """The SignupHook: what the node's signup limits would count."""
        self._note("signup", address)

    async def until(self, count: int) -> list[tuple[Any, ...]]:
        async with asyncio.timeout(WAIT):
            while len(self.events) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.events


Node = tuple[Broker, Recorder]
MakeNode = Callable[[], Awaitable[Node]]


@contextlib.asynccontextmanager
async def nodes(url: str | None) -> AsyncIterator[MakeNode]:
    """Nodes of one chat: in-process (``url`` None), or on Redis under a prefix of their own."""
    prefix = f"test-broker-{secrets.token_hex(4)}"
    started: list[Broker] = []

    async def make() -> Node:
        broker: Broker = LocalBroker() if url is None else RedisBroker(url, prefix=prefix)
        recorder = Recorder()
        await broker.start(recorder, logins=recorder.failed_login, signups=recorder.signup)
        started.append(broker)
        return broker, recorder

    try:
        yield make
    finally:
        for broker in started:
            await broker.close()
        if url is not None:
            client = redis.asyncio.Redis.from_url(url)
            keys = [key async for key in client.scan_iter(f"{prefix}:*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()


@pytest.fixture(params=["local", "redis"])
async def make_node(request: pytest.FixtureRequest) -> AsyncIterator[MakeNode]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    async with nodes(url) as make:
        yield make


async def test_events_reach_the_publishing_node_in_order(make_node: MakeNode) -> None:
    broker, recorder = await make_node()
    assert broker.healthy
    for seq in range(1, 51):
        broker.publish_room("general", f"m{seq}".encode(), seq)
    broker.publish_room("general", b"typing", exclude_user=7)
    broker.publish_user(7, b"read", exclude="conn-1")
    broker.subscribe_user(8, "dm:a:b")
    broker.leave_user(7, "general", b"left", exclude="conn-1")
    broker.publish_room_except("general", b"online", {9, 7})
    broker.publish_user_rooms(9, [("general", b"offline"), ("dm:a:b", b"offline")])
    events = await recorder.until(56)
    assert events[:50] == [("room", "general", f"m{s}".encode(), s, None) for s in range(1, 51)]
    assert events[50:] == [
        ("room", "general", b"typing", None, 7),
        ("user", 7, b"read", "conn-1"),
        ("subscribe", 8, "dm:a:b"),
        ("leave", 7, "general", b"left", "conn-1"),
        ("except", "general", b"online", [7, 9]),
        ("user rooms", 9, [("general", b"offline"), ("dm:a:b", b"offline")]),
    ]


async def test_presence_says_who_is_online(make_node: MakeNode) -> None:
    broker, _ = await make_node()
    assert await broker.online([1, 2]) == set()
    assert await broker.user_online(1, "alice")  # nobody had alice: announce her
    assert await broker.online([1, 2]) == {1}
    assert await broker.user_offline(1)  # nobody has her now: announce that too
    assert await broker.online([1, 2]) == set()


async def test_a_node_is_not_told_its_own_failed_logins(make_node: MakeNode) -> None:
    broker, recorder = await make_node()
    broker.share_login("alice", "192.0.2.7")
    broker.publish_room("general", b"after", 1)
    assert await recorder.until(1) == [("room", "general", b"after", 1, None)]


async def test_a_node_is_not_told_its_own_signups(make_node: MakeNode) -> None:
    broker, recorder = await make_node()
    broker.share_signup("192.0.2.8")
    broker.publish_room("general", b"after", 1)
    assert await recorder.until(1) == [("room", "general", b"after", 1, None)]


def test_an_envelope_of_an_unknown_kind_reads_as_none() -> None:
    """A node before signups were shared decodes a Signup as it decodes any kind it does not
    know (one from a newer node): None, which the subscriber logs and skips."""
    older: msgspec.msgpack.Decoder[Envelope] = msgspec.msgpack.Decoder(
        RoomEvent | UserEvent | RoomEventExcept | SubscribeUser | LeaveUser | LoginResult
    )
    signup = encode_envelope(Signup("n1", "192.0.2.8"))
    with pytest.raises(msgspec.ValidationError):  # what decode_envelope turns into None
        older.decode(signup)
    assert decode_envelope(signup) == Signup("n1", "192.0.2.8")
    assert decode_envelope(msgspec.msgpack.encode(["?", "n1", "from a newer node"])) is None


def test_login_envelopes_read_across_versions() -> None:
    """An older node's envelope (no address) reads as one without an address; an older
    node reads a newer one as before (trailing fields are ignored)."""

    class Older(msgspec.Struct, tag="l", array_like=True):
        node: str
        key: str
        failed: bool

    old = msgspec.msgpack.encode(Older("n1", "alice", True))
    assert decode_envelope(old) == LoginResult("n1", "alice", True, None)
    new = encode_envelope(LoginResult("n2", "alice", True, "192.0.2.7"))
    assert msgspec.msgpack.decode(new, type=Older) == Older("n2", "alice", True)


def test_room_events_read_across_versions_with_and_without_their_send_time() -> None:
    """The publisher's clock (for the lag metric) came last: an older node's room event
    reads as one without it, and an older node reads a newer one as before."""

    class Older(msgspec.Struct, tag="r", array_like=True):
        room: str
        data: bytes
        seq: int | None = None
        exclude_user: int | None = None

    old = msgspec.msgpack.encode(Older("general", b"{}", 7, None))
    assert decode_envelope(old) == RoomEvent("general", b"{}", 7, None, None)
    new = encode_envelope(RoomEvent("general", b"{}", 8, 3, 1764770000.25))
    assert msgspec.msgpack.decode(new, type=Older) == Older("general", b"{}", 8, 3)


async def test_with_redis_every_node_hears_every_event_and_presence(redis_url: str) -> None:
    async with nodes(redis_url) as make_node:
        await two_nodes(make_node)


async def two_nodes(make_node: MakeNode) -> None:
    (a, a_heard), (b, b_heard) = await make_node(), await make_node()
    for seq in range(1, 21):
        a.publish_room("general", f"m{seq}".encode(), seq)
    a.publish_room_except("general", b"online", [5, 3])  # presence some must not see
    a.publish_user_rooms(5, [("general", b"offline")])  # ...and what one of them sees now
    expected: list[tuple[Any, ...]] = [
        ("room", "general", f"m{s}".encode(), s, None) for s in range(1, 21)
    ]
    expected.append(("except", "general", b"online", [3, 5]))
    expected.append(("user rooms", 5, [("general", b"offline")]))
    assert await a_heard.until(22) == expected
    assert await b_heard.until(22) == expected
    assert await a.user_online(1, "alice")
    assert not await b.user_online(1, "alice")  # online already, through node a
    assert await a.online([1]) == await b.online([1]) == {1}
    assert not await a.user_offline(1)  # still on node b
    assert await b.user_offline(1)
    assert await a.online([1]) == set()
    # a failed login reaches the other node (before what was published after it), not its own
    a.share_login("alice", "192.0.2.7")
    a.publish_room("general", b"after", 21)
    assert (await b_heard.until(24))[22:] == [
        ("failed login", "alice", "192.0.2.7"),
        ("room", "general", b"after", 21, None),
    ]
    assert (await a_heard.until(23))[22:] == [("room", "general", b"after", 21, None)]
    # so does a signup
    b.share_signup("192.0.2.8")
    b.publish_room("general", b"later", 22)
    assert (await a_heard.until(25))[23:] == [
        ("signup", "192.0.2.8"),
        ("room", "general", b"later", 22, None),
    ]
    assert (await b_heard.until(25))[24:] == [("room", "general", b"later", 22, None)]
