"""Replies and reactions on the SQLite writer: entries that answer a message, inside the
batch's transaction.

A reply is a message with ``reply_to`` and ``thread`` (its target's thread, or the target
when it has none); the thread's root counts it (``replies``) and takes its seq as its
version. A reaction is an entry of its own (kind 3, or 4 for one taken back, the emoji in
``body``) and, while it stands, a row of ``reactions``; a repeated one, or a removal of
none, stores nothing.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from chat_server import access
from chat_server.errors import NotFound, OverLimit
from chat_server.protocol import MAX_REACTIONS, now_ts
from chat_server.store.base import (
    KINDS,
    REACT,
    UNREACT,
    NewMessage,
    NewReaction,
    Stored,
    StoredChange,
    reacted,
)
from chat_server.store.sqlite.changes import append_entry, by_key, check_member

if TYPE_CHECKING:
    from chat_server.store.sqlite.batch import WriterCache

_TARGET = "SELECT id, kind, deleted, thread FROM messages WHERE room_id = ? AND seq = ?"


def _target(conn: sqlite3.Connection, room_id: int, seq: int) -> tuple[int, int | None]:
    """The id and thread of the message at ``seq``, or NotFound (``access.answer_refusal``)."""
    row = conn.execute(_TARGET, (room_id, seq)).fetchone()
    refused = access.answer_refusal(
        seq, None if row is None else KINDS[row[1]], deleted=row is not None and bool(row[2])
    )
    if refused is not None:
        raise NotFound(refused.message)
    return row[0], row[3]


def apply_reply(
    conn: sqlite3.Connection, message: NewMessage, seqs: dict[int, int], known: WriterCache
) -> Stored:
    """Store a message that answers the message at ``message.reply_to`` (or find the one
    its key stands for); NotMember or NotFound before it writes anything."""
    row = conn.execute(
        "SELECT r.name, m.seq, m.ts, m.nick, m.body, m.reply_to, m.thread FROM messages m"
        " JOIN rooms r ON r.id = m.room_id WHERE m.client_id = ? AND m.author_id = ?",
        (message.client_id, message.user_id),
    ).fetchone()
    if row is not None:
        name, seq, ts, nick, body, reply_to, thread = row
        return Stored(name, seq, ts, message.client_id, nick, body, False, reply_to, thread)
    check_member(conn, message.user_id, message.room_id)
    assert message.reply_to is not None
    _, root = _target(conn, message.room_id, message.reply_to)
    thread = root or message.reply_to
    entry = append_entry(
        conn, seqs, known, room_id=message.room_id, user_id=message.user_id,
        nick=message.nick, client_id=message.client_id, kind=0, body=message.body,
        reply_to=message.reply_to, thread=thread,
    )  # fmt: skip
    conn.execute(
        "UPDATE messages SET replies = replies + 1, version = ? WHERE room_id = ? AND seq = ?",
        (entry.seq, message.room_id, thread),
    )
    return Stored(
        entry.room, entry.seq, entry.ts, message.client_id, message.nick, message.body, True,
        message.reply_to, thread,
    )  # fmt: skip


def apply_reaction(
    conn: sqlite3.Connection, reaction: NewReaction, seqs: dict[int, int], known: WriterCache
) -> StoredChange:
    """Store a reaction or its removal (or find the entry its key stands for); NotMember,
    NotFound or OverLimit (a 21st emoji) before it writes anything."""
    found = by_key(conn, reaction.client_id, reaction.user_id)
    if found is not None:
        return found
    check_member(conn, reaction.user_id, reaction.room_id)
    message_id, _ = _target(conn, reaction.room_id, reaction.target)
    mine = (message_id, reaction.emoji, reaction.user_id)
    present = conn.execute(
        "SELECT 1 FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?", mine
    ).fetchone()
    if bool(present) != reaction.remove:  # nothing to change: acked, nothing stored
        name, last_seq = conn.execute(
            "SELECT name, last_seq FROM rooms WHERE id = ?", (reaction.room_id,)
        ).fetchone()
        return reacted(reaction, name, last_seq, now_ts(), new=False)
    if not reaction.remove:
        emoji = {
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT emoji FROM reactions WHERE message_id = ?", (message_id,)
            )
        }
        if len(emoji) >= MAX_REACTIONS and reaction.emoji not in emoji:
            raise OverLimit(f"a message holds at most {MAX_REACTIONS} different reactions")
    entry = append_entry(
        conn, seqs, known, room_id=reaction.room_id, user_id=reaction.user_id,
        nick=reaction.nick, client_id=reaction.client_id,
        kind=UNREACT if reaction.remove else REACT, body=reaction.emoji, target=reaction.target,
    )  # fmt: skip
    if reaction.remove:
        conn.execute(
            "DELETE FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?", mine
        )
    else:
        conn.execute(
            "INSERT INTO reactions (message_id, emoji, user_id, nick, seq, since)"
            " VALUES (?, ?, ?, ?, ?, COALESCE((SELECT MIN(since) FROM reactions"
            " WHERE message_id = ? AND emoji = ?), ?))",
            (*mine, reaction.nick, entry.seq, message_id, reaction.emoji, entry.seq),
        )
    conn.execute("UPDATE messages SET version = ? WHERE id = ?", (entry.seq, message_id))
    return reacted(reaction, entry.room, entry.seq, entry.ts, new=True)
