"""The command line's rooms on the PostgreSQL store: the list, and erasing a room.

A removed room is deleted with everything of it; its messages leave the full-text index with
their rows (the index is over the table). Nodes keep nothing of a room between batches but
its id by name (``Context.rooms``), which a restart forgets.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from chat_server.store.base import RoomSummary, StoreFigures
from chat_server.store.postgres.schema import Conn, Row

FIGURES_SQL = (
    "SELECT (SELECT COUNT(*) FROM users WHERE removed_at IS NULL),"
    " (SELECT COUNT(*) FROM rooms WHERE NOT is_dm),"
    " (SELECT COUNT(*) FROM rooms WHERE is_dm AND name LIKE 'dm:%'),"
    " (SELECT COUNT(*) FROM messages WHERE kind = 0 AND NOT deleted),"
    " (SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema() AND c.relkind = 'r')"
)
SUMMARIES_SQL = (
    "SELECT r.name, r.private, r.member_count, COALESCE((SELECT m.ts FROM messages m"
    " WHERE m.room_id = r.id AND m.seq = r.last_seq),"
    " to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"
    ' FROM rooms r WHERE NOT r.is_dm ORDER BY r.name COLLATE "C"'
)


class PostgresRoomAdmin:
    """PostgresStore's rooms for the command line."""

    if TYPE_CHECKING:  # PostgresStore's plumbing (store.py)

        async def _all(self, sql: str, *args: object) -> list[Row]: ...

        def _tx(self) -> AbstractAsyncContextManager[Conn]: ...

    async def figures(self) -> StoreFigures:
        (row,) = await self._all(FIGURES_SQL)
        return StoreFigures(*(int(row[i]) for i in range(5)))

    async def room_summaries(self) -> list[RoomSummary]:
        rows = await self._all(SUMMARIES_SQL)
        return [RoomSummary(r[0], r[1], r[2], r[3]) for r in rows]

    async def remove_room(self, name: str) -> bool:
        async with self._tx() as conn:
            # the room's row first, as a write batch locks it: the two never deadlock
            room_id = await conn.fetchval(
                "SELECT id FROM rooms WHERE name = $1 AND NOT is_dm FOR UPDATE", name
            )
            if room_id is None:
                return False
            await conn.execute(
                "DELETE FROM reactions WHERE message_id IN"
                " (SELECT id FROM messages WHERE room_id = $1)",
                room_id,
            )
            for table in ("messages", "memberships", "room_bans", "room_invites"):
                await conn.execute(f"DELETE FROM {table} WHERE room_id = $1", room_id)
            await conn.execute("DELETE FROM rooms WHERE id = $1", room_id)
        return True
