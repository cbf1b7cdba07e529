"""Edits and deletes on PostgreSQL: one change, its rules and its erasures, in the batch's
transaction under the room's row lock (see ``batch.py``); and ``append_entry``, which
every entry but a plain message takes.

The rows it rewrites are those of ``sqlite/changes.py``. The full-text index is an index of
the table (``to_tsvector`` over ``body``, messages only), so the rewrite updates it; the
old row versions stay in the table's pages (invisible to every query) until vacuum.
"""

from __future__ import annotations

from typing import NamedTuple

from chat_server import access
from chat_server.errors import Forbidden, NotFound, NotMember
from chat_server.protocol import now_ts
from chat_server.store.base import (
    DELETE,
    EDIT,
    KINDS,
    NewChange,
    StoredChange,
    age_of,
    stored_entry,
)
from chat_server.store.pages import numbered
from chat_server.store.postgres.schema import Conn, Row
from chat_server.store.rooms import MODERATOR_SQL

_MODERATOR = numbered(MODERATOR_SQL)
_ENTRY = "SELECT r.name, m.seq, m.ts, m.nick, m.kind, m.target, m.body, m.reason, m.client_id"


class Entry(NamedTuple):
    """A new entry of a room's log, as ``append_entry`` stored it."""

    room: str
    seq: int
    ts: str
    row_id: int


async def locked_room(conn: Conn, room_id: int) -> tuple[str, int] | None:
    """Lock the room's row and return its (name, last seq), None when there is none.
    Whatever another node committed for the room is visible after the lock."""
    room = await conn.fetchrow("SELECT name, last_seq FROM rooms WHERE id = $1 FOR UPDATE", room_id)
    return None if room is None else (room[0], room[1])


async def check_member(
    conn: Conn, room: tuple[str, int] | None, room_id: int, user_id: int
) -> tuple[str, int]:
    """The locked ``room`` when the user is a member of it; NotMember otherwise."""
    member = await conn.fetchrow(
        "SELECT 1 FROM memberships WHERE user_id = $1 AND room_id = $2", user_id, room_id
    )
    if room is None or member is None:
        raise NotMember("you are not a member of this room")
    return room


async def by_key(conn: Conn, client_id: str, user_id: int) -> StoredChange | None:
    """The entry the user's idempotency key stands for, if any."""
    row = await conn.fetchrow(
        f"{_ENTRY} FROM messages m JOIN rooms r ON r.id = m.room_id"
        " WHERE m.client_id = $1 AND m.author_id = $2",
        client_id,
        user_id,
    )
    return None if row is None else _stored(row)


async def append_entry(
    conn: Conn,
    room: tuple[str, int],
    *,
    room_id: int,
    user_id: int,
    nick: str,
    client_id: str,
    kind: int,
    body: str,
    target: int | None = None,
    reason: str | None = None,
    reply_to: int | None = None,
    thread: int | None = None,
) -> Entry:
    """Store an entry at the next seq of the (locked) ``room`` (name, last seq), and move
    its author's read marker there; every entry but a plain message gets a ``version``."""
    seq, ts = room[1] + 1, now_ts()
    row_id = await conn.fetchval(
        "INSERT INTO messages (room_id, seq, author_id, nick, client_id, body, ts, kind, target,"
        " reason, reply_to, thread, version)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $2) RETURNING id",
        room_id, seq, user_id, nick, client_id, body, ts, kind, target, reason, reply_to, thread,
    )  # fmt: skip
    await conn.execute("UPDATE rooms SET last_seq = $1 WHERE id = $2", seq, room_id)
    await conn.execute(
        "UPDATE memberships SET read_seq = GREATEST(read_seq, $1), wrote = wrote OR $4"
        " WHERE user_id = $2 AND room_id = $3",
        seq,
        user_id,
        room_id,
        kind == 0,
    )
    return Entry(room[0], seq, ts, row_id)


