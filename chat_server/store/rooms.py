"""Rooms with owners, for every backend: the records of a room command and of its
``notice`` entry, the facts a rule needs, and the SQL both stores share.

A room command (``invite``, ``kick``, ``ban``, ``unban``, ``role``, ``topic``) is decided
and applied in the writer's transaction, with the rules of ``access.py`` and the places
(owner, op, member, invited, banned, none) as they are then, so two commands racing on two
nodes cannot both pass; its ``notice`` entry takes the room's next seq in the same
transaction. A notice's fields are kept as compact JSON in the entry's ``body`` (notices
are never searched: only ``kind`` 0 is), its ``reason`` in the entry's ``reason``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final, Literal

import msgspec

from chat_server import access
from chat_server.errors import Conflict, Forbidden, Inapplicable, NotFound, NotMember, StoreError
from chat_server.protocol import MessageRecord

NOTICE: Final = 5  # the kind number of a notice entry (``base.KINDS``)
CommandAction = Literal["invite", "kick", "ban", "unban", "role", "topic"]


class RoomCommand(msgspec.Struct, frozen=True):
    """A room command to decide and apply in the writer's transaction: ``target_nick``
    for those aimed at a person, ``role`` for ``role``, ``topic`` for ``topic``."""

    user_id: int
    nick: str
    room_id: int
    client_id: str
    action: CommandAction
    target_nick: str | None = None
    role: str | None = None
    topic: str | None = None
    reason: str | None = None


class CreateRoom(msgspec.Struct, frozen=True):
    """A new room (public or private) with the user as its owner; ``quota`` as a join
    that creates a room counts it (``base.RoomQuota``)."""

    user_id: int
    nick: str
    name: str
    client_id: str
    private: bool
    topic: str
    quota: Any = None


class NoticeFields(msgspec.Struct, frozen=True, omit_defaults=True):
    """What a notice says besides who made it: its ``body`` in the database."""

    event: str
    target_nick: str | None = None
    topic: str | None = None
    role: str | None = None


class StoredNotice(msgspec.Struct, frozen=True):
    """A committed notice (``new``), or the entry a repeated key stands for. ``target_id``:
    the account the command aimed at (a kicked user's connections leave the room);
    ``then``: the notice of a new owner, when the command removed the owner."""

    room: str
    seq: int
    ts: str
    client_id: str
    nick: str
    fields: NoticeFields
    reason: str | None
    new: bool
    target_id: int | None = None
    private: bool = False
    then: StoredNotice | None = None


class LeaveRoom(msgspec.Struct, frozen=True):
    """The user leaves the room (or declines its invitation)."""

    user_id: int
    room_id: int


@dataclasses.dataclass(frozen=True, slots=True)
class Departure:
    """What a ``leave`` did: ``left`` a membership, ``declined`` an invitation, and the
    notice of the new owner when the owner left (``successor``)."""

    left: bool
    declined: bool = False
    successor: StoredNotice | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RoomFacts:
    """What ``joined`` tells of a room besides its members: its topic, whether it is
    private, and the members with a role ({nick: "owner"|"op"})."""

    topic: str = ""
    private: bool = False
    roles: dict[str, str] = dataclasses.field(default_factory=dict)


def room_facts(rows: list[Any]) -> RoomFacts:
    """A room's facts from the rows of ``FACTS_SQL`` (none: a room removed meanwhile)."""
    if not rows:
        return RoomFacts()
    roles = {row[2]: row[3] for row in rows if row[2] is not None}
    return RoomFacts(topic=rows[0][0], private=bool(rows[0][1]), roles=roles)


_fields_decoder = msgspec.json.Decoder(NoticeFields)
_encoder = msgspec.json.Encoder()


def encode_fields(fields: NoticeFields) -> str:
    return _encoder.encode(fields).decode()


def decode_fields(body: str) -> NoticeFields:
    try:
        return _fields_decoder.decode(body)
    except msgspec.DecodeError:  # never written so: shown as an empty notice, not a crash
        return NoticeFields(event="")


def notice_record(room: str, r: Any, reason: str | None) -> MessageRecord:
    """A notice as a page lists it, from a page row (``base.PAGE_COLUMNS``)."""
    fields = decode_fields(r[2])
    return MessageRecord(
        room, r[0], r[1], "", r[3], r[4], kind="notice", reason=reason, event=fields.event,
        target_nick=fields.target_nick, topic=fields.topic, role=fields.role,
    )  # fmt: skip


def stored_notice(row: Any, client_id: str) -> StoredNotice:
    """The notice an idempotency key stands for, from its row (room name, seq, ts, nick,
    kind, target, body, reason); an entry of another kind under the key is a Conflict."""
    if row[4] != NOTICE:
        raise Conflict("this id was used for another entry: use a new id")
    return StoredNotice(
        room=row[0], seq=row[1], ts=row[2], client_id=client_id, nick=row[3],
        fields=decode_fields(row[6]), reason=row[7], new=False,
    )  # fmt: skip


# The entry a user's idempotency key stands for (parameters: key, user id), the columns
# ``stored_notice`` reads.
BY_KEY_SQL: Final = (
    "SELECT r.name, m.seq, m.ts, m.nick, m.kind, m.target, m.body, m.reason"
    " FROM messages m JOIN rooms r ON r.id = m.room_id"
    " WHERE m.client_id = ? AND m.author_id = ?"
)
# Where a user stands in a room (``access.Role``), from one row: parameters (user id,
# room id) once each, in the order the ``?`` take them.
PLACE_SQL: Final = (
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM room_bans WHERE room_id = ? AND user_id = ?)"
    " THEN 'banned' ELSE COALESCE("
    " (SELECT role FROM memberships WHERE room_id = ? AND user_id = ?),"
    " (SELECT 'invited' FROM room_invites WHERE room_id = ? AND user_id = ?), 'none') END"
)


