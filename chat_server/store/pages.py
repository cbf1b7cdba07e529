"""History pages, for every backend: the newest, from a seq on, a message's thread,
around a seq.

Each runs its queries through ``query`` (SQL with ``?`` placeholders; PostgreSQL's store
numbers them). A page reads the protocol 1 columns and ``version``; only rows with a
version cost a second query, for their details, and a third, for the reactions of the
messages among them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from chat_server.errors import NotFound, NotMember
from chat_server.protocol import MAX_SEQ, Reaction, SearchHit
from chat_server.store.base import (
    DETAIL_COLUMNS,
    PAGE_COLUMNS,
    REACTIONS_SQL,
    Page,
    Room,
    details_span,
    history_page,
    reacted_ids,
    reactions_by_id,
    search_hits,
)

Query = Callable[[str, Sequence[Any]], Awaitable[list[Any]]]


def numbered(sql: str) -> str:
    """``sql`` with its ``?`` placeholders numbered as PostgreSQL's are (``$1``, ``$2``...);
    the queries here hold no other question mark."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))


async def page(
    query: Query, room: Room, rows: list[Any], limit: int, *, newest_first: bool
) -> Page:
    """``history_page`` with the details of the rows that have them, and the floor."""
    span = details_span(rows[:limit])
    floor = await floor_of(query, room, rows)
    if span is None:
        return history_page(room.name, rows, limit, newest_first=newest_first, floor=floor)
    details = {
        d[0]: d
        for d in await query(
            f"SELECT {DETAIL_COLUMNS} FROM messages WHERE room_id = ? AND seq >= ?"
            " AND seq <= ? AND version IS NOT NULL",
            (room.id, *span),
        )
    }
    reactions = await reactions_of(query, reacted_ids(details.values()))
    return history_page(
        room.name, rows, limit, newest_first=newest_first, details=details,
        reactions=reactions, floor=floor,
    )  # fmt: skip


async def floor_of(query: Query, room: Room, rows: Sequence[Any]) -> int:
    """The room's first seq still stored: 1 when the page holds entry 1 (never pruned),
    else the floor its rows carry (``_rows_of``), else one lookup of the room's row."""
    if any(r[0] == 1 for r in rows):
        return 1
    if rows:
        return int(rows[0][6])
    found = await query("SELECT floor FROM rooms WHERE id = ?", (room.id,))
    return int(found[0][0]) if found else 1


async def reactions_of(query: Query, ids: list[int]) -> dict[int, list[Reaction]]:
    """The reactions of the messages with these ids, by id."""
    if not ids:
        return {}
    sql = REACTIONS_SQL.format(ids=",".join("?" * len(ids)))
    return reactions_by_id(await query(sql, ids))


async def hits(query: Query, rows: Sequence[Any]) -> list[SearchHit]:
    """Search hits from rows of ``SEARCH_COLUMNS``, with the reactions of those that have
    a version (the others never changed)."""
    ids = [r[10] for r in rows if r[6] is not None]
    return search_hits(rows, await reactions_of(query, ids))


def _scope(room: Room, reader: int | None) -> tuple[str, tuple[int, ...]]:
    """The rows of ``room`` a page may read, as a WHERE condition and its parameters: with
    a ``reader``, only while that user is a member, tested in the statement that reads the
    rows (one snapshot), so a page read just after a kick committed elsewhere shows nothing
    even when the connection has not yet heard of the kick."""
    if reader is None:
        return "room_id = ?", (room.id,)
    member = "EXISTS (SELECT 1 FROM memberships WHERE user_id = ? AND room_id = ?)"
    return f"room_id = ? AND {member}", (room.id, reader, room.id)


def _rows_of(room: Room, reader: int | None) -> tuple[str, tuple[int, ...]]:
    """``SELECT`` of a page's rows up to its ``WHERE`` condition (``_scope``), and the
    parameters so far. Each row is ``PAGE_COLUMNS`` and the room's floor (looked up once
    per statement), which spares the page a query of its own for it."""
    where, scope = _scope(room, reader)
    select = f"SELECT {PAGE_COLUMNS}, (SELECT floor FROM rooms WHERE id = ?) FROM messages"
    return f"{select} WHERE {where}", (room.id, *scope)


