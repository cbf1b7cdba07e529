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

BatchFn = Callable[[Sequence[Any]], Awaitable[list[Any]]]


class GroupCommitter:
    """Owns the list of pending writes and the single writer task.

    A plain list and one wake-up future rather than an ``asyncio.Queue``: a send costs an
    append, and the writer takes everything pending in one slice.
    """

    def __init__(self, apply_batch: BatchFn, batch_max: int = 512) -> None:
        self._apply_batch = apply_batch
        self._batch_max = batch_max
        self._pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self._wakeup: asyncio.Future[None] | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.operations = 0

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="group-commit")

    def submit(self, op: Any) -> asyncio.Future[Any]:
        """Queue one write; the future resolves after its transaction commits."""
        if self._task is None or self._task.done():
            raise StoreError("the writer is not running")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((op, future))
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

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._stopping:
                    return
                self._wakeup = asyncio.get_running_loop().create_future()
                await self._wakeup
                self._wakeup = None
                continue
            batch = self._pending[: self._batch_max]
            del self._pending[: self._batch_max]
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
