"""``chat-server export``'s reads, for every backend: messages as they are now, a page at a
time by a keyset (a room's seq, else the storage id), so an export of any size runs in the
memory of one page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from chat_server.protocol import MessageRecord, Reaction
from chat_server.store.base import ExportFilter

# What a page reads of each message, in the order ``exported`` takes it.
EXPORT_COLUMNS: Final = (
    "m.id, r.name, m.seq, m.nick, m.body, m.ts, m.client_id, m.edited, m.reply_to, m.version,"
    " m.thread, m.replies"
)


def export_query(which: ExportFilter, after: int, limit: int) -> tuple[str, list[Any]]:
    """The SQL (``?`` placeholders) and parameters of the page after the position ``after``:
    a seq when ``which`` names a room (its index keeps the order), else a message id."""
    key = "m.seq" if which.room is not None else "m.id"
    sql = (
        f"SELECT {EXPORT_COLUMNS} FROM messages m JOIN rooms r ON r.id = m.room_id"
        f" WHERE m.kind = 0 AND NOT m.deleted AND {key} > ?"
    )
    params: list[Any] = [after]
    if which.room is not None:
        sql += " AND m.room_id = (SELECT id FROM rooms WHERE name = ?)"
        params.append(which.room)
    if which.user_id is not None:
        sql += " AND m.author_id = ?"
        params.append(which.user_id)
    if which.since is not None:
        sql += " AND m.ts >= ?"
        params.append(which.since)
    sql += f" ORDER BY {key} LIMIT ?"
    params.append(limit)
    return sql, params


def exported(
    rows: Sequence[Any], reactions: dict[int, list[Reaction]], limit: int, *, by_seq: bool
) -> tuple[list[MessageRecord], int]:
    """The messages of a page's rows (``EXPORT_COLUMNS``), with their ``reactions`` by id,
    and the position the next page starts after (0 when this page was the last)."""
    records = [_record(r, reactions.get(r[0], [])) for r in rows]
    if len(rows) < limit:
        return records, 0
    return records, rows[-1][2] if by_seq else rows[-1][0]


def _record(r: Any, reactions: list[Reaction]) -> MessageRecord:
    return MessageRecord(
        r[1], r[2], r[3], r[4], r[5], r[6],
        edited=r[7], reply_to=r[8], version=r[9], thread=r[10], replies=r[11],
        reactions=reactions,
    )  # fmt: skip
