"""The frames a server sends in protocol v1, as msgspec Structs; ``protocol`` re-exports them."""

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


class MessageRecord(Struct):
    """A stored message as ``history`` lists it."""

    room: str
    seq: int
    nick: str
    body: str
    ts: str
    id: str


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


class SearchHit(Struct):
    room: str
    seq: int
    nick: str
    body: str
    ts: str


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
