"""Retention and export on the PostgreSQL store.

A prune (``Prune``) is a write of the group committer's, so it shares a batch's transaction
(and its lock of the room's row) with what else is pending, at most ``limit`` entries each.
It erases as a delete does: the reactions of the messages it takes, the text of their edits
kept above the floor, then the entries' rows, whose words leave the full-text index with
them (the index is over the table); the room's floor moves past them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from chat_server.protocol import MessageRecord
from chat_server.store import pages
from chat_server.store.base import PRUNE_BATCH, ExportFilter, Retention, expired
from chat_server.store.export import export_query, exported
from chat_server.store.postgres.schema import Conn, Row


@dataclasses.dataclass(frozen=True, slots=True)
class Prune:
    """Erase up to ``limit`` of the room's oldest entries made before ``before``."""

    room_id: int
    before: str
    limit: int


_OLDEST: Final = (
    "SELECT m.seq, m.ts FROM messages m"
    " WHERE m.room_id = $1 AND m.seq >= $2 ORDER BY m.seq LIMIT $3"
)


async def prune(conn: Conn, op: Prune) -> int:
    floor = await conn.fetchval("SELECT floor FROM rooms WHERE id = $1 FOR UPDATE", op.room_id)
    if floor is None:
        return 0
    rows = await conn.fetch(_OLDEST, op.room_id, floor, op.limit)
    taken = expired(rows, op.before)
    if taken == 0:
        return 0
    low, top = rows[0][0], rows[taken - 1][0]
    await conn.execute(
        "DELETE FROM reactions WHERE message_id IN"
        " (SELECT id FROM messages WHERE room_id = $1 AND seq >= $2 AND seq <= $3)",
        op.room_id, low, top,
    )  # fmt: skip
    # edits still above the floor of the messages that go: their text goes too
    await conn.execute(
        "UPDATE messages SET body = '' WHERE room_id = $1 AND target >= $2 AND target <= $3"
        " AND kind = 1 AND seq > $3",
        op.room_id, low, top,
    )  # fmt: skip
    await conn.execute(
        "DELETE FROM messages WHERE room_id = $1 AND seq >= $2 AND seq <= $3", op.room_id, low, top
    )
    await conn.execute("UPDATE rooms SET floor = $1 WHERE id = $2", top + 1, op.room_id)
    return taken


class PostgresRetention:
    """PostgresStore's retention and export."""

    if TYPE_CHECKING:  # PostgresStore's plumbing (store.py)

        async def _all(self, sql: str, *args: object) -> list[Row]: ...

        async def _one(self, sql: str, *args: object) -> Row | None: ...

        async def _execute(self, sql: str, *args: object) -> int: ...

        async def _page_query(self, sql: str, params: Sequence[Any]) -> list[Any]: ...

        async def _write(self, op: Any) -> Any: ...

    async def set_retention(self, name: str, seconds: int | None) -> bool:
        changed = await self._execute(
            "UPDATE rooms SET retention_s = $1 WHERE name = $2", seconds, name
        )
        return changed > 0

    async def retention(self, room_id: int) -> Retention:
        row = await self._one("SELECT floor, retention_s FROM rooms WHERE id = $1", room_id)
        return Retention(row[0], row[1]) if row else Retention(1, None)

    async def expiring_rooms(self, default: float | None) -> list[tuple[int, float]]:
        rows = await self._all(
            "SELECT id, COALESCE(retention_s, $1) FROM rooms"
            " WHERE COALESCE(retention_s, $1) > 0 AND floor <= last_seq ORDER BY id",
            int(default or 0),
        )
        return [(r[0], float(r[1])) for r in rows]

    async def prune(self, room_id: int, before: str, limit: int = PRUNE_BATCH) -> int:
        erased: int = await self._write(Prune(room_id, before, limit))
        return erased

    async def sweep_done(self) -> None:
        """Nothing to do: the full-text index is over the table, rows and words go together."""

    async def export_page(
        self, which: ExportFilter, after_id: int, limit: int
    ) -> tuple[list[MessageRecord], int]:
        sql, params = export_query(which, after_id, limit)
        rows = await self._page_query(sql, params)
        ids = [r[0] for r in rows if r[9] is not None]
        reactions = await pages.reactions_of(self._page_query, ids)
        return exported(rows, reactions, limit, by_seq=which.room is not None)
