"""Rooms with owners on PostgreSQL: what ``sqlite/rooms.py`` does, in the batch's (or its
own) transaction, under the room's row lock (see ``store/rooms.py``)."""

from __future__ import annotations

import msgspec

from chat_server import access
from chat_server.errors import Conflict, NotFound, NotMember
from chat_server.protocol import nick_key
from chat_server.store.pages import numbered
from chat_server.store.postgres.changes import append_entry, locked_room
from chat_server.store.postgres.schema import Conn
from chat_server.store.rooms import (
    BY_KEY_SQL,
    NOTICE,
    PLACE_SQL,
    REMOVE_SQL,
    SUCCESSOR_SQL,
    UNBAN_SQL,
    UNINVITE_SQL,
    CreateRoom,
    Departure,
    NoticeFields,
    RoomCommand,
    StoredNotice,
    as_role,
    decide,
    encode_fields,
    kind_of,
    notice_of,
    place_params,
    refuse,
    stored_notice,
)

_PLACE = numbered(PLACE_SQL)
_REMOVE = numbered(REMOVE_SQL)
_UNINVITE = numbered(UNINVITE_SQL)
_UNBAN = numbered(UNBAN_SQL)
_SUCCESSOR = numbered(SUCCESSOR_SQL)
_BY_KEY = numbered(BY_KEY_SQL)


async def place(conn: Conn, user_id: int, room_id: int) -> access.Role:
    """Where the user stands in the room (``access.Role``)."""
    return as_role(await conn.fetchval(_PLACE, *place_params(user_id, room_id)))


async def admit(conn: Conn, user_id: int, room_id: int, is_dm: bool, private: bool) -> None:
    """Raise the refusal of a ``join`` of an existing room; the join uses an invitation up."""
    if is_dm:
        return
    where = await place(conn, user_id, room_id)
    refuse(access.room_refusal("join", kind_of(is_dm, private), where, room="this room"))
    await conn.execute(_UNINVITE, room_id, user_id)


async def _notice(
    conn: Conn,
    room: tuple[str, int],
    *,
    room_id: int,
    user_id: int,
    nick: str,
    client_id: str,
    fields: NoticeFields,
    reason: str | None = None,
    target_id: int | None = None,
    private: bool = False,
) -> StoredNotice:
    entry = await append_entry(
        conn, room, room_id=room_id, user_id=user_id, nick=nick, client_id=client_id,
        kind=NOTICE, body=encode_fields(fields), reason=reason,
    )  # fmt: skip
    return StoredNotice(
        room=entry.room, seq=entry.seq, ts=entry.ts, client_id=client_id, nick=nick,
        fields=fields, reason=reason, new=True, target_id=target_id, private=private,
    )  # fmt: skip


async def _by_key(conn: Conn, client_id: str, user_id: int) -> StoredNotice | None:
    row = await conn.fetchrow(_BY_KEY, client_id, user_id)
    return None if row is None else stored_notice(row, client_id)


async def create_room(conn: Conn, op: CreateRoom) -> StoredNotice:
    """A new room, its creator its owner, and its first entry: the ``create`` notice."""
    found = await _by_key(conn, op.client_id, op.user_id)
    if found is not None:
        return found
    room_id = await conn.fetchval(
        "INSERT INTO rooms (name, created_by, private, topic) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (name) DO NOTHING RETURNING id",
        op.name, op.user_id, op.private, op.topic,
    )  # fmt: skip
    if room_id is None:
        raise Conflict(f"{op.name} exists already")
    await conn.execute(
        "INSERT INTO memberships (user_id, room_id, role) VALUES ($1, $2, 'owner')",
        op.user_id,
        room_id,
    )
    fields = NoticeFields(event="create", topic=op.topic or None)
    return await _notice(
        conn, (op.name, 0), room_id=room_id, user_id=op.user_id, nick=op.nick,
        client_id=op.client_id, fields=fields, private=op.private,
    )  # fmt: skip


async def apply_command(conn: Conn, command: RoomCommand) -> StoredNotice:
    """Decide the command with the places as they are under the room's lock, apply it,
    and append its notice (and a new owner's, when it removed the owner)."""
    locked = await locked_room(conn, command.room_id)
    found = await _by_key(conn, command.client_id, command.user_id)
    if found is not None:
        return found
    room_id = command.room_id
    room = await conn.fetchrow("SELECT is_dm, private FROM rooms WHERE id = $1", room_id)
    if locked is None or room is None:
        raise NotMember("you are not a member of this room")
    kind = kind_of(room[0], room[1])
    actor = await place(conn, command.user_id, room_id)
    admin = bool(await conn.fetchval("SELECT admin FROM users WHERE id = $1", command.user_id))
    target_id, target_nick, target = None, None, "none"
    if command.target_nick is not None:
        row = await conn.fetchrow(
            "SELECT id, nick FROM users WHERE nick_key = $1 AND removed_at IS NULL",
            nick_key(command.target_nick),
        )
        if row is None:
            # the rule first: a stranger to a private room learns nothing of its people
            decide(command, kind, actor, "none", admin=admin, own=False)
            raise NotFound(f"no user {command.target_nick}")
        target_id, target_nick = row[0], row[1]
        target = await place(conn, target_id, room_id)
    decide(command, kind, actor, as_role(target), admin=admin, own=target_id == command.user_id)
    await _apply(conn, command, target_id)
    notice = await _notice(
        conn, locked, room_id=room_id, user_id=command.user_id, nick=command.nick,
        client_id=command.client_id, fields=notice_of(command, target_nick),
        reason=command.reason, target_id=target_id, private=kind == "private",
    )  # fmt: skip
    if target == "owner" and command.action in ("kick", "ban"):
        then = await _succeed(conn, (locked[0], notice.seq), room_id, command.user_id, command.nick)
        if then is not None:
            notice = msgspec.structs.replace(notice, then=then)
    return notice


