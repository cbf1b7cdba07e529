"""Full-text search on PostgreSQL, newest first.

A GIN index has no order: asked for the newest 50 messages holding two common words, it
hands over every match in the room (tens of thousands in a million) to be fetched and
sorted. People search for what they saw lately, so a search first walks the newest
``WALK`` entries (of the room, or of the whole chat when no room is given) backwards along
their own order and tests each message's stored words (``messages.words``, migration 13):
common words fill the page within a few thousand entries and the walk stops there. Only
when the walk finds fewer than the page does the index answer for what lies below the
oldest hit found (or everywhere, if none was): rare words, for which the index is quick.
The result is the same as one query's: the newest hits, newest first (in a room by seq,
across rooms by id, the order of commits).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from chat_server.store.base import SEARCH_COLUMNS

Fetch = Callable[..., Awaitable[list[Any]]]

# Entries a search walks before it asks the index: at 1 match in 60 entries (two words
# of a small vocabulary) a page of 50 is found within about 3,000.
WALK = 10_000

# The words as a query, made once per statement (a subquery: in a cached plan the
# function would otherwise run again for every entry walked).
_QUERY = "(SELECT plainto_tsquery('simple', $2))"
_JOIN = (
    " JOIN memberships ms ON ms.room_id = m.room_id AND ms.user_id = $1"
    " JOIN rooms r ON r.id = m.room_id"
    f" WHERE m.words @@ {_QUERY} AND m.kind = 0"
)
# The walks: a range of the newest entries, read backwards along an index in the order
# of the result, so the scan ends as soon as the page is full. The range is a subquery of
# its own (OFFSET 0): the plan PostgreSQL caches for the statement, made without the
# words, would otherwise intersect the range with every match of the full-text index.
ROOM_WALK_SQL = (
    f"SELECT {SEARCH_COLUMNS} FROM (SELECT * FROM messages WHERE room_id = $3"
    " AND seq > (SELECT last_seq FROM rooms WHERE id = $3) - $5 ORDER BY seq DESC OFFSET 0) m"
    f"{_JOIN} ORDER BY m.seq DESC LIMIT $4"
)
WALK_SQL = (
    f"SELECT {SEARCH_COLUMNS} FROM (SELECT * FROM messages"
    " WHERE id > (SELECT max(id) FROM messages) - $4 ORDER BY id DESC OFFSET 0) m"
    f"{_JOIN} ORDER BY m.id DESC LIMIT $3"
)
# The index, below what the walk found. The matches are collected first (MATERIALIZED:
# planned without the ORDER BY and LIMIT, so along the full-text index, never a walk of
# the whole table that a guess of the words' frequency could choose), whole rows: joined
# back to ``messages`` by id, PostgreSQL would merge along the primary key instead.
_INDEXED = (
    "WITH found AS MATERIALIZED (SELECT * FROM messages"
    f" WHERE words @@ {_QUERY} AND kind = 0{{room}})"
    f" SELECT {SEARCH_COLUMNS} FROM found m"
    " JOIN memberships ms ON ms.room_id = m.room_id AND ms.user_id = $1"
    " JOIN rooms r ON r.id = m.room_id WHERE m.{key} < $3 ORDER BY m.{key} DESC LIMIT $4"
)
# (room_id + 0: not along the room's index, whose million entries for a big room cost
# more to intersect with the matches than checking each match's room)
ROOM_INDEXED_SQL = _INDEXED.format(room=" AND room_id + 0 = $5", key="seq")
INDEXED_SQL = _INDEXED.format(room="", key="id")

# (no seq or id is this large: "below" it is everywhere)
_TOP = 2**63 - 1


async def search(
    fetch: Fetch,
    user_id: int,
    words: Sequence[str],
    room_id: int | None,
    limit: int,
    walk: int = WALK,
) -> list[Any]:
    """Rows of ``SEARCH_COLUMNS``: the newest ``limit`` messages in the user's rooms (or in
    ``room_id``) holding every word, newest first. ``fetch(sql, *args)`` runs one query."""
    text = " ".join(words)
    if room_id is not None:
        rows = await fetch(ROOM_WALK_SQL, user_id, text, room_id, limit, walk)
    else:
        rows = await fetch(WALK_SQL, user_id, text, limit, walk)
    if len(rows) >= limit:
        return rows
    left = limit - len(rows)
    # below the oldest hit: its seq in a room, else its id (``SEARCH_COLUMNS``)
    if room_id is not None:
        below = rows[-1][1] if rows else _TOP
        older = await fetch(ROOM_INDEXED_SQL, user_id, text, below, left, room_id)
    else:
        below = rows[-1][10] if rows else _TOP
        older = await fetch(INDEXED_SQL, user_id, text, below, left)
    return [*rows, *older]