async def apply_change(conn: Conn, change: NewChange) -> StoredChange:
    """Store one edit or delete (or find the entry its key, or a first delete, stands for).

    Raises NotMember, NotFound or Forbidden before it writes anything.
    """
    locked = await locked_room(conn, change.room_id)
    found = await by_key(conn, change.client_id, change.user_id)
    if found is not None:
        return found
    room = await check_member(conn, locked, change.room_id, change.user_id)
    target = await conn.fetchrow(
        "SELECT id, author_id, kind, deleted, ts FROM messages WHERE room_id = $1 AND seq = $2",
        change.room_id,
        change.target,
    )
    author = target is not None and target[1] == change.user_id
    # a server admin may delete anyone's message: the flag as it is in this transaction
    moderator = (
        change.kind == "delete"
        and target is not None
        and not author
        and bool(await conn.fetchval(_MODERATOR, change.user_id, change.user_id, change.room_id))
    )
    refused = access.change_refusal(
        change.kind,
        change.target,
        None if target is None else KINDS[target[2]],
        author=author,
        deleted=target is not None and target[3],
        moderator=moderator,
        age=0.0 if target is None else age_of(target[4]),
        edit_window=change.edit_window,
    )
    if refused is not None:
        raise (Forbidden if refused.code == "forbidden" else NotFound)(refused.message)
    assert target is not None
    if target[3]:  # a delete of a deleted message: the first delete's seq and ts, this id
        first = await conn.fetchrow(
            f"{_ENTRY} FROM messages m JOIN rooms r ON r.id = m.room_id"
            " WHERE m.room_id = $1 AND m.target = $2 AND m.kind = 2 ORDER BY m.seq LIMIT 1",
            change.room_id,
            change.target,
        )
        assert first is not None
        return _stored(first, change.client_id)

    edit = change.kind == "edit"
    body = change.body if edit else ""
    entry = await append_entry(
        conn, room, room_id=change.room_id, user_id=change.user_id, nick=change.nick,
        client_id=change.client_id, kind=EDIT if edit else DELETE, body=body,
        target=change.target, reason=change.reason,
    )  # fmt: skip
    if edit:
        await conn.execute(
            "UPDATE messages SET body = $1, edited = $2, version = $3 WHERE id = $4",
            body,
            entry.ts,
            entry.seq,
            target[0],
        )
    else:
        await conn.execute(
            "UPDATE messages SET body = '', deleted = TRUE, version = $1 WHERE id = $2",
            entry.seq,
            target[0],
        )
        # its reactions go, and the entries that made them keep no emoji
        await conn.execute("DELETE FROM reactions WHERE message_id = $1", target[0])
        await conn.execute(
            "UPDATE messages SET body = '', deleted = TRUE WHERE room_id = $1 AND target = $2"
            " AND kind IN (3, 4)",
            change.room_id,
            change.target,
        )
    # the message's other edits carry its current text: none once it is deleted
    await conn.execute(
        "UPDATE messages SET body = $1, deleted = $2 WHERE room_id = $3 AND target = $4"
        " AND kind = 1 AND id <> $5",
        body,
        not edit,
        change.room_id,
        change.target,
        entry.row_id,
    )
    whose = None
    if moderator:
        whose = await conn.fetchval("SELECT nick FROM users WHERE id = $1", target[1])
    return StoredChange(
        room=entry.room, seq=entry.seq, ts=entry.ts, client_id=change.client_id,
        nick=change.nick, kind=change.kind, target=change.target, body=body,
        reason=change.reason, new=True, moderated=whose,
    )  # fmt: skip


def _stored(row: Row, client_id: str | None = None) -> StoredChange:
    """The entry a key stands for, from a row of ``_ENTRY`` (with ``client_id`` instead of
    its own, when given)."""
    return stored_entry(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
        client_id=row[8] if client_id is None else client_id,
    )  # fmt: skip
