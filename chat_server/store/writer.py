"""Group commit: one writer task takes every pending write, commits them in one
transaction, then resolves each in submission order.

The backend supplies ``apply_batch(ops, written)``, which runs a list of operations in
one transaction and returns one result (or exception) per operation, or raises when the
whole transaction failed; it calls ``written()`` once only the commit is left (below).
Futures are resolved in the order the batch was written in (the submission order, or the
backend's ``order``), so callbacks attached to them (ack, then fan-out) run in seq order.

Under heavy load the writer lingers before a batch, as PostgreSQL's ``commit_delay`` does:
every commit has a cost that does not depend on its size (the fsync, and one WAL page per
room it touches), so once a batch comes in big, the next one waits up to ``linger``
seconds (or until ``batch_max`` writes are pending) and shares that cost with more
writes. A write that finds the server quiet is committed at once.

A backend that takes concurrent transactions (PostgreSQL, whose row locks already order
the batches of several nodes) may have ``depth`` batches in flight: the next batch is
taken and sent as soon as the one before has called ``written()`` (its statements done,
its commit on the way), so the database works on it while this node writes the acks of
the one before. The next batch starts no sooner: by then the batch before holds the locks
of every room it writes to, so a room's seqs still follow the order the batches were
taken in, and the futures are resolved in that order too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from chat_server.errors import StoreError

log = logging.getLogger(__name__)

BatchFn = Callable[[Sequence[Any], Callable[[], None]], Awaitable[list[Any]]]
OrderFn = Callable[[Sequence[Any]], list[int]]
BatchObserver = Callable[[int, float], None]

# A batch of at least this many writes means heavy load (tens of thousands a second at a
# commit every few milliseconds): the next batch lingers for LINGER seconds.
LINGER_AFTER = 64
LINGER = 0.003


class GroupCommitter:
    """Owns the list of pending writes and the single writer task.

    A plain list and one wake-up future rather than an ``asyncio.Queue``: a send costs an
    append, and the writer takes everything pending in one slice.
    """

    def __init__(
        self,
        apply_batch: BatchFn,
        batch_max: int = 512,
        *,
        linger: float = LINGER,
        linger_after: int = LINGER_AFTER,
        order: OrderFn | None = None,
        depth: int = 1,
    ) -> None:
        """``order``: the order a batch is written (and its futures resolved) in, as
        positions of its writes; as submitted without it. ``depth``: the batches that may
        be in flight at once (see the module's doc)."""
        self._apply_batch = apply_batch
        self._order = order
        self._batch_max = batch_max
        self._linger = linger
        self._linger_after = linger_after
        self._pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self._wakeup: asyncio.Future[None] | None = None
        self._lingering = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(depth)
        self._depth = depth
        self.batches = 0
        self.operations = 0
        # told the size and the seconds of each batch committed (serve --metrics)
        self.observer: BatchObserver | None = None

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="group-commit")

    def submit(self, op: Any) -> asyncio.Future[Any]:
        """Queue one write; the future resolves after its transaction commits."""
        if self._task is None or self._task.done():
            raise StoreError("the writer is not running")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((op, future))
        if not self._lingering or len(self._pending) >= self._batch_max:
            self._wake()
        return future

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def stop(self) -> None:
        """Finish every write already submitted, then stop the writer."""
        task, self._task = self._task, None
        if task is None:
            return
        if not task.done():
            self._stopping = True
            self._wake()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        pending, self._pending = self._pending, []
        for _, future in pending:
            if not future.done():
                future.set_exception(StoreError("the server is shutting down"))

    async def _wait(self, timeout: float | None = None) -> None:
        """Sleep until ``_wake`` (or ``timeout`` seconds, when given)."""
        loop = asyncio.get_running_loop()
        self._wakeup = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, self._wake)
        try:
            await self._wakeup
        finally:
            self._wakeup = None
            if timer is not None:
                timer.cancel()

    async def _linger_for_more(self) -> None:
        """Wait up to ``linger`` seconds for the batch to fill (see the module's doc)."""
        self._lingering = True
        try:
            await self._wait(self._linger)
        finally:
            self._lingering = False

    async def _run(self) -> None:
        last = 0  # writes in the previous batch
        previous: asyncio.Task[None] | None = None  # the batch before, still in flight
        try:
            while True:
                if not self._pending:
                    if self._stopping:
                        return
                    await self._wait()
                    continue
                if (
                    last >= self._linger_after
                    and len(self._pending) < self._batch_max
                    and not self._stopping
                ):
                    await self._linger_for_more()
                if self._depth > 1:
                    await self._slots.acquire()  # a batch in flight resolved: room for one
                batch = self._pending[: self._batch_max]
                last = len(batch)
                del self._pending[: self._batch_max]
                if self._order is not None:
                    batch = [batch[i] for i in self._order([op for op, _ in batch])]
                if self._depth == 1:
                    await self._commit(batch, None, None)
                else:
                    written = asyncio.get_running_loop().create_future()
                    previous = asyncio.create_task(self._commit(batch, previous, written))
                    await written  # only its commit is left (or it failed)
        finally:
            if previous is not None:  # each waits for the one before: all are done
                await previous

    async def _commit(
        self,
        batch: list[tuple[Any, asyncio.Future[Any]]],
        previous: asyncio.Task[None] | None,
        written: asyncio.Future[None] | None,
    ) -> None:
        """Write one batch, then (after the batch before it) resolve its futures;
        ``written`` is set once only its commit is left."""

        def mark_written() -> None:
            if written is not None and not written.done():
                written.set_result(None)

        ops = [op for op, _ in batch]
        began = time.perf_counter()
        try:
            results: list[Any] | BaseException = await self._apply_batch(ops, mark_written)
        except Exception as exc:
            log.error("write batch of %d failed: %s", len(ops), exc)
            results = exc if isinstance(exc, StoreError) else StoreError(str(exc))
        finally:
            mark_written()
        seconds = time.perf_counter() - began
        if previous is not None:
            await previous
        try:
            if isinstance(results, BaseException):
                for _, future in batch:
                    if not future.done():
                        future.set_exception(results)
                return
            self.batches += 1
            self.operations += len(ops)
            if self.observer is not None:
                self.observer(len(ops), seconds)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        finally:
            if self._depth > 1:
                self._slots.release()
