"""Retention and export on the SQLite store (a prune itself: ``prune.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chat_server.protocol import MessageRecord
from chat_server.store import pages
from chat_server.store.base import PRUNE_BATCH, ExportFilter, Retention
from chat_server.store.export import export_query, exported
from chat_server.store.sqlite.batch import Sql
from chat_server.store.sqlite.prune import Prune, SweepDone


class SQLiteRetention:
    """SQLiteStore's retention and export."""

    if TYPE_CHECKING:  # SQLiteStore's plumbing (store.py)

        async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

        def _now(self, sql: str, params: Sequence[Any]) -> list[Any]: ...

        async def _write(self, op: Any) -> Any: ...

        _sweeping: bool
        _sweep_erased: int

        def _schedule_purge(self) -> None: ...

    async def set_retention(self, name: str, seconds: int | None) -> bool:
        changed: int = await self._write(
            Sql("UPDATE rooms SET retention_s = ? WHERE name = ?", (seconds, name))
        )
        return changed > 0

    async def retention(self, room_id: int) -> Retention:
        rows = self._now("SELECT floor, retention_s FROM rooms WHERE id = ?", (room_id,))
        return Retention(rows[0][0], rows[0][1]) if rows else Retention(1, None)

    async def expiring_rooms(self, default: float | None) -> list[tuple[int, float]]:
        rows = await self._all(
            "SELECT id, COALESCE(retention_s, ?) FROM rooms"
            " WHERE COALESCE(retention_s, ?) > 0 AND floor <= last_seq ORDER BY id",
            (default or 0, default or 0),
        )
        return [(r[0], float(r[1])) for r in rows]

    async def prune(self, room_id: int, before: str, limit: int = PRUNE_BATCH) -> int:
        self._sweeping = True  # the search index's purge waits (``store._schedule_purge``)
        erased: int = await self._write(Prune(room_id, before, limit))
        self._sweep_erased += erased
        self._sweeping = self._sweep_erased > 0  # else no ``sweep_done`` comes
        return erased

    async def sweep_done(self) -> None:
        await self._write(SweepDone())
        self._sweeping, self._sweep_erased = False, 0
        self._schedule_purge()

    async def export_page(
        self, which: ExportFilter, after_id: int, limit: int
    ) -> tuple[list[MessageRecord], int]:
        sql, params = export_query(which, after_id, limit)
        rows = await self._all(sql, params)
        reactions = await pages.reactions_of(self._all, [r[0] for r in rows if r[9] is not None])
        return exported(rows, reactions, limit, by_seq=which.room is not None)
