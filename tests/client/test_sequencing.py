"""The client's pure parts: per-room ordering with gap detection, and the reconnect schedule."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from chat_tui.client.sequencing import Backoff, Sequencer


@dataclass(frozen=True)
class Item:
    seq: int


def seqs(items: list[Item]) -> list[int]:
    return [item.seq for item in items]


def test_in_order_messages_go_out_at_once() -> None:
    room: Sequencer[Item] = Sequencer(0)
    assert seqs(room.offer(Item(1))) == [1]
    assert seqs(room.offer(Item(2))) == [2]
    assert room.last == 2
    assert not room.gap


def test_duplicates_are_dropped() -> None:
    room: Sequencer[Item] = Sequencer(5)
    assert room.offer(Item(5)) == []
    assert room.offer(Item(3)) == []
    assert seqs(room.offer(Item(6))) == [6]
    assert room.offer(Item(6)) == []


def test_a_gap_holds_later_messages_until_it_is_filled() -> None:
    room: Sequencer[Item] = Sequencer(1)
    assert room.offer(Item(4)) == []
    assert room.offer(Item(3)) == []
    assert room.gap
    assert room.highest == 4
    assert room.offer(Item(4)) == []  # a duplicate of a held one
    assert seqs(room.offer(Item(2))) == [2, 3, 4]
    assert not room.gap
    assert room.last == 4


def test_skip_gap_delivers_what_is_held_when_the_hole_cannot_be_filled() -> None:
    room: Sequencer[Item] = Sequencer(1)
    room.offer(Item(5))
    room.offer(Item(6))
    room.offer(Item(9))
    assert seqs(room.skip_gap()) == [5, 6]
    assert room.gap  # 9 still waits for 7 and 8
    assert seqs(room.skip_gap()) == [9]
    assert room.skip_gap() == []


def test_advance_never_moves_back_and_drops_held_duplicates() -> None:
    room: Sequencer[Item] = Sequencer(3)
    room.offer(Item(5))
    room.advance(2)
    assert room.last == 3
    room.advance(6)
    assert room.last == 6
    assert not room.gap
    assert room.offer(Item(5)) == []


@given(st.lists(st.integers(min_value=1, max_value=40), max_size=200))
def test_any_arrival_order_is_delivered_once_and_in_order(arrivals: list[int]) -> None:
    """Whatever order (and repetition) messages arrive in, what goes out is 1, 2, 3, ...

    with no repeats; filling the rest in order (as `history after` does) completes it.
    """
    room: Sequencer[Item] = Sequencer(0)
    delivered: list[int] = []
    for seq in arrivals:
        delivered += seqs(room.offer(Item(seq)))
    assert delivered == list(range(1, len(delivered) + 1))
    for seq in range(1, 41):  # the gap fill
        delivered += seqs(room.offer(Item(seq)))
    assert delivered == list(range(1, 41))
    assert not room.gap


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, factor=2.0, cap=30.0)
    ceilings = [backoff.delay(n, rand=1.0) for n in range(10)]
    assert ceilings[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert ceilings[6:] == [30.0] * 4
    assert backoff.delay(1000, rand=1.0) == 30.0  # no overflow for a client down for days


def test_a_restarted_server_is_found_within_3_s_of_its_return() -> None:
    # However long the server was away, the next attempt comes at most 3 s later.
    assert [Backoff().delay(n, rand=1.0) for n in range(6)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert Backoff().delay(10_000, rand=1.0) == 3.0


@given(st.integers(min_value=0, max_value=200), st.floats(min_value=0.0, max_value=1.0))
def test_backoff_jitter_stays_between_half_and_all_of_the_window(attempt: int, rand: float) -> None:
    backoff = Backoff()
    window = min(backoff.cap, backoff.base * backoff.factor ** min(attempt, 64))
    assert window / 2 <= backoff.delay(attempt, rand) <= window


def test_backoff_spreads_clients_out() -> None:
    delays = {Backoff().delay(5) for _ in range(50)}
    assert len(delays) > 40
