"""Retention: the task that prunes what rooms keep no longer (``serve --retention``, a
room's own ``chat-server rooms retention``).

Every ``retention_interval`` seconds it asks the store which rooms have entries that may
expire, and prunes each room from its floor, ``PRUNE_BATCH`` entries per write of the
group committer's, then waits ``retention_pause`` seconds or as long as that prune took,
whichever is longer: other people's writes go between any two prunes, none waits behind a
long transaction, and the writer spends at most about half its time pruning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from chat_server.errors import StoreError
from chat_server.store import Store
from chat_server.store.base import PRUNE_BATCH
from chat_server.text import format_ts

log = logging.getLogger("chat_server")


class Pruner:
    """The pruning task of one server."""

    def __init__(
        self, store: Store, default: float | None, *, interval: float, pause: float
    ) -> None:
        self.store = store
        self.default = default
        self.interval = interval
        self.pause = pause
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="retention")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while True:
            try:
                erased = await self.sweep()
            except StoreError as exc:
                log.warning("retention: pruning failed: %s", exc)
            else:
                if erased:
                    log.info("retention: %d expired entries erased", erased)
            await asyncio.sleep(self.interval)

    async def sweep(self, now: float | None = None) -> int:
        """Prune every room of what expired at ``now`` (Unix time; the clock's when None);
        how many entries were erased."""
        moment = time.time() if now is None else now
        erased = 0
        for room_id, seconds in await self.store.expiring_rooms(self.default):
            before = format_ts(datetime.fromtimestamp(moment - seconds, UTC))
            while True:
                began = time.monotonic()
                taken = await self.store.prune(room_id, before)
                erased += taken
                if taken < PRUNE_BATCH:
                    break
                await asyncio.sleep(max(self.pause, time.monotonic() - began))
        if erased:
            await self.store.sweep_done()
        return erased
