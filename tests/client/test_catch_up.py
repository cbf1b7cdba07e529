"""Each room's order across joins, live messages and catch-up pages, without a server."""

from __future__ import annotations

import asyncio

from chat_server import protocol as p
from chat_tui.client.rooms import Room, Rooms, catch_up
from chat_tui.client.sequencing import Sequencer


def message(seq: int, room: str = "general") -> p.MessageRecord:
    return p.MessageRecord(room=room, seq=seq, nick="bob", body=f"m{seq}", ts="t", id=f"k{seq}")


def joined(last_seq: int, room: str = "general") -> p.Joined:
    return p.Joined(room=room, last_seq=last_seq, members=["bob"], online=[])


def page(*seqs: int, more: bool = False, room: str = "general") -> p.HistoryPage:
    return p.HistoryPage(room=room, messages=[message(s, room) for s in seqs], more=more)


def seqs(items: list[p.MessageRecord]) -> list[int]:
    return [item.seq for item in items]


def test_a_join_starts_the_room_after_its_first_page() -> None:
    rooms = Rooms()
    room, events = rooms.joined(joined(60), page(*range(11, 61)), since=None, resumed=False)
    assert events == []  # the caller gets the page itself, not as events
    assert (room.seq.last, room.target, room.behind) == (60, 60, False)
    assert seqs(rooms.message(message(61))[1]) == [61]


def test_a_join_with_since_continues_after_the_page_it_got() -> None:
    rooms = Rooms()
    room, _ = rooms.joined(joined(900), page(*range(5, 505), more=True), since=4, resumed=False)
    assert (room.seq.last, room.target, room.behind) == (504, 900, True)
    room, _ = Rooms().joined(joined(3), page(), since=10, resumed=False)  # since past the end
    assert room.seq.last == 3


def test_a_resumed_join_delivers_what_was_missed_then_the_join() -> None:
    rooms = Rooms()
    rooms.joined(joined(2), page(1, 2), since=None, resumed=False)
    room, events = rooms.joined(joined(5), page(3, 4, 5), since=2, resumed=True)
    assert events == [message(3), message(4), message(5), joined(5)]
    assert room.seq.last == 5


def test_a_message_in_an_unknown_room_opens_it_there() -> None:
    room, ready = Rooms().message(message(7, room="dm:alice:bob"))
    assert seqs(ready) == [7]
    assert (room.name, room.seq.last) == ("dm:alice:bob", 7)


def test_a_gap_holds_later_messages_until_catch_up_fills_it() -> None:
    rooms = Rooms()
    room, _ = rooms.joined(joined(2), page(1, 2), since=None, resumed=False)
    _, ready = rooms.message(message(9))
    assert ready == [] and room.behind
    stored = {seq: message(seq) for seq in range(1, 10)}
    asked: list[int] = []

    async def fetch(name: str, after: int) -> p.HistoryPage:
        asked.append(after)
        found = [stored[seq] for seq in sorted(stored) if seq > after][:2]
        return p.HistoryPage(room=name, messages=found, more=found[-1].seq < max(stored))

    emitted: list[p.MessageRecord] = []
    asyncio.run(catch_up(room, fetch, emitted.append))
    assert seqs(emitted) == [3, 4, 5, 6, 7, 8, 9]  # each once: 9 was held, not sent twice
    assert asked == [2, 4, 6]  # pages of two; the third releases the held 9
    assert not room.behind


def test_a_hole_the_server_cannot_fill_is_skipped_on_the_last_page() -> None:
    room = Room("general", Sequencer(2), target=2)
    room.offer(message(6))

    async def fetch(name: str, after: int) -> p.HistoryPage:
        return page(5, 6)  # 3 and 4 are gone for good

    emitted: list[p.MessageRecord] = []
    asyncio.run(catch_up(room, fetch, emitted.append))
    assert seqs(emitted) == [5, 6]
    assert (room.seq.last, room.behind) == (6, False)


def test_a_resume_from_below_the_floor_delivers_what_is_left_without_a_gap() -> None:
    rooms = Rooms()
    rooms.joined(joined(2), page(1, 2), since=None, resumed=False)
    # entries 3 to 599 were erased (retention) while the client was away
    erased = p.HistoryPage(
        room="general", messages=[message(s) for s in range(600, 900)], more=True, floor=600
    )
    room, events = rooms.joined(joined(1000), erased, since=2, resumed=True)
    assert seqs([e for e in events if isinstance(e, p.MessageRecord)]) == list(range(600, 900))
    assert (room.seq.last, room.seq.gap) == (899, False)
    rest = p.HistoryPage(
        room="general", messages=[message(s) for s in range(900, 1001)], more=False, floor=600
    )
    assert seqs(room.catch_up(rest)) == list(range(900, 1001))
    assert room.behind is False


def test_a_catch_up_page_from_the_floor_is_not_a_gap() -> None:
    room = Room("general", Sequencer(10), 700)
    pages = [
        p.HistoryPage(room="general", messages=[message(s) for s in range(500, 700)], more=True,
                      floor=500),
        p.HistoryPage(room="general", messages=[message(700)], more=False, floor=500),
    ]  # fmt: skip
    emitted: list[p.MessageRecord] = []

    async def fetch(name: str, after: int) -> p.HistoryPage:
        return pages.pop(0)

    asyncio.run(catch_up(room, fetch, emitted.append))
    assert seqs(emitted) == list(range(500, 701))
