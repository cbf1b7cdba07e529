"""Retention on the SQLite store: a prune.

A prune is a write of the writer's (``Prune``), so it shares a group commit with whatever
else is pending and never holds the database for long: at most ``limit`` entries each. It
erases as a delete does (``changes.py``): the words of the messages it takes leave the
search index (FTS5's 'delete', then the merge the store schedules once the sweep is over:
``SweepDone``), their reactions go, and
an edit kept above the floor of a message below it loses its text. Then the entries' rows
go, and the room's floor moves past them.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import TYPE_CHECKING, Final

from chat_server.store.base import expired
from chat_server.store.sqlite.changes import forget_erased_ids

if TYPE_CHECKING:
    from chat_server.store.sqlite.batch import WriterCache


@dataclasses.dataclass(frozen=True, slots=True)
class Prune:
    """Erase up to ``limit`` of the room's oldest entries made before ``before``."""

    room_id: int
    before: str
    limit: int


# The entries of a room from its floor on, oldest first: those a prune may take.
_OLDEST: Final = (
    "SELECT m.seq, m.ts FROM rooms r JOIN messages m ON m.room_id = r.id AND m.seq >= r.floor"
    " WHERE r.id = ? ORDER BY m.seq LIMIT ?"
)


def prune(conn: sqlite3.Connection, op: Prune, known: WriterCache) -> int:
    rows = conn.execute(_OLDEST, (op.room_id, op.limit)).fetchall()
    taken = expired(rows, op.before)
    if taken == 0:
        return 0
    low, top = rows[0][0], rows[taken - 1][0]
    span = (op.room_id, low, top)
    (upto,) = conn.execute("SELECT upto FROM search_indexed").fetchone()
    indexed = conn.execute(
        "INSERT INTO messages_fts (messages_fts, rowid, body) SELECT 'delete', id, body"
        " FROM messages WHERE room_id = ? AND seq >= ? AND seq <= ? AND kind = 0"
        " AND deleted = 0 AND id <= ?",
        (*span, upto),
    ).rowcount
    conn.execute(
        "DELETE FROM reactions WHERE message_id IN"
        " (SELECT id FROM messages WHERE room_id = ? AND seq >= ? AND seq <= ?)",
        span,
    )
    # edits still above the floor of the messages that go: their text goes too
    conn.execute(
        "UPDATE messages SET body = '' WHERE room_id = ? AND target >= ? AND target <= ?"
        " AND kind = 1 AND seq > ?",
        (*span, top),
    )
    conn.execute("DELETE FROM messages WHERE room_id = ? AND seq >= ? AND seq <= ?", span)
    forget_erased_ids(conn, known)  # the room's newest entries may have gone too
    conn.execute("UPDATE rooms SET floor = ? WHERE id = ?", (top + 1, op.room_id))
    if indexed > 0:  # merged out of the index once the sweep is over (``SweepDone``)
        conn.execute("UPDATE search_indexed SET purge = 1")
    return taken


@dataclasses.dataclass(frozen=True, slots=True)
class SweepDone:
    """The retention task's sweep is over: the search index's purge may start."""


def sweep_done(conn: sqlite3.Connection, known: WriterCache) -> bool:
    """Let the store purge the words the sweep's prunes took out of the search index: its
    merge steps never run between prunes, which they slowed and, with SQLite 3.40.1, in a
    room of 1,000,000, corrupted (``benchmarks/README.md``, retention-purge; the store holds
    back the steps an edit or a delete made due as well: ``store._schedule_purge``)."""
    (purge,) = conn.execute("SELECT purge FROM search_indexed").fetchone()
    known.purge = bool(purge)
    return known.purge
