"""Replies and reactions on PostgreSQL, under the room's row lock: the rules and rows of
``sqlite/answers.py``."""

from __future__ import annotations

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
from chat_server.store.postgres.changes import append_entry, by_key, check_member, locked_room
from chat_server.store.postgres.schema import Conn


async def _target(conn: Conn, room_id: int, seq: int) -> tuple[int, int | None]:
    """The id and thread of the message at ``seq``, or NotFound (``access.answer_refusal``)."""
    row = await conn.fetchrow(
        "SELECT id, kind, deleted, thread FROM messages WHERE room_id = $1 AND seq = $2",
        room_id,
        seq,
    )
    refused = access.answer_refusal(
        seq, None if row is None else KINDS[row[1]], deleted=row is not None and row[2]
    )
    if refused is not None:
        raise NotFound(refused.message)
    assert row is not None
    return row[0], row[3]


async def apply_reply(conn: Conn, message: NewMessage) -> Stored:
    """Store a message that answers the message at ``message.reply_to`` (or find the one
    its key stands for); NotMember or NotFound before it writes anything."""
    locked = await locked_room(conn, message.room_id)
    row = await conn.fetchrow(
        "SELECT r.name, m.seq, m.ts, m.nick, m.body, m.reply_to, m.thread FROM messages m"
        " JOIN rooms r ON r.id = m.room_id WHERE m.client_id = $1 AND m.author_id = $2",
        message.client_id,
        message.user_id,
    )
    if row is not None:
        return Stored(
            row[0], row[1], row[2], message.client_id, row[3], row[4], False, row[5], row[6]
        )
    room = await check_member(conn, locked, message.room_id, message.user_id)
    assert message.reply_to is not None
    _, root = await _target(conn, message.room_id, message.reply_to)
    thread = root or message.reply_to
    entry = await append_entry(
        conn, room, room_id=message.room_id, user_id=message.user_id, nick=message.nick,
        client_id=message.client_id, kind=0, body=message.body, reply_to=message.reply_to,
        thread=thread,
    )  # fmt: skip
    await conn.execute(
        "UPDATE messages SET replies = replies + 1, version = $1 WHERE room_id = $2 AND seq = $3",
        entry.seq,
        message.room_id,
        thread,
    )
    return Stored(
        entry.room, entry.seq, entry.ts, message.client_id, message.nick, message.body, True,
        message.reply_to, thread,
    )  # fmt: skip


async def apply_reaction(conn: Conn, reaction: NewReaction) -> StoredChange:
    """Store a reaction or its removal (or find the entry its key stands for); NotMember,
    NotFound or OverLimit (a 21st emoji) before it writes anything."""
    locked = await locked_room(conn, reaction.room_id)
    found = await by_key(conn, reaction.client_id, reaction.user_id)
    if found is not None:
        return found
    room = await check_member(conn, locked, reaction.room_id, reaction.user_id)
    message_id, _ = await _target(conn, reaction.room_id, reaction.target)
    mine = (message_id, reaction.emoji, reaction.user_id)
    present = await conn.fetchrow(
        "SELECT 1 FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3", *mine
    )
    if (present is not None) != reaction.remove:  # nothing to change: acked, nothing stored
        return reacted(reaction, room[0], room[1], now_ts(), new=False)
    if not reaction.remove:
        emoji = {
            row[0]
            for row in await conn.fetch(
                "SELECT DISTINCT emoji FROM reactions WHERE message_id = $1", message_id
            )
        }
        if len(emoji) >= MAX_REACTIONS and reaction.emoji not in emoji:
            raise OverLimit(f"a message holds at most {MAX_REACTIONS} different reactions")
    entry = await append_entry(
        conn, room, room_id=reaction.room_id, user_id=reaction.user_id, nick=reaction.nick,
        client_id=reaction.client_id, kind=UNREACT if reaction.remove else REACT,
        body=reaction.emoji, target=reaction.target,
    )  # fmt: skip
    if reaction.remove:
        await conn.execute(
            "DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3", *mine
        )
    else:
        await conn.execute(
            "INSERT INTO reactions (message_id, emoji, user_id, nick, seq, since)"
            " VALUES ($1, $2, $3, $4, $5, COALESCE((SELECT MIN(since) FROM reactions"
            " WHERE message_id = $1 AND emoji = $2), $5))",
            *mine,
            reaction.nick,
            entry.seq,
        )
    await conn.execute("UPDATE messages SET version = $1 WHERE id = $2", entry.seq, message_id)
    return reacted(reaction, entry.room, entry.seq, entry.ts, new=True)
