"""Pure parts of the client: per-room ordering with gap detection, and the reconnect schedule.

No I/O here: the client feeds these with what the socket delivers and asks what to do next.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class HasSeq(Protocol):
    @property
    def seq(self) -> int: ...


T = TypeVar("T", bound=HasSeq)


class Sequencer(Generic[T]):
    """Delivers a room's messages exactly once and in seq order.

    ``last`` is the last seq delivered. A message at ``last + 1`` goes out at once (with any
    held messages it unblocks); one further ahead is held until the gap before it is filled
    (from ``history after=last``); one at or below ``last`` is a duplicate and is dropped.
    """

    def __init__(self, last: int = 0) -> None:
        self.last = last
        self._held: dict[int, T] = {}

    def offer(self, item: T) -> list[T]:
        """Take one message; return the messages now ready, in order."""
        if item.seq <= self.last or item.seq in self._held:
            return []
        self._held[item.seq] = item
        ready: list[T] = []
        while self.last + 1 in self._held:
            self.last += 1
            ready.append(self._held.pop(self.last))
        return ready

    @property
    def gap(self) -> bool:
        """Whether messages are held waiting for earlier ones."""
        return bool(self._held)

    @property
    def highest(self) -> int:
        """The highest seq known: delivered or held."""
        return max(self._held, default=self.last)

    def skip_gap(self) -> list[T]:
        """Give up on the missing seqs before the first held message and deliver from there.

        Only for when the server says there is nothing more to fetch, so that a hole the
        server cannot fill never stalls the room forever.
        """
        if not self._held:
            return []
        self.last = min(self._held) - 1
        ready: list[T] = []
        while self.last + 1 in self._held:
            self.last += 1
            ready.append(self._held.pop(self.last))
        return ready

    def advance(self, seq: int) -> None:
        """Mark everything up to ``seq`` as seen (never moves back), dropping held duplicates."""
        if seq > self.last:
            self.last = seq
            for held in [s for s in self._held if s <= seq]:
                del self._held[held]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: attempt n waits between half and all of base·factorⁿ.

    "Equal jitter" keeps a floor under each wait (no hammering right after a restart) while
    spreading a thousand clients' retries over the other half of the window. The cap keeps a
    restarted server's return noticed within 3 s (the waits are 1.5-3 s from the fourth on).
    """

    base: float = 0.5
    factor: float = 2.0
    cap: float = 3.0

    def delay(self, attempt: int, rand: float | None = None) -> float:
        """Seconds to wait before reconnect ``attempt`` (0 for the first retry)."""
        if rand is None:
            rand = random.random()
        ceiling = min(self.cap, self.base * self.factor ** min(attempt, 64))
        return ceiling / 2 + ceiling / 2 * rand

    def after(self, attempt: int, told: float | None, rand: float | None = None) -> float:
        """The wait before reconnect ``attempt`` when the server said to wait ``told`` seconds
        (a ``retry_after``, a ``Retry-After``): never sooner than it said, plus up to a second,
        since its whole seconds would bring every client told the same back in one instant."""
        if rand is None:
            rand = random.random()
        if told is None:
            return self.delay(attempt, rand)
        return max(self.delay(attempt, rand), told + rand)
