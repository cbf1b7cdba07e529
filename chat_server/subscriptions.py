"""Which connections receive which room's events, and from which seq on. Pure: no sockets.

A subscription starts out *held*: while a ``join`` reads the backlog, live events for the
room are kept back; when the backlog has been written, :meth:`Subscriptions.go_live`
returns the held events newer than what it covered and the subscription turns *live*.
A live subscription remembers the last seq its backlog covered, so a later copy of an
older message (across nodes, Redis can deliver a message after the backlog that already
held it) is dropped: the client sees no gap and no duplicate.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterator
from typing import Final, Generic, Protocol, TypeVar

# the "seq" of an event without one (presence, typing): newer than any backlog
ALWAYS: Final = 1 << 62

Held = list[tuple[bytes, int | None]]


class Subscriber(Hashable, Protocol):
    """What a subscription needs to know of a connection."""

    user_id: int
    closing: bool
    rooms: set[str]


S = TypeVar("S", bound=Subscriber)


class Subscriptions(Generic[S]):
    """Room -> subscribers: live ones with the seq their backlog covered, held ones with
    the events kept back for them meanwhile."""

    def __init__(self) -> None:
        self.live: dict[str, dict[S, int]] = {}
        self.held: dict[str, dict[S, Held]] = {}

    def subscribe(self, subscriber: S, room: str, *, live: bool = False) -> None:
        """Start receiving a room's events: held until :meth:`go_live` unless ``live``."""
        self.unsubscribe(subscriber, room)
        subscriber.rooms.add(room)
        if live:
            self.live.setdefault(room, {})[subscriber] = 0
        else:
            self.held.setdefault(room, {})[subscriber] = []

    def go_live(self, subscriber: S, room: str, covered: int) -> list[bytes]:
        """Turn a held subscription live; the events held meanwhile newer than ``covered``
        (what the backlog held), in order, to be written now."""
        held = self.held.get(room)
        events = held.pop(subscriber, None) if held is not None else None
        if events is None:
            return []
        if not held:
            del self.held[room]
        self.live.setdefault(room, {})[subscriber] = covered
        return [data for data, seq in events if seq is None or seq > covered]

    def unsubscribe(self, subscriber: S, room: str) -> None:
        subscriber.rooms.discard(room)
        live = self.live.get(room)
        if live is not None and live.pop(subscriber, None) is not None and not live:
            del self.live[room]
        held = self.held.get(room)
        if held is not None and held.pop(subscriber, None) is not None and not held:
            del self.held[room]

    def hold(
        self,
        room: str,
        data: bytes,
        seq: int | None = None,
        exclude_user: int | None = None,
        exclude_users: Collection[int] = (),
    ) -> None:
        """Keep an event back for the room's held subscribers (live ones get it now)."""
        held = self.held.get(room)
        if held:
            for subscriber, events in held.items():
                user_id = subscriber.user_id
                if subscriber.closing or user_id == exclude_user:
                    continue
                if not exclude_users or user_id not in exclude_users:
                    events.append((data, seq))

    def hold_for(self, subscriber: S, room: str, data: bytes) -> bool:
        """Keep an event (no seq) back for one held subscriber; False when it is not held
        in ``room`` (live, or not subscribed)."""
        held = self.held.get(room)
        events = held.get(subscriber) if held is not None else None
        if events is None:
            return False
        events.append((data, None))
        return True

    def recipients(
        self, room: str, seq: int | None = None, exclude_user: int | None = None
    ) -> Iterator[S]:
        """The live subscribers an event reaches now (the hub inlines this on its hot path)."""
        after = ALWAYS if seq is None else seq
        for subscriber, covered in self.live.get(room, {}).items():
            if after > covered and subscriber.user_id != exclude_user:
                yield subscriber

    @property
    def room_count(self) -> int:
        return len(self.live.keys() | self.held.keys())