def place_params(user_id: int, room_id: int) -> tuple[int, ...]:
    return (room_id, user_id) * 3


def as_role(place: Any) -> access.Role:
    if place in access.ROLES:
        return place  # type: ignore[no-any-return]
    raise StoreError(f"unknown place in a room: {place!r}")


def kind_of(is_dm: bool, private: bool) -> access.RoomKind:
    return "dm" if is_dm else "private" if private else "public"


def refuse(refused: access.Refusal | None) -> None:
    """Raise a rule's refusal as the store error of its code."""
    if refused is None:
        return
    errors: dict[str, type[StoreError]] = {
        "not_member": NotMember, "not_found": NotFound, "forbidden": Forbidden,
        "conflict": Conflict,
    }  # fmt: skip
    raise errors.get(refused.code, Inapplicable)(refused.message)


def decide(
    command: RoomCommand, kind: access.RoomKind, actor: access.Role, target: access.Role,
    *, admin: bool, own: bool,
) -> None:  # fmt: skip
    """Raise the refusal of ``command`` by someone whose place is ``actor``, aimed at
    someone whose place is ``target``; return when it may go ahead."""
    refuse(access.room_refusal(command.action, kind, actor, admin=admin, room="this room"))
    if command.action == "topic":
        return
    new_role = as_role(command.role) if command.role in access.ROLES else "member"
    if command.action == "role" and command.role not in access.MEMBERS:
        raise Inapplicable("a role is owner, op or member")
    nick = command.target_nick or "they"
    refused = access.target_refusal(
        command.action, actor, target, admin=admin, own=own, nick=nick, new_role=new_role
    )
    refuse(refused)


def notice_of(command: RoomCommand, target_nick: str | None) -> NoticeFields:
    """What the notice of an allowed command says (``target_nick`` as the account spells it)."""
    if command.action == "topic":
        return NoticeFields(event="topic", topic=command.topic or "")
    return NoticeFields(
        event=command.action,
        target_nick=target_nick,
        role=command.role if command.action == "role" else None,
    )


# The statements a command runs once it is allowed, beside its notice; parameters (room id,
# target user id[, by user id, reason]) as each names them.
UNINVITE_SQL: Final = "DELETE FROM room_invites WHERE room_id = ? AND user_id = ?"
REMOVE_SQL: Final = "DELETE FROM memberships WHERE room_id = ? AND user_id = ?"
UNBAN_SQL: Final = "DELETE FROM room_bans WHERE room_id = ? AND user_id = ?"
# The member who takes over when the owner goes: the longest-standing op, else the
# longest-standing member (parameter: room id).
SUCCESSOR_SQL: Final = (
    "SELECT m.user_id, u.nick FROM memberships m JOIN users u ON u.id = m.user_id"
    " WHERE m.room_id = ? ORDER BY m.role = 'op' DESC, m.joined_at, m.user_id LIMIT 1"
)
# What ``joined`` tells of a room besides its members, in one query: a row per member with a
# role (one row with no nick when nobody has one); parameter: room id.
FACTS_SQL: Final = (
    "SELECT r.topic, r.private, u.nick, m.role FROM rooms r"
    " LEFT JOIN memberships m ON m.room_id = r.id AND m.role <> 'member'"
    " LEFT JOIN users u ON u.id = m.user_id WHERE r.id = ? ORDER BY u.nick_key"
)
INVITES_SQL: Final = (
    "SELECT r.name, u.nick, r.private FROM room_invites i JOIN rooms r ON r.id = i.room_id"
    " JOIN users u ON u.id = i.by_id WHERE i.user_id = ? ORDER BY i.created_at, r.name LIMIT ?"
)
# Whether a user (parameters: user id, room id) may delete anyone's message in the room: a
# server admin, or the room's owner or an op (``access.change_refusal``'s ``moderator``).
MODERATOR_SQL: Final = (
    "SELECT EXISTS (SELECT 1 FROM users WHERE id = ? AND admin)"
    " OR EXISTS (SELECT 1 FROM memberships WHERE user_id = ? AND room_id = ?"
    " AND role IN ('owner', 'op'))"
)
# The pending invitations a welcome lists, at most.
MAX_INVITES: Final = 100
