"""The frames a server sends in protocol 1 and 2, as msgspec Structs; ``protocol``
re-exports them."""

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
    # protocol 2: how long after sending its author may edit a message; null: no limit
    edit_window_s: float | None = None


class RoomState(Struct):
    """A room in ``welcome``: where the user's read marker stands."""

    room: str
    last_seq: int
    read_seq: int
    unread: int


class Invitation(Struct):
    """A pending invitation (protocol 2): to ``room``, from ``by``."""

    room: str
    by: str
    private: bool


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
    admin: bool = False  # protocol 2: a server admin (absent otherwise)
    # protocol 2: the invitations the user has neither accepted (join) nor declined (leave)
    invites: list[Invitation] | None = None


class Joined(ServerFrame, tag="joined"):
    """``members`` lists at most ``JOINED_MEMBERS_MAX`` nicks (the first, case-insensitively:
    all of them in a room that small), ``member_count`` how many the room has (absent from
    a server older than it), ``online`` the online ones among ``members``. ``topic``,
    ``private`` and ``roles`` ({nick: "owner"|"op"}, the members with a role) are protocol
    2's; so are ``floor`` (the room's first seq still stored: retention erased those below
    it; absent while 1) and ``retention_s`` (how long its entries are kept, in seconds;
    absent: forever)."""

    room: str
    last_seq: int
    members: list[str]
    online: list[str]
    member_count: int | None = None
    topic: str = ""
    private: bool = False
    roles: dict[str, str] = {}
    floor: int = 1
    retention_s: int | None = None


class Left(ServerFrame, tag="left"):
    """The user is no longer in ``room``; ``by`` and ``reason`` (protocol 2) when someone
    removed them (a kick or a ban)."""

    room: str
    by: str | None = None
    reason: str | None = None


class Reaction(Struct, omit_defaults=True):
    """One emoji on a message and who reacted with it, in the order they did: the first
    ``MAX_REACTION_NICKS`` of them, with ``count`` (all of them) only when there are more."""

    emoji: str
    nicks: list[str]
    count: int | None = None


class MessageRecord(Struct, omit_defaults=True):
    """An entry of a room's log as ``history`` lists it.

    A message (``kind`` absent) comes as it is now: ``edited`` (ts of its last edit),
    ``deleted`` (true, ``body`` then ""), ``reactions``, ``replies`` (on a thread's root),
    ``reply_to`` and ``thread`` (when it answers a message), ``version`` (seq of the last
    entry applied to it; absent while it has none, then it is ``seq``). A change entry
    (protocol 2) has ``kind`` "edit", "delete" or "react" and ``target`` (the message's
    seq); an edit's ``body`` is the message's current text ("" and ``deleted`` once the
    message is deleted), a delete's ``reason`` is optional, a react's ``emoji`` and
    ``remove`` say what it did ("" and ``deleted`` once the message is deleted). The fields
    a message without changes lacks are left out, so its record is protocol 1's byte for
    byte. A ``notice`` (a room command's entry) has ``event`` and, as the event needs,
    ``target_nick``, ``topic``, ``role`` and ``reason``.
    """

    room: str
    seq: int
    nick: str
    body: str
    ts: str
    id: str
    kind: Literal["edit", "delete", "react", "notice"] | None = None
    target: int | None = None
    edited: str | None = None
    deleted: bool = False
    version: int | None = None
    reason: str | None = None
    reply_to: int | None = None
    thread: int | None = None
    replies: int = 0
    reactions: list[Reaction] = []
    emoji: str | None = None
    remove: bool = False
    event: str | None = None
    target_nick: str | None = None
    topic: str | None = None
    role: str | None = None


class HistoryPage(ServerFrame, tag="history"):
    """``floor`` (protocol 2): the room's first seq still stored (absent while 1)."""

    room: str
    messages: list[MessageRecord]
    more: bool
    floor: int = 1


class Ack(ServerFrame, tag="ack"):
    id: str
    room: str
    seq: int
    ts: str


class Message(ServerFrame, tag="message"):
    """Live: a new message; ``reply_to`` and ``thread`` (protocol 2) when it answers one."""

    room: str
    seq: int
    nick: str
    body: str
    ts: str
    id: str
    reply_to: int | None = None
    thread: int | None = None


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


class ReactEvent(ServerFrame, tag="react"):
    """Live: ``nick`` added ``emoji`` to the message ``target`` of ``room`` (took it back
    when ``remove``) (entry ``seq``)."""

    room: str
    seq: int
    nick: str
    ts: str
    id: str
    target: int
    emoji: str
    remove: bool = False


class Notice(ServerFrame, tag="notice"):
    """Live: a room command's entry (``event``: create, topic, invite, kick, ban, unban,
    role), by ``nick``; ``target_nick``, ``topic``, ``role``, ``reason`` as it needs."""

    room: str
    seq: int
    nick: str
    ts: str
    id: str
    event: str
    target_nick: str | None = None
    topic: str | None = None
    role: str | None = None
    reason: str | None = None


class InviteEvent(ServerFrame, tag="invite"):
    """Live, to the invitee's connections: ``by`` invited them to ``room``."""

    room: str
    by: str
    private: bool


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
    """A message matching a search, as it is now (``edited``, ``version``, ``reply_to``,
    ``thread``, ``replies``, ``reactions``: as in :class:`MessageRecord`; a deleted
    message is never a hit)."""

    room: str
    seq: int
    nick: str
    body: str
    ts: str
    edited: str | None = None
    version: int | None = None
    reply_to: int | None = None
    thread: int | None = None
    replies: int = 0
    reactions: list[Reaction] = []


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


class MemberPage(ServerFrame, tag="members"):
    """The answer to ``members``: a page of nicks in case-insensitive order, the online ones
    among them, and whether more follow (ask again ``after`` the last nick)."""

    room: str
    members: list[str]
    online: list[str]
    more: bool


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
    | ReactEvent
    | Notice
    | InviteEvent
    | Presence
    | TypingEvent
    | ReadEvent
    | Results
    | RoomList
    | MemberPage
    | PasswordChanged
    | Blocked
    | Unblocked
    | Error
)