async def _apply(conn: Conn, command: RoomCommand, target_id: int | None) -> None:
    room_id = command.room_id
    match command.action:
        case "topic":
            await conn.execute("UPDATE rooms SET topic = $1 WHERE id = $2", command.topic, room_id)
        case "invite":
            await conn.execute(
                "INSERT INTO room_invites (room_id, user_id, by_id) VALUES ($1, $2, $3)",
                room_id, target_id, command.user_id,
            )  # fmt: skip
        case "kick":
            await conn.execute(_REMOVE, room_id, target_id)
        case "ban":
            await conn.execute(_REMOVE, room_id, target_id)
            await conn.execute(_UNINVITE, room_id, target_id)
            await conn.execute(
                "INSERT INTO room_bans (room_id, user_id, by_id, reason) VALUES ($1, $2, $3, $4)",
                room_id, target_id, command.user_id, command.reason,
            )  # fmt: skip
        case "unban":
            await conn.execute(_UNBAN, room_id, target_id)
        case "role":
            if command.role == "owner":  # handed on: the owner becomes an op
                await conn.execute(
                    "UPDATE memberships SET role = 'op' WHERE room_id = $1 AND role = 'owner'",
                    room_id,
                )
            await conn.execute(
                "UPDATE memberships SET role = $1 WHERE room_id = $2 AND user_id = $3",
                command.role, room_id, target_id,
            )  # fmt: skip


async def _succeed(
    conn: Conn, room: tuple[str, int], room_id: int, user_id: int, nick: str
) -> StoredNotice | None:
    """Make the longest-standing op (else member) the owner, with a ``role`` notice made by
    ``nick`` (who left, or removed the owner); None when nobody is left."""
    row = await conn.fetchrow(_SUCCESSOR, room_id)
    if row is None:
        return None
    successor_id, successor = row[0], row[1]
    await conn.execute(
        "UPDATE memberships SET role = 'owner' WHERE room_id = $1 AND user_id = $2",
        room_id,
        successor_id,
    )
    fields = NoticeFields(event="role", target_nick=successor, role="owner")
    return await _notice(
        conn, room, room_id=room_id, user_id=user_id, nick=nick,
        client_id=f"succession-{room_id}-{room[1] + 1}", fields=fields, target_id=successor_id,
    )  # fmt: skip


async def depart(conn: Conn, user_id: int, room_id: int) -> Departure:
    """Leave the room (a membership, or an invitation: declined); when the owner leaves,
    the next owner takes over."""
    locked = await locked_room(conn, room_id)
    role = await conn.fetchval(
        "SELECT role FROM memberships WHERE room_id = $1 AND user_id = $2", room_id, user_id
    )
    declined = (await conn.execute(_UNINVITE, room_id, user_id)) != "DELETE 0"
    if role is None:
        return Departure(left=False, declined=declined)
    await conn.execute(_REMOVE, room_id, user_id)
    successor = None
    if role == "owner" and locked is not None:
        successor = await _hand_on(conn, locked, room_id, user_id)
    return Departure(left=True, declined=declined, successor=successor)


async def _hand_on(
    conn: Conn, room: tuple[str, int], room_id: int, user_id: int
) -> StoredNotice | None:
    """The owner ``user_id`` is gone from the (locked) room: the next owner takes over."""
    nick = await conn.fetchval("SELECT nick FROM users WHERE id = $1", user_id)
    return await _succeed(conn, room, room_id, user_id, nick)


async def remove_owner(conn: Conn, user_id: int) -> None:
    """An account being removed (its rooms locked already): each room it owns goes on to
    its next owner."""
    owned = await conn.fetch(
        "SELECT m.room_id, r.name, r.last_seq FROM memberships m JOIN rooms r ON r.id = m.room_id"
        " WHERE m.user_id = $1 AND m.role = 'owner'",
        user_id,
    )
    for row in owned:
        await conn.execute(_REMOVE, row[0], user_id)
        await _hand_on(conn, (row[1], row[2]), row[0], user_id)
