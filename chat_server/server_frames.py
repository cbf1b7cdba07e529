"""The frames a server sends in protocol v1 (and what protocol 2 adds so far: the ``edit``
and ``delete`` entries), as msgspec Structs; ``protocol`` re-exports them."""

from __future__ import annotations

from typing import Literal

from msgspec import Struct


class ServerFrame(Struct, tag_field="type", kw_only=True, omit_defaults=True):
    """Base of every server frame; ``ref`` appears only when the request carried one."""

    ref: str | None = None


class Rate(Struct):
    per_second: float
    burst: int


class Limits(Struct):
    """What a client should respect: ``rate`` is the user's sends (all connections together),
    ``reads`` a connection's ``history``, ``search``, ``rooms`` and ``join`` requests,
    ``search`` its searches besides, ``max_rooms`` the user's memberships, ``max_blocks``
    the people the user may block."""

    max_body: int
    max_frame: int
    history_max: int
    rate: Rate
    # null from a server older than these limits: a client reads that as "not said"
    reads: Rate | None = None
    search: Rate | None = None
    max_rooms: int | None = None
    max_blocks: int | None = None


class RoomState(Struct):
    """A room in ``welcome``: where the user's read marker stands."""

    room: str
    last_seq: int
    read_seq: int
    unread: int


class Welcome(ServerFrame, tag="welcome"):
    """``blocked``: the nicks the user blocked, sorted case-insensitively (at most
    ``limits.max_blocks``); None from a server older than it: "not said", not "nobody"."""

    nick: str
    token: str
    created: bool
    protocol: int
    server: str
    limits: Limits
    rooms: list[RoomState]
    blocked: list[str] | None = None


class Joined(ServerFrame, tag="joined"):
    room: str
    last_seq: int
    members: list[str]
    online: list[str]


class Left(ServerFrame, tag="left"):
    room: str


class MessageRecord(Struct, omit_defaults=True):
    """An entry of a room's log as ``history`` lists it.

    A message (``kind`` absent) comes as it is now: ``edited`` (ts of its last edit),
    ``deleted`` (true, ``body`` then ""), ``version`` (seq of the last entry applied to it;
    absent while it has none, then it is ``seq``). A change entry (protocol 2) has ``kind``
    "edit" or "delete" and ``target`` (the message's seq); an edit's ``body`` is the
    message's current text ("" and ``deleted`` once the message is deleted), a delete's
    ``reason`` is optional. The fields a message without changes lacks are left out, so its
    record is protocol 1's byte for byte.
    """

    room: str
    seq: int
    nick: str
    body: str
    ts: str
    id: str
    kind: Literal["edit", "delete"] | None = None
    target: int | None = None
    edited: str | None = None
    deleted: bool = False
    version: int | None = None
    reason: str | None = None


class HistoryPage(ServerFrame, tag="history"):
    room: str
    messages: list[MessageRecord]
    more: bool


class Ack(ServerFrame, tag="ack"):
    id: str
    room: str
    seq: int
    ts: str


class Message(ServerFrame, tag="message"):
    room: str
    seq: int
    nick: str
    body: str
    ts: str
    id: str


class EditEvent(ServerFrame, tag="edit"):
    """Live: the message ``target`` of ``room`` now reads ``body`` (entry ``seq``)."""

    room: str
    seq: int
    nick: str
    ts: str
    id: str
    target: int
    body: str


class DeleteEvent(ServerFrame, tag="delete"):
    """Live: the message ``target`` of ``room`` is deleted, its text erased (entry ``seq``)."""

    room: str
    seq: int
    nick: str
    ts: str
    id: str
    target: int
    reason: str | None = None


class Presence(ServerFrame, tag="presence"):
    room: str
    nick: str
    status: Literal["online", "offline", "joined", "left"]


class TypingEvent(ServerFrame, tag="typing"):
    room: str
    nick: str


class ReadEvent(ServerFrame, tag="read"):
    room: str
    seq: int


class SearchHit(Struct, omit_defaults=True):
    """A message matching a search, as it is now (``edited``, ``version``: as in
    :class:`MessageRecord`; a deleted message is never a hit)."""

    room: str
    seq: int
    nick: str
    body: str
    ts: str
    edited: str | None = None
    version: int | None = None


class Results(ServerFrame, tag="results"):
    messages: list[SearchHit]


class RoomInfo(Struct):
    room: str
    members: int
    last_seq: int


class RoomList(ServerFrame, tag="rooms"):
    """A page of public rooms, by members (most first) then name; ``cursor`` asks for the
    next page, null on the last."""

    rooms: list[RoomInfo]
    cursor: str | None


class PasswordChanged(ServerFrame, tag="password_changed"):
    """The password is changed; the user's other tokens are revoked."""


class Blocked(ServerFrame, tag="blocked"):
    """The answer to ``block``: ``nick`` as the account spells it."""

    nick: str


class Unblocked(ServerFrame, tag="unblocked"):
    nick: str


class Error(Struct, tag="error", tag_field="type", omit_defaults=True):
    """An error reply; ``ref`` is always present (null when the request had none), and
    ``retry_after`` (seconds) only on ``rate_limited``: when asking again may succeed."""

    code: str
    message: str
    ref: str | None
    retry_after: float | None = None


AnyServerFrame = (
    Welcome
    | Joined
    | Left
    | HistoryPage
    | Ack
    | Message
    | EditEvent
    | DeleteEvent
    | Presence
    | TypingEvent
    | ReadEvent
    | Results
    | RoomList
    | PasswordChanged
    | Blocked
    | Unblocked
    | Error
)
