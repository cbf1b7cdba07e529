"""Each room's place in its history: what a join, a live message or a catch-up page delivers.

No I/O here: the client feeds in what the server sent, and :func:`catch_up` fetches the
``history after`` pages a room is missing through the function the client gives it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from chat_server import protocol as p
from chat_tui.client.sequencing import Sequencer

CATCH_UP_PAGE = p.HISTORY_MAX


Change = p.EditEvent | p.DeleteEvent | p.ReactEvent
"""A change to a message (protocol 2), as the live frame that announces it."""


def change_record(frame: Change) -> p.MessageRecord:
    """A live change (protocol 2) as the entry of the room's log that ``history`` lists."""
    if isinstance(frame, p.EditEvent):
        return p.MessageRecord(
            frame.room, frame.seq, frame.nick, frame.body, frame.ts, frame.id,
            kind="edit", target=frame.target,
        )  # fmt: skip
    if isinstance(frame, p.ReactEvent):
        return p.MessageRecord(
            frame.room, frame.seq, frame.nick, "", frame.ts, frame.id,
            kind="react", target=frame.target, emoji=frame.emoji, remove=frame.remove,
        )  # fmt: skip
    return p.MessageRecord(
        frame.room, frame.seq, frame.nick, "", frame.ts, frame.id,
        kind="delete", target=frame.target, reason=frame.reason,
    )  # fmt: skip


def change_event(entry: p.MessageRecord) -> Change | None:
    """A page's change entry as the live frame that made it (None for a message).

    An edit or react entry whose message is deleted since (``deleted``: its text or emoji is
    erased) reads as the delete it now stands for.
    """
    e = entry
    if e.kind is None or e.target is None:
        return None
    if e.kind == "delete" or e.deleted:
        return p.DeleteEvent(e.room, e.seq, e.nick, e.ts, e.id, e.target, reason=e.reason)
    if e.kind == "edit":
        return p.EditEvent(e.room, e.seq, e.nick, e.ts, e.id, e.target, e.body)
    return p.ReactEvent(e.room, e.seq, e.nick, e.ts, e.id, e.target, e.emoji or "", e.remove)


def notice_record(frame: p.Notice) -> p.MessageRecord:
    """A live notice (protocol 2) as the entry of the room's log that ``history`` lists."""
    return p.MessageRecord(
        frame.room, frame.seq, frame.nick, "", frame.ts, frame.id, kind="notice",
        event=frame.event, target_nick=frame.target_nick, topic=frame.topic, role=frame.role,
        reason=frame.reason,
    )  # fmt: skip


def notice_event(e: p.MessageRecord) -> p.Notice | None:
    """A page's notice entry as the live frame that made it (None for any other entry)."""
    if e.kind != "notice":
        return None
    return p.Notice(
        room=e.room, seq=e.seq, nick=e.nick, ts=e.ts, id=e.id, event=e.event or "",
        target_nick=e.target_nick, topic=e.topic, role=e.role, reason=e.reason,
    )  # fmt: skip


Fetch = Callable[[str, int], Awaitable[p.HistoryPage]]
"""Ask the server for ``history`` of a room (first argument) after a seq (second)."""


@dataclass
class Room:
    """A room's delivery order, and the highest seq the server is known to have."""

    name: str
    seq: Sequencer[p.MessageRecord]
    target: int
    filling: bool = False  # a catch-up is running for it

    @property
    def behind(self) -> bool:
        """Whether messages wait for a gap to be filled, or the server has some not seen yet."""
        return self.seq.gap or self.seq.last < self.target

    def offer(self, message: p.MessageRecord) -> list[p.MessageRecord]:
        """Take one message; return the messages now ready, in order."""
        self.target = max(self.target, message.seq)
        return self.seq.offer(message)

    def catch_up(self, page: p.HistoryPage) -> list[p.MessageRecord]:
        """Take a page of ``history after``; return the messages now ready, in order.

        The last page (``more`` false) ends the catch-up: a hole the server cannot fill is
        skipped, so that it never stalls the room.
        """
        self.seq.advance(page.floor - 1)  # below the floor: erased (retention), not missed
        ready = [out for message in page.messages for out in self.offer(message)]
        if not page.more:
            ready += self.seq.skip_gap()
            self.target = self.seq.last
        return ready


class Rooms:
    """The session's rooms by name: the ones it joined, and direct conversations opened to it."""

    def __init__(self) -> None:
        self._rooms: dict[str, Room] = {}

    def __iter__(self) -> Iterator[Room]:
        return iter(list(self._rooms.values()))

    def drop(self, name: str) -> None:
        self._rooms.pop(name, None)

    def joined(
        self, joined: p.Joined, page: p.HistoryPage, since: int | None, resumed: bool
    ) -> tuple[Room, list[p.MessageRecord | p.Joined]]:
        """Set up (or advance) a room from ``joined`` and its first ``history``.

        A join the client made itself after a reconnect (``resumed``) continues the room: the
        page's messages are delivered as events, then ``joined`` (the members may have changed).
        A join the user asked for returns the page to the caller instead, and the room's
        ordering starts after it. Returns the room and the events to emit, in order.
        """
        room = self._rooms.get(joined.room)
        events: list[p.MessageRecord | p.Joined] = []
        if resumed and room is not None:
            room.seq.advance(page.floor - 1)  # below the floor: erased (retention), not missed
            for message in page.messages:
                events += room.offer(message)
            events.append(joined)
        else:
            if since is None:
                last = joined.last_seq
            elif page.messages:
                last = page.messages[-1].seq
            else:
                last = min(since, joined.last_seq)
            if room is None:
                room = self._rooms[joined.room] = Room(
                    joined.room, Sequencer(last), joined.last_seq
                )
            else:
                room.seq.advance(last)
        room.target = max(room.target, joined.last_seq)
        return room, events

    def message(self, message: p.MessageRecord) -> tuple[Room, list[p.MessageRecord]]:
        """A live message; returns its room and the messages now ready, in order."""
        room = self._rooms.get(message.room)
        if room is None:  # a direct conversation someone else just opened with us
            room = self._rooms[message.room] = Room(
                message.room, Sequencer(message.seq - 1), message.seq - 1
            )
        return room, room.offer(message)

    def connection_lost(self) -> None:
        """Catch-ups stop with their connection; the next one starts them again."""
        for room in self._rooms.values():
            room.filling = False


async def catch_up(room: Room, fetch: Fetch, emit: Callable[[p.MessageRecord], None]) -> None:
    """Fetch ``history after=last`` until the room has no gap and is caught up.

    Each message is emitted once, in order; ``fetch``'s errors end the catch-up and propagate.
    """
    while room.behind:
        before = room.seq.last
        page = await fetch(room.name, room.seq.last)
        for message in room.catch_up(page):
            emit(message)
        if not page.more or room.seq.last == before:
            break
