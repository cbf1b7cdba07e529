"""The command line's rooms on the SQLite store: the list, and erasing a room.

A removed room's row stays, renamed out of the room namespace (``removed:ID``) and marked a
direct conversation, so it is listed nowhere and its id is never given to a new room: a
running server's writer keeps each room's name and last seq by id (``batch.WriterCache``),
and would otherwise stamp a new room's entries with the removed one's. Everything else of
the room is deleted; its messages' words leave the search index as a delete's do
(``changes.py``: FTS5's 'delete', then the merge the store runs when it closes).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chat_server.store.base import RoomSummary, StoreFigures
from chat_server.store.sqlite.changes import forget_erased_ids

if TYPE_CHECKING:
    from chat_server.store.sqlite.batch import WriterCache

SUMMARIES_SQL = (
    "SELECT r.name, r.private, r.member_count, COALESCE((SELECT m.ts FROM messages m"
    " WHERE m.room_id = r.id AND m.seq = r.last_seq), r.created_at)"
    " FROM rooms r WHERE r.is_dm = 0 ORDER BY r.name"
)

FIGURES_SQL = (
    "SELECT (SELECT COUNT(*) FROM users WHERE removed_at IS NULL),"
    " (SELECT COUNT(*) FROM rooms WHERE is_dm = 0),"
    " (SELECT COUNT(*) FROM rooms WHERE is_dm = 1 AND name LIKE 'dm:%'),"
    " (SELECT COUNT(*) FROM messages WHERE kind = 0 AND deleted = 0),"
    " (SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size())"
)


@dataclasses.dataclass(frozen=True, slots=True)
class RemoveRoom:
    """Erase the room called ``name``; the result says whether there was one."""

    name: str


def remove_room(conn: sqlite3.Connection, name: str, known: WriterCache) -> bool:
    row = conn.execute("SELECT id FROM rooms WHERE name = ? AND is_dm = 0", (name,)).fetchone()
    if row is None:
        return False
    room_id = row[0]
    (upto,) = conn.execute("SELECT upto FROM search_indexed").fetchone()
    indexed = conn.execute(
        "INSERT INTO messages_fts (messages_fts, rowid, body) SELECT 'delete', id, body"
        " FROM messages WHERE room_id = ? AND kind = 0 AND deleted = 0 AND id <= ?",
        (room_id, upto),
    ).rowcount
    conn.execute(
        "DELETE FROM reactions WHERE message_id IN (SELECT id FROM messages WHERE room_id = ?)",
        (room_id,),
    )
    for table in ("messages", "memberships", "room_bans", "room_invites"):
        conn.execute(f"DELETE FROM {table} WHERE room_id = ?", (room_id,))
    forget_erased_ids(conn, known)
    conn.execute(
        "UPDATE rooms SET name = 'removed:' || id, is_dm = 1, private = 1, topic = '',"
        " created_by = NULL WHERE id = ?",
        (room_id,),
    )
    if indexed > 0:
        conn.execute("UPDATE search_indexed SET purge = 1")
        known.purge = True
    return True


class SQLiteRoomAdmin:
    """SQLiteStore's rooms for the command line."""

    if TYPE_CHECKING:  # SQLiteStore's plumbing (store.py)

        async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

        async def _write(self, op: Any) -> Any: ...

    async def room_summaries(self) -> list[RoomSummary]:
        rows = await self._all(SUMMARIES_SQL)
        return [RoomSummary(r[0], bool(r[1]), r[2], r[3]) for r in rows]

    async def figures(self) -> StoreFigures:
        (row,) = await self._all(FIGURES_SQL)
        return StoreFigures(*row)

    async def remove_room(self, name: str) -> bool:
        removed: bool = await self._write(RemoveRoom(name))
        return removed
