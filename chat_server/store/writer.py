"""Group commit: one writer task takes every pending write, commits them in one
transaction, then resolves each in submission order.

The backend supplies ``apply_batch``, which runs a list of operations in one transaction
and returns one result (or exception) per operation, or raises when the whole
transaction failed. Futures are resolved in submission order, so callbacks attached to
them (ack, then fan-out) run in seq order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from chat_server.errors import StoreError

log = logging.getLogger(__name__)

_STOP = object()

BatchFn = Callable[[Sequence[Any]], Awaitable[list[Any]]]


class GroupCommitter:
    """Owns the write queue and the single writer task."""

    def __init__(self, apply_batch: BatchFn, batch_max: int = 512) -> None:
        self._apply_batch = apply_batch
        self._batch_max = batch_max
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future[Any]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.operations = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    def submit(self, op: Any) -> asyncio.Future[Any]:
        """Queue one write; the future resolves after its transaction commits."""
        if self._task is None or self._task.done():
            raise StoreError("the writer is not running")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, future))
        return future

    async def stop(self) -> None:
        """Finish every write already submitted, then stop the writer."""
        task, self._task = self._task, None
        if task is None:
            return
        if not task.done():
            stopped: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._queue.put_nowait((_STOP, stopped))
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(StoreError("the server is shutting down"))

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if any(op is _STOP for op, _ in batch):
                cut = next(i for i, (op, _) in enumerate(batch) if op is _STOP)
                for _, late in batch[cut + 1 :]:
                    late.set_exception(StoreError("the server is shutting down"))
                batch, stopping = batch[:cut], True
                if not batch:
                    break
            ops = [op for op, _ in batch]
            try:
                results = await self._apply_batch(ops)
            except Exception as exc:
                log.error("write batch of %d failed: %s", len(ops), exc)
                error = exc if isinstance(exc, StoreError) else StoreError(str(exc))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            self.batches += 1
            self.operations += len(ops)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