async def _check_reader(query: Query, room: Room, reader: int | None) -> None:
    """After a page read no rows: NotMember when ``reader`` is not a member (the empty
    page stands otherwise)."""
    if reader is None:
        return
    if not await query(
        "SELECT 1 FROM memberships WHERE user_id = ? AND room_id = ?", (reader, room.id)
    ):
        raise NotMember(f"you are not a member of {room.name}")


async def recent(
    query: Query,
    room: Room,
    *,
    before: int | None,
    after: int | None,
    limit: int,
    upto: int | None,
    reader: int | None = None,
) -> Page:
    """A keyset page: ``after`` ascending from a seq, otherwise the newest before one.

    ``more`` says whether another page lies beyond this one in the paging direction
    (newer for ``after``, older otherwise). ``upto`` caps the page at a seq (a join reads
    history up to the ``last_seq`` it reported). ``reader``: see ``_scope``.
    """
    ceiling = upto if upto is not None else MAX_SEQ
    rows_of, scope = _rows_of(room, reader)
    if after is not None:
        rows = await query(
            f"{rows_of} AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
            (*scope, after, ceiling, limit + 1),
        )
        if not rows:
            await _check_reader(query, room, reader)
        return await page(query, room, rows, limit, newest_first=False)
    top = ceiling if before is None else min(before - 1, ceiling)
    if top < MAX_SEQ:
        # A room's seqs have no gaps, so the page is the range top-limit..top, read
        # oldest first: SQLite then steps the table forward, cheaper than backward
        # (~15 % for a room whose messages lie together). Fewer rows than the range
        # holds means a ``before`` past the room's end: the general query below.
        low = max(1, top - limit)
        rows = await query(
            f"{rows_of} AND seq >= ? AND seq <= ? ORDER BY seq",
            (*scope, low, top),
        )
        if len(rows) == top - low + 1:
            rows.reverse()
            return await page(query, room, rows, limit, newest_first=True)
    rows = await query(
        f"{rows_of} AND seq <= ? ORDER BY seq DESC LIMIT ?",
        (*scope, top, limit + 1),
    )
    if not rows:
        await _check_reader(query, room, reader)
    return await page(query, room, rows, limit, newest_first=True)


async def thread(
    query: Query,
    room: Room,
    seq: int,
    *,
    after: int | None,
    limit: int,
    reader: int | None = None,
) -> Page:
    """The thread of the message at ``seq`` (its root and the root's replies), ascending
    from ``after``; NotFound when ``seq`` is not a message of the room."""
    where, scope = _scope(room, reader)
    found = await query(
        f"SELECT thread FROM messages WHERE {where} AND seq = ? AND kind = 0", (*scope, seq)
    )
    if not found:
        await _check_reader(query, room, reader)
        raise NotFound(f"no message {seq} in {room.name}")
    root = found[0][0] or seq
    start = -1 if after is None else after
    rows_of, scope = _rows_of(room, reader)
    rows = await query(
        f"{rows_of} AND seq = ? AND seq > ?"
        f" UNION ALL {rows_of} AND thread = ?"
        " AND seq > ? ORDER BY seq LIMIT ?",
        (*scope, root, start, *scope, root, start, limit + 1),
    )
    if not rows:
        await _check_reader(query, room, reader)
    return await page(query, room, rows, limit, newest_first=False)


async def around(
    query: Query, room: Room, seq: int, *, limit: int, reader: int | None = None
) -> Page:
    """The ``limit`` entries from ``limit // 2`` before ``seq`` on; ``more``: there are
    older ones."""
    low = max(1, seq - limit // 2)
    rows_of, scope = _rows_of(room, reader)
    rows = await query(
        f"{rows_of} AND seq >= ? ORDER BY seq LIMIT ?",
        (*scope, low, limit),
    )
    if not rows:
        await _check_reader(query, room, reader)
    found = await page(query, room, rows, limit, newest_first=False)
    return dataclasses.replace(found, more=low > found.floor)
