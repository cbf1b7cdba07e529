"""Full-text search on SQLite (FTS5), newest first.

FTS5 reads a word's list of messages fast in either direction from its newest end, but
from anywhere else only ascending: asked for the newest matches below a rowid far under
the newest message (an old room, with the chat's later traffic above it), it steps back
over everything above that rowid in each of the index's segments, about 0.8 ms for two
words in a room of 1,000,000 under another 1,000,000 messages, where an ascending read of
a few thousand rowids there takes 0.1 ms (``benchmarks/README.md``, "search-1m: the
index read ascending"). So a search whose rooms end near the newest message reads the
index newest first and stops at the limit, in one query; any other reads it in windows of
rowids, the newest window first, each window ascending and its newest hits kept (a sort
of at most the limit), the next window sized by the hits the last one found, until the
page is full or the rooms' first message is passed. The result is the same either way:
the newest hits, newest first.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from chat_server.store.base import SEARCH_COLUMNS

# Rowids under the newest message within which a descending read is still as quick as a
# window's ascending one (measured: 0.28 against 0.31 ms 10,000 below the top, 0.59
# against 0.15 ms at 100,000 below).
DESCENDING_REACH: Final = 8192
# The first window's rowids: at one match in 60 (two words of a small vocabulary) a page
# of 50 in about 3,000 of a busy room's messages.
WINDOW: Final = 4096
# How far a window overshoots the hits still wanted, at the density the last one found
# (a window that found nothing: the next one this many times as large).
WINDOW_MARGIN: Final = 1.5
WINDOW_GROWTH: Final = 8

# The rooms' span: from the first entry of the oldest room searched to the last of the
# newest, so no read goes beyond them; and the newest message of all.
_SPAN = (
    "SELECT min((SELECT id FROM messages WHERE room_id = s.room_id ORDER BY seq LIMIT 1)),"
    " max((SELECT id FROM messages WHERE room_id = s.room_id ORDER BY seq DESC LIMIT 1)),"
    " (SELECT max(id) FROM messages) FROM memberships s WHERE s.user_id = ?1"
)
SPAN_SQL: Final = {False: _SPAN, True: _SPAN + " AND s.room_id = ?2"}


def _sql(in_room: bool, descending: bool) -> str:
    """Hits of the words (?2) in the rooms of user ?1 (only room ?4 when ``in_room``)
    between rowids ?5 and ?6, the ?3 newest. Descending, FTS5 walks the matches newest
    first and the query stops at the limit (CROSS JOIN keeps the tables' order, which the
    planner might change once ANALYZE has run, and with it sort every match). Ascending
    (``f.rowid + 0``: an order FTS5 is not asked for), the window's matches are read
    oldest first and a sort of at most ?3 rows keeps the newest."""
    order = "f.rowid DESC" if descending else "f.rowid + 0 DESC"
    return (
        f"SELECT {SEARCH_COLUMNS} FROM messages_fts f CROSS JOIN messages m ON m.id = f.rowid"
        " CROSS JOIN memberships ms ON ms.room_id = m.room_id AND ms.user_id = ?1"
        " CROSS JOIN rooms r ON r.id = m.room_id"
        " WHERE messages_fts MATCH ?2 AND m.kind = 0 AND m.deleted = 0"
        " AND f.rowid >= ?5 AND f.rowid <= ?6"
        + (" AND m.room_id = ?4" if in_room else "")
        + f" ORDER BY {order} LIMIT ?3"
    )


FIND_SQL: Final = {
    (in_room, descending): _sql(in_room, descending)
    for in_room in (False, True)
    for descending in (False, True)
}


def newest_hits(
    conn: sqlite3.Connection,
    user_id: int,
    query: str,
    room_id: int | None,
    limit: int,
    window: int = WINDOW,
    reach: int = DESCENDING_REACH,
) -> list[Any]:
    """On the search thread: rows of ``SEARCH_COLUMNS``, the newest ``limit`` messages in
    the user's rooms (or in ``room_id``) matching the FTS5 ``query``, newest first."""
    in_room = room_id is not None
    span = (user_id, room_id) if in_room else (user_id,)
    first, last, newest = conn.execute(SPAN_SQL[in_room], span).fetchone()
    if first is None or last is None:
        return []
    if last >= newest - reach:
        params = (user_id, query, limit, room_id, first, last)
        return conn.execute(FIND_SQL[in_room, True], params).fetchall()
    rows: list[Any] = []
    top = last
    while top >= first and len(rows) < limit:
        bottom = max(first, top - window + 1)
        wanted = limit - len(rows)
        params = (user_id, query, wanted, room_id, bottom, top)
        found = conn.execute(FIND_SQL[in_room, False], params).fetchall()
        rows += found
        if found:
            window = max(window, int(window * (wanted - len(found)) / len(found) * WINDOW_MARGIN))
        else:
            window *= WINDOW_GROWTH
        top = bottom - 1
    return rows
