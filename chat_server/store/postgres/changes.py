"""Edits and deletes on PostgreSQL: one change, its rules and its erasures, in the batch's
transaction under the room's row lock (see ``batch.py``).

The rows it rewrites are those of ``sqlite/changes.py``. The full-text index is an index of
the table (``to_tsvector`` over ``body``, messages only), so the rewrite updates it; the
old row versions stay in the table's pages (invisible to every query) until vacuum.
"""

from __future__ import annotations

from chat_server import access
from chat_server.errors import Forbidden, NotFound, NotMember
from chat_server.protocol import now_ts
from chat_server.store.base import DELETE, EDIT, KINDS, NewChange, StoredChange
from chat_server.store.postgres.schema import Conn, Row

_ENTRY = "SELECT r.name, m.seq, m.ts, m.nick, m.kind, m.target, m.body, m.reason, m.client_id"


async def apply_change(conn: Conn, change: NewChange) -> StoredChange:
    """Store one edit or delete (or find the entry its key, or a first delete, stands for).

    Raises NotMember, NotFound or Forbidden before it writes anything.
    """
    room = await conn.fetchrow(
        "SELECT name, last_seq FROM rooms WHERE id = $1 FOR UPDATE", change.room_id
    )
    # read after the lock: whatever another node committed for this room is visible
    row = await conn.fetchrow(
        f"{_ENTRY} FROM messages m JOIN rooms r ON r.id = m.room_id"
        " WHERE m.client_id = $1 AND m.author_id = $2",
        change.client_id,
        change.user_id,
    )
    if row is not None:
        return _stored(row)
    member = await conn.fetchrow(
        "SELECT 1 FROM memberships WHERE user_id = $1 AND room_id = $2",
        change.user_id,
        change.room_id,
    )
    if room is None or member is None:
        raise NotMember("you are not a member of this room")
    target = await conn.fetchrow(
        "SELECT id, author_id, kind, deleted FROM messages WHERE room_id = $1 AND seq = $2",
        change.room_id,
        change.target,
    )
    author = target is not None and target[1] == change.user_id
    # a server admin may delete anyone's message: the flag as it is in this transaction
    moderator = (
        change.kind == "delete"
        and target is not None
        and not author
        and bool(await conn.fetchval("SELECT admin FROM users WHERE id = $1", change.user_id))
    )
    refused = access.change_refusal(
        change.kind,
        change.target,
        None if target is None else KINDS[target[2]],
        author=author,
        deleted=target is not None and target[3],
        moderator=moderator,
    )
    if refused is not None:
        raise (Forbidden if refused.code == "forbidden" else NotFound)(refused.message)
    assert target is not None
    if target[3]:  # a delete of a deleted message: the first delete's ack
        first = await conn.fetchrow(
            f"{_ENTRY} FROM messages m JOIN rooms r ON r.id = m.room_id"
            " WHERE m.room_id = $1 AND m.target = $2 AND m.kind = 2 ORDER BY m.seq LIMIT 1",
            change.room_id,
            change.target,
        )
        assert first is not None
        return _stored(first)

    seq, ts = room[1] + 1, now_ts()
    edit = change.kind == "edit"
    body = change.body if edit else ""
    new_id = await conn.fetchval(
        "INSERT INTO messages (room_id, seq, author_id, nick, client_id, body, ts, kind, target,"
        " reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        change.room_id, seq, change.user_id, change.nick, change.client_id, body, ts,
        EDIT if edit else DELETE, change.target, change.reason,
    )  # fmt: skip
    if edit:
        await conn.execute(
            "UPDATE messages SET body = $1, edited = $2, version = $3 WHERE id = $4",
            body,
            ts,
            seq,
            target[0],
        )
    else:
        await conn.execute(
            "UPDATE messages SET body = '', deleted = TRUE, version = $1 WHERE id = $2",
            seq,
            target[0],
        )
    # the message's other edits carry its current text: none once it is deleted
    await conn.execute(
        "UPDATE messages SET body = $1, deleted = $2 WHERE room_id = $3 AND target = $4"
        " AND kind = 1 AND id <> $5",
        body,
        not edit,
        change.room_id,
        change.target,
        new_id,
    )
    await conn.execute("UPDATE rooms SET last_seq = $1 WHERE id = $2", seq, change.room_id)
    await conn.execute(
        "UPDATE memberships SET read_seq = GREATEST(read_seq, $1)"
        " WHERE user_id = $2 AND room_id = $3",
        seq,
        change.user_id,
        change.room_id,
    )
    whose = None
    if moderator:
        whose = await conn.fetchval("SELECT nick FROM users WHERE id = $1", target[1])
    return StoredChange(
        room=room[0], seq=seq, ts=ts, client_id=change.client_id, nick=change.nick,
        kind=change.kind, target=change.target, body=body, reason=change.reason, new=True,
        moderated=whose,
    )  # fmt: skip


def _stored(row: Row) -> StoredChange:
    """The entry a key stands for, from a row of ``_ENTRY``."""
    return StoredChange(
        room=row[0], seq=row[1], ts=row[2], nick=row[3], kind=KINDS[row[4]], target=row[5],
        body=row[6], reason=row[7], client_id=row[8], new=False,
    )  # fmt: skip
