"""The join-buffering state of the hub, fed events without sockets."""

from __future__ import annotations

import dataclasses

from chat_server.subscriptions import Subscriptions


@dataclasses.dataclass(eq=False)
class Conn:
    user_id: int
    closing: bool = False
    rooms: set[str] = dataclasses.field(default_factory=set)

    def __hash__(self) -> int:
        return id(self)


def test_events_during_a_join_are_held_then_flushed_past_the_backlog() -> None:
    subs: Subscriptions[Conn] = Subscriptions()
    alice = Conn(1)
    subs.subscribe(alice, "general")
    assert list(subs.recipients("general", 5)) == []  # held: nothing goes out live
    subs.hold("general", b"m4", 4)  # the backlog read will cover this one
    subs.hold("general", b"m5", 5)
    subs.hold("general", b"presence")  # no seq: always newer than a backlog
    subs.hold("general", b"m6", 6)
    assert subs.go_live(alice, "general", covered=4) == [b"m5", b"presence", b"m6"]
    assert "general" in alice.rooms
    # live from here on, and never a copy of what the backlog held (a late Redis copy)
    assert list(subs.recipients("general", 7)) == [alice]
    assert list(subs.recipients("general", 3)) == []
    assert list(subs.recipients("general", None)) == [alice]


def test_going_live_twice_or_unsubscribed_flushes_nothing() -> None:
    subs: Subscriptions[Conn] = Subscriptions()
    alice = Conn(1)
    assert subs.go_live(alice, "general", 0) == []
    subs.subscribe(alice, "general")
    subs.hold("general", b"m1", 1)
    subs.unsubscribe(alice, "general")
    assert subs.go_live(alice, "general", 0) == []
    assert alice.rooms == set()
    assert subs.room_count == 0


def test_the_excluded_user_and_closing_connections_get_nothing() -> None:
    subs: Subscriptions[Conn] = Subscriptions()
    alice, bob, gone = Conn(1), Conn(2), Conn(3, closing=True)
    for conn in (alice, bob, gone):
        subs.subscribe(conn, "general")
    subs.hold("general", b"typing", exclude_user=1)
    assert subs.go_live(alice, "general", 0) == []
    assert subs.go_live(bob, "general", 0) == [b"typing"]
    assert subs.go_live(gone, "general", 0) == []
    assert list(subs.recipients("general", None, exclude_user=2)) == [alice, gone]


def test_a_live_subscription_starts_from_the_next_event() -> None:
    subs: Subscriptions[Conn] = Subscriptions()
    alice = Conn(1)
    subs.subscribe(alice, "dm:alice:bob", live=True)
    assert list(subs.recipients("dm:alice:bob", 1)) == [alice]
    subs.subscribe(alice, "dm:alice:bob")  # a join again: held anew, not twice
    assert list(subs.recipients("dm:alice:bob", 2)) == []
    assert subs.room_count == 1


def test_presence_some_must_not_see_is_not_held_for_them() -> None:
    subs: Subscriptions[Conn] = Subscriptions()
    alice, bob, carol = Conn(1), Conn(2), Conn(3)
    for conn in (alice, bob, carol):
        subs.subscribe(conn, "general")
    subs.hold("general", b"online", exclude_users=frozenset({1, 3}))
    assert [subs.go_live(c, "general", 0) for c in (alice, bob, carol)] == [[], [b"online"], []]
