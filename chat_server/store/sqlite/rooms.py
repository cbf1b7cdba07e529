"""Rooms with owners on the SQLite writer: a room command decided and applied, its notice
appended, a new room made, a departure with its succession; all inside the batch's
transaction (``batch.py``), with the rules of ``access.py`` (see ``store/rooms.py``)."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import msgspec

from chat_server import access
from chat_server.errors import Conflict, NotFound, NotMember
from chat_server.protocol import nick_key, now_ts
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
from chat_server.store.sqlite.changes import append_entry

if TYPE_CHECKING:
    from chat_server.store.sqlite.batch import WriterCache


def place(conn: sqlite3.Connection, user_id: int, room_id: int) -> access.Role:
    """Where the user stands in the room (``access.Role``)."""
    return as_role(conn.execute(PLACE_SQL, place_params(user_id, room_id)).fetchone()[0])


def admit(conn: sqlite3.Connection, user_id: int, room_id: int, is_dm: bool, private: bool) -> None:
    """Raise the refusal of the user's ``join`` of an existing room (banned; a private
    room they are neither in nor invited to); an invitation is used up by the join."""
    if is_dm:
        return
    where = place(conn, user_id, room_id)
    refuse(access.room_refusal("join", kind_of(is_dm, private), where, room="this room"))
    conn.execute(UNINVITE_SQL, (room_id, user_id))


def _notice(
    conn: sqlite3.Connection,
    seqs: dict[int, int],
    known: WriterCache,
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
    entry = append_entry(
        conn, seqs, known, room_id=room_id, user_id=user_id, nick=nick, client_id=client_id,
        kind=NOTICE, body=encode_fields(fields), reason=reason,
    )  # fmt: skip
    return StoredNotice(
        room=entry.room, seq=entry.seq, ts=entry.ts, client_id=client_id, nick=nick,
        fields=fields, reason=reason, new=True, target_id=target_id, private=private,
    )  # fmt: skip


def _by_key(conn: sqlite3.Connection, client_id: str, user_id: int) -> StoredNotice | None:
    row = conn.execute(BY_KEY_SQL, (client_id, user_id)).fetchone()
    return None if row is None else stored_notice(row, client_id)


def create_room(
    conn: sqlite3.Connection, op: CreateRoom, seqs: dict[int, int], known: WriterCache
) -> StoredNotice:
    """A new room, its creator its owner, and its first entry: the ``create`` notice."""
    found = _by_key(conn, op.client_id, op.user_id)
    if found is not None:
        return found
    if conn.execute("SELECT 1 FROM rooms WHERE name = ?", (op.name,)).fetchone():
        raise Conflict(f"{op.name} exists already")
    now = now_ts()
    cur = conn.execute(
        "INSERT INTO rooms (name, is_dm, created_at, created_by, private, topic)"
        " VALUES (?, 0, ?, ?, ?, ?)",
        (op.name, now, op.user_id, int(op.private), op.topic),
    )
    assert cur.lastrowid is not None
    room_id = cur.lastrowid
    conn.execute(
        "INSERT INTO memberships (user_id, room_id, joined_at, role) VALUES (?, ?, ?, 'owner')",
        (op.user_id, room_id, now),
    )
    fields = NoticeFields(event="create", topic=op.topic or None)
    return _notice(
        conn, seqs, known, room_id=room_id, user_id=op.user_id, nick=op.nick,
        client_id=op.client_id, fields=fields, private=op.private,
    )  # fmt: skip


def apply_command(
    conn: sqlite3.Connection, command: RoomCommand, seqs: dict[int, int], known: WriterCache
) -> StoredNotice:
    """Decide the command with the places as they are now, apply it, and append its notice
    (and a new owner's, when it removed the owner)."""
    found = _by_key(conn, command.client_id, command.user_id)
    if found is not None:
        return found
    room_id = command.room_id
    room = conn.execute("SELECT is_dm, private FROM rooms WHERE id = ?", (room_id,)).fetchone()
    if room is None:
        raise NotMember("you are not a member of this room")
    kind = kind_of(bool(room[0]), bool(room[1]))
    actor = place(conn, command.user_id, room_id)
    row = conn.execute("SELECT admin FROM users WHERE id = ?", (command.user_id,)).fetchone()
    admin = bool(row and row[0])
    target_id, target_nick, target = None, None, "none"
    if command.target_nick is not None:
        row = conn.execute(
            "SELECT id, nick FROM users WHERE nick_key = ? AND removed_at IS NULL",
            (nick_key(command.target_nick),),
        ).fetchone()
        if row is None:
            # the rule first: a stranger to a private room learns nothing of its people
            decide(command, kind, actor, "none", admin=admin, own=False)
            raise NotFound(f"no user {command.target_nick}")
        target_id, target_nick = row
        target = place(conn, target_id, room_id)
    decide(command, kind, actor, as_role(target), admin=admin, own=target_id == command.user_id)
    _apply(conn, command, target_id)
    notice = _notice(
        conn, seqs, known, room_id=room_id, user_id=command.user_id, nick=command.nick,
        client_id=command.client_id, fields=notice_of(command, target_nick),
        reason=command.reason, target_id=target_id, private=kind == "private",
    )  # fmt: skip
    if target == "owner" and command.action in ("kick", "ban"):
        then = _succeed(conn, seqs, known, room_id, command.user_id, command.nick)
        if then is not None:
            notice = msgspec.structs.replace(notice, then=then)
    return notice


def _apply(conn: sqlite3.Connection, command: RoomCommand, target_id: int | None) -> None:
    room_id, now = command.room_id, now_ts()
    match command.action:
        case "topic":
            conn.execute("UPDATE rooms SET topic = ? WHERE id = ?", (command.topic, room_id))
        case "invite":
            conn.execute(
                "INSERT INTO room_invites (room_id, user_id, by_id, created_at)"
                " VALUES (?, ?, ?, ?)",
                (room_id, target_id, command.user_id, now),
            )
        case "kick":
            conn.execute(REMOVE_SQL, (room_id, target_id))
        case "ban":
            conn.execute(REMOVE_SQL, (room_id, target_id))
            conn.execute(UNINVITE_SQL, (room_id, target_id))
            conn.execute(
                "INSERT INTO room_bans (room_id, user_id, by_id, reason, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (room_id, target_id, command.user_id, command.reason, now),
            )
        case "unban":
            conn.execute(UNBAN_SQL, (room_id, target_id))
        case "role":
            if command.role == "owner":  # handed on: the owner becomes an op
                conn.execute(
                    "UPDATE memberships SET role = 'op' WHERE room_id = ? AND role = 'owner'",
                    (room_id,),
                )
            conn.execute(
                "UPDATE memberships SET role = ? WHERE room_id = ? AND user_id = ?",
                (command.role, room_id, target_id),
            )


def _succeed(
    conn: sqlite3.Connection,
    seqs: dict[int, int],
    known: WriterCache,
    room_id: int,
    user_id: int,
    nick: str,
) -> StoredNotice | None:
    """Make the longest-standing op (else member) the owner, with a ``role`` notice made by
    ``nick`` (who left, or removed the owner); None when nobody is left."""
    row = conn.execute(SUCCESSOR_SQL, (room_id,)).fetchone()
    if row is None:
        return None
    successor_id, successor = row
    conn.execute(
        "UPDATE memberships SET role = 'owner' WHERE room_id = ? AND user_id = ?",
        (room_id, successor_id),
    )
    fields = NoticeFields(event="role", target_nick=successor, role="owner")
    return _notice(
        conn, seqs, known, room_id=room_id, user_id=user_id, nick=nick,
        client_id=f"succession-{room_id}-{known.last_id + 1}", fields=fields,
        target_id=successor_id,
    )  # fmt: skip


def depart(
    conn: sqlite3.Connection,
    user_id: int,
    room_id: int,
    seqs: dict[int, int],
    known: WriterCache,
) -> Departure:
    """Leave the room (a membership, or an invitation: declined); when the owner leaves,
    the next owner takes over."""
    role = conn.execute(
        "SELECT role FROM memberships WHERE room_id = ? AND user_id = ?", (room_id, user_id)
    ).fetchone()
    declined = conn.execute(UNINVITE_SQL, (room_id, user_id)).rowcount > 0
    if role is None:
        return Departure(left=False, declined=declined)
    conn.execute(REMOVE_SQL, (room_id, user_id))
    successor = None
    if role[0] == "owner":
        successor = hand_on(conn, seqs, known, room_id, user_id)
    return Departure(left=True, declined=declined, successor=successor)


def hand_on(
    conn: sqlite3.Connection, seqs: dict[int, int], known: WriterCache, room_id: int, user_id: int
) -> StoredNotice | None:
    """The owner ``user_id`` is gone from the room: the next owner takes over."""
    nick = conn.execute("SELECT nick FROM users WHERE id = ?", (user_id,)).fetchone()[0]
    return _succeed(conn, seqs, known, room_id, user_id, nick)


def remove_owner(
    conn: sqlite3.Connection, seqs: dict[int, int], known: WriterCache, user_id: int
) -> None:
    """An account being removed: each room it owns goes on to its next owner."""
    owned = conn.execute(
        "SELECT room_id FROM memberships WHERE user_id = ? AND role = 'owner'", (user_id,)
    ).fetchall()
    for (room_id,) in owned:
        conn.execute(REMOVE_SQL, (room_id, user_id))
        hand_on(conn, seqs, known, room_id, user_id)
