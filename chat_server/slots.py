"""A few slots and a bounded line for them, served by priority: the password hasher's queue.

argon2 costs tens of milliseconds and tens of MiB per hash, so only ``slots`` run at once.
Whoever cannot have a slot waits in a line of at most ``bound`` places, served best
priority first (lower numbers first), then first come first served. A line that is full
never grows: an arrival that ranks above the worst waiter takes that waiter's place (the
waiter is told :class:`~chat_server.errors.Busy`), any other arrival is told Busy at once.
Nobody waits behind a line that cannot move, and a flood of low-priority work (signups)
never keeps high-priority work (logins of existing accounts) out.

``reserved`` slots (one, when there are two or more) are only ever given to the best
priority (0): suspect logins and signups never take the last of them, so a clean login
finds a slot at once, whatever else is hashing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from chat_server.errors import Busy


@dataclass(eq=False, slots=True)
class _Waiter:
    priority: int
    order: int
    future: asyncio.Future[None] = field(repr=False)


class PriorityGate:
    """``slots`` holders at once; a line of at most ``bound`` waiters, best priority first."""

    def __init__(self, slots: int, bound: int, reserved: int | None = None) -> None:
        if slots < 1 or bound < 0:
            raise ValueError("a gate has at least one slot and a line of zero or more")
        self.slots = slots
        self.bound = bound
        self.reserved = min(1, slots - 1) if reserved is None else reserved
        if not 0 <= self.reserved < slots:
            raise ValueError("a gate keeps fewer slots for its best priority than it has")
        self._free = slots
        self._line: list[_Waiter] = []
        self._order = itertools.count()
        self.service_time = 0.1  # seconds a holder keeps a slot, on average (see observe)

    @property
    def waiting(self) -> int:
        return len(self._line)

    @property
    def busy(self) -> int:
        """Slots held now."""
        return self.slots - self._free

    def retry_after(self) -> float:
        """When asking again may find a place: the line's worth of service, at least 1 s."""
        rounds = len(self._line) / self.slots + 1
        return max(1.0, rounds * self.service_time)

    def observe(self, seconds: float) -> None:
        """Fold one holder's time into the average that :meth:`retry_after` uses."""
        self.service_time += 0.2 * (seconds - self.service_time)

    async def acquire(self, priority: int) -> None:
        """A slot, now or after those ranked before; raises Busy when there is no place."""
        if self._may_take(priority) and not any(w.priority <= priority for w in self._line):
            self._free -= 1
            return
        if len(self._line) >= self.bound:
            worst = max(self._line, key=_rank, default=None)
            if worst is None or worst.priority <= priority:
                raise Busy(self.retry_after())
            self._line.remove(worst)
            if not worst.future.done():  # not cancelled a moment ago
                worst.future.set_exception(Busy(self.retry_after()))
        waiter = _Waiter(priority, next(self._order), asyncio.get_running_loop().create_future())
        self._line.append(waiter)
        try:
            await waiter.future
        except BaseException:
            if waiter in self._line:  # cancelled while waiting
                self._line.remove(waiter)
            elif _granted(waiter.future):  # handed a slot just as it was cancelled
                self.release()
            raise

    def release(self) -> None:
        """Give a held slot back: to the best waiter that may take it, or to the free pool."""
        self._free += 1
        while self._line:
            best = min(self._line, key=_rank)
            if not self._may_take(best.priority):
                return  # what is free is kept for the best priority
            self._line.remove(best)
            if not best.future.done():  # not cancelled a moment ago
                self._free -= 1
                best.future.set_result(None)
                return

    def _may_take(self, priority: int) -> bool:
        return self._free > (0 if priority == 0 else self.reserved)

    @contextlib.asynccontextmanager
    async def hold(self, priority: int) -> AsyncIterator[None]:
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()


def _rank(waiter: _Waiter) -> tuple[int, int]:
    return waiter.priority, waiter.order


def _granted(future: asyncio.Future[None]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None
