"""The wire format of protocol v1: typed frames, decoding with validation, encoding, limits
and text cleaning.

Pure: no sockets, no database, no clock except in ``now_ts``. The server and every client
(``chat_tui``) import it, so a frame means the same thing on both ends. Decoding reads the
whole frame into a tagged union of msgspec Structs, then checks what types cannot say
(names, body length after cleaning, mutually exclusive fields) and raises
:class:`~chat_server.errors.ProtocolError` with the wire error code and the request's
``ref``. The frames a server sends are defined in ``server_frames.py`` and re-exported here.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Final, Literal, get_args

import msgspec
from msgspec import Meta, Struct

from chat_server.errors import ProtocolError

# the server's frames live in chat_server/server_frames.py; re-exported for every user of p.
from chat_server.server_frames import Ack as Ack
from chat_server.server_frames import AnyServerFrame as AnyServerFrame
from chat_server.server_frames import Blocked as Blocked
from chat_server.server_frames import DeleteEvent as DeleteEvent
from chat_server.server_frames import EditEvent as EditEvent
from chat_server.server_frames import Error as Error
from chat_server.server_frames import HistoryPage as HistoryPage
from chat_server.server_frames import Invitation as Invitation
from chat_server.server_frames import InviteEvent as InviteEvent
from chat_server.server_frames import Joined as Joined
from chat_server.server_frames import Left as Left
from chat_server.server_frames import Limits as Limits
from chat_server.server_frames import MemberPage as MemberPage
from chat_server.server_frames import Message as Message
from chat_server.server_frames import MessageRecord as MessageRecord
from chat_server.server_frames import Notice as Notice
from chat_server.server_frames import PasswordChanged as PasswordChanged
from chat_server.server_frames import Presence as Presence
from chat_server.server_frames import Rate as Rate
from chat_server.server_frames import ReactEvent as ReactEvent
from chat_server.server_frames import Reaction as Reaction
from chat_server.server_frames import ReadEvent as ReadEvent
from chat_server.server_frames import Results as Results
from chat_server.server_frames import RoomInfo as RoomInfo
from chat_server.server_frames import RoomList as RoomList
from chat_server.server_frames import RoomState as RoomState
from chat_server.server_frames import SearchHit as SearchHit
from chat_server.server_frames import ServerFrame as ServerFrame
from chat_server.server_frames import TypingEvent as TypingEvent
from chat_server.server_frames import Unblocked as Unblocked
from chat_server.server_frames import Welcome as Welcome

# names, cleaning and time live in chat_server/text.py; re-exported for every user of p.
from chat_server.text import clean_text as clean_text
from chat_server.text import dm_pair as dm_pair
from chat_server.text import dm_room as dm_room
from chat_server.text import format_ts as format_ts
from chat_server.text import has_control
from chat_server.text import is_valid_nick as is_valid_nick
from chat_server.text import is_valid_room as is_valid_room
from chat_server.text import nick_key as nick_key
from chat_server.text import now_ts as now_ts

PROTOCOL_VERSION: Final = 2
MAX_BODY: Final = 4000
MAX_REASON: Final = 500
MAX_TOPIC: Final = 200
MAX_EMOJI: Final = 32
MAX_REACTIONS: Final = 20  # distinct emoji on one message
MAX_REACTION_NICKS: Final = 50  # the nicks a page lists per emoji (a record stays small)
MAX_FRAME: Final = 64 * 1024
HISTORY_MAX: Final = 500
HISTORY_DEFAULT: Final = 100
JOIN_BACKLOG: Final = 50
SEARCH_MAX: Final = 100
SEARCH_DEFAULT: Final = 50
ROOMS_MAX: Final = 100
ROOMS_DEFAULT: Final = 50
# the members a ``joined`` lists, and a ``members`` page's largest ``limit`` (and default)
JOINED_MEMBERS_MAX: Final = 500
# A room of more members hears nobody's online and offline (joined and left it does): each
# would go to every member, and a restart that brings 10,000 of them back would send them 50
# million; its members pages say who is online. The same line as the members a join lists.
PRESENCE_MEMBERS_MAX: Final = JOINED_MEMBERS_MAX
MAX_CURSOR: Final = 96
MAX_REF: Final = 64
MAX_ID: Final = 64
MAX_PASSWORD: Final = 1024
MAX_QUERY: Final = 256
MAX_CLIENT: Final = 128
MAX_TOKEN: Final = 256
MAX_INVITE: Final = 64

ERROR_CODES: Final = frozenset(
    {
        "bad_request",
        "unknown_type",
        "auth_required",
        "auth_failed",
        "forbidden",
        "not_member",
        "not_found",
        "invalid_name",
        "too_large",
        "rate_limited",
        "internal",
        "conflict",  # protocol 2: a name that must be unique is taken
    }
)

# Close codes (RFC 6455 numbers used as DESIGN.md lists them).
CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_UNSUPPORTED: Final = 1003
CLOSE_POLICY: Final = 1008
CLOSE_TOO_BIG: Final = 1009
CLOSE_INTERNAL: Final = 1011
CLOSE_TRY_AGAIN: Final = 1013

# A stopping server's 1001 says when to come back: "retry_after=S" (seconds, one decimal), a
# wait it spreads over its connections so that they return at the pace it can log them in.
GOING_AWAY_REASON = re.compile(r"retry_after=(\d{1,6}(?:\.\d)?)", re.ASCII)
# A longer wait is not taken (a typo, a hostile proxy): as a Retry-After, an hour at most.
GOING_AWAY_MAX: Final = 3600.0


def going_away_reason(wait: float) -> str:
    """The reason of a 1001 that tells the client to wait ``wait`` seconds first."""
    return f"retry_after={min(GOING_AWAY_MAX, max(0.0, wait)):.1f}"


def going_away_wait(code: int | None, reason: str | None) -> float | None:
    """The wait a close asked for: a 1001 whose reason is ``retry_after=S``; else None."""
    if code != CLOSE_GOING_AWAY or not reason:
        return None
    match = GOING_AWAY_REASON.fullmatch(reason)
    wait = float(match.group(1)) if match else None
    return wait if wait is not None and wait <= GOING_AWAY_MAX else None


Ref = Annotated[str, Meta(max_length=MAX_REF)]
MAX_SEQ: Final = 2**63 - 1  # SQLite's and PostgreSQL's bigint
Seq = Annotated[int, Meta(ge=0, le=MAX_SEQ)]
ClientId = Annotated[str, Meta(min_length=1, max_length=MAX_ID)]
HistoryLimit = Annotated[int, Meta(ge=1, le=HISTORY_MAX)]
SearchLimit = Annotated[int, Meta(ge=1, le=SEARCH_MAX)]
RoomsLimit = Annotated[int, Meta(ge=1, le=ROOMS_MAX)]
MembersLimit = Annotated[int, Meta(ge=1, le=JOINED_MEMBERS_MAX)]
Cursor = Annotated[str, Meta(max_length=MAX_CURSOR)]


# --- client -> server -------------------------------------------------------------------


class ClientFrame(Struct, tag_field="type", kw_only=True, omit_defaults=True):
    """Base of every frame a client sends; ``ref`` is echoed by the direct reply. A client
    encoding one leaves out the fields it did not set."""

    ref: Ref | None = None


class Hello(ClientFrame, tag="hello"):
    """``invite`` (protocol 2): a code from ``chat-server invites create``, with ``nick`` and
    ``password``, to create the account on a server whose signup needs one."""

    nick: str | None = None
    password: str | None = None
    token: str | None = None
    client: str | None = None
    invite: str | None = None


class Join(ClientFrame, tag="join"):
    """``create`` (protocol 2): False answers ``not_found`` for a missing room instead of
    creating it; so does a ``since`` above 0 (a resume of a room that was removed)."""

    room: str
    since: Seq | None = None
    create: bool = True


class Leave(ClientFrame, tag="leave"):
    room: str


class Send(ClientFrame, tag="send"):
    """``reply_to`` (protocol 2): the seq of the message of the same room this answers."""

    body: str
    id: ClientId
    room: str | None = None
    to: str | None = None
    reply_to: Seq | None = None


class Edit(ClientFrame, tag="edit"):
    """Protocol 2: replace the text of one's own message ``target`` (a seq of ``room``)."""

    room: str
    target: Seq
    body: str
    id: ClientId


class Delete(ClientFrame, tag="delete"):
    """Protocol 2: delete the message ``target`` of ``room``; its text is erased."""

    room: str
    target: Seq
    id: ClientId
    reason: str | None = None


class React(ClientFrame, tag="react"):
    """Protocol 2: add (or, with ``remove``, take back) one's ``emoji`` on message ``target``."""

    room: str
    target: Seq
    emoji: str
    id: ClientId
    remove: bool = False


class History(ClientFrame, tag="history"):
    """A page of ``room``: the newest (``before``), from a seq on (``after``), the thread
    of a message (``thread``, paged on with ``after``), or centred on a seq (``around``)."""

    room: str
    before: Seq | None = None
    after: Seq | None = None
    limit: HistoryLimit = HISTORY_DEFAULT
    thread: Seq | None = None
    around: Seq | None = None


class Read(ClientFrame, tag="read"):
    room: str
    seq: Seq


class Typing(ClientFrame, tag="typing"):
    room: str


class Search(ClientFrame, tag="search"):
    q: str
    room: str | None = None
    limit: SearchLimit = SEARCH_DEFAULT


class Rooms(ClientFrame, tag="rooms"):
    """A page of the public rooms, biggest first; ``cursor`` from the previous page's reply."""

    limit: RoomsLimit = ROOMS_DEFAULT
    cursor: Cursor | None = None


class Members(ClientFrame, tag="members"):
    """A page of ``room``'s members in nick order (case-insensitive), from the one after the
    nick ``after`` on: how a client learns the members a ``joined`` did not list."""

    room: str
    after: str | None = None
    limit: MembersLimit = JOINED_MEMBERS_MAX


class Logout(ClientFrame, tag="logout"):
    all: bool = False  # every token of the user, every connection on every server


class Password(ClientFrame, tag="password"):
    old: str
    new: str


class Block(ClientFrame, tag="block"):
    """Refuse someone's direct messages and hide your presence from them."""

    nick: str


class Unblock(ClientFrame, tag="unblock"):
    nick: str


# Protocol 2's room commands: each carries an ``id`` like ``send`` and is answered by an
# ``ack`` once its ``notice`` entry is committed.


class Create(ClientFrame, tag="create"):
    """Make a room (``conflict`` when the name is taken), its creator the owner."""

    room: str
    id: ClientId
    private: bool = False
    topic: str = ""


class Invite(ClientFrame, tag="invite"):
    room: str
    nick: str
    id: ClientId


class Kick(ClientFrame, tag="kick"):
    room: str
    nick: str
    id: ClientId
    reason: str | None = None


class Ban(ClientFrame, tag="ban"):
    room: str
    nick: str
    id: ClientId
    reason: str | None = None


class Unban(ClientFrame, tag="unban"):
    room: str
    nick: str
    id: ClientId


class SetRole(ClientFrame, tag="role"):
    """Give ``nick`` the ``role`` owner, op or member in ``room``."""

    room: str
    nick: str
    role: Literal["owner", "op", "member"]
    id: ClientId


class Topic(ClientFrame, tag="topic"):
    room: str
    topic: str
    id: ClientId


RoomCommandFrame = Invite | Kick | Ban | Unban | SetRole | Topic


AnyClientFrame = (
    Hello
    | Join
    | Leave
    | Send
    | Edit
    | Delete
    | React
    | History
    | Read
    | Typing
    | Search
    | Rooms
    | Members
    | Logout
    | Block
    | Unblock
    | Password
    | Create
    | Invite
    | Kick
    | Ban
    | Unban
    | SetRole
    | Topic
)
CLIENT_TYPES: Final[frozenset[str]] = frozenset(
    frame.__struct_config__.tag for frame in get_args(AnyClientFrame)
)


# --- the rooms list's cursor ------------------------------------------------------------

_CURSOR = re.compile(r"([0-9]{1,18})/([a-z0-9_-]{1,64})")


def rooms_cursor(room: RoomInfo) -> str:
    """The cursor of the page after ``room`` (opaque to clients)."""
    return f"{room.members}/{room.room}"


def rooms_after(cursor: str, ref: str | None = None) -> tuple[int, str]:
    """Where a ``rooms`` cursor points: the (members, name) of the last room listed."""
    match = _CURSOR.fullmatch(cursor)
    if match is None:
        raise ProtocolError("bad_request", "malformed cursor: use one from a rooms reply", ref)
    return int(match[1]), match[2]


# --- decoding ---------------------------------------------------------------------------


class _Envelope(Struct):
    type: Any = None
    ref: Any = None


_client_decoder = msgspec.json.Decoder(AnyClientFrame)
_envelope_decoder = msgspec.json.Decoder(_Envelope)
_server_decoder = msgspec.json.Decoder(AnyServerFrame)
_encoder = msgspec.json.Encoder()


def decode_client_frame(data: str | bytes) -> AnyClientFrame:
    """Parse and validate one client frame, or raise ProtocolError (code, message, ref)."""
    try:
        frame: AnyClientFrame = _client_decoder.decode(_last_type_wins(data))
    except UnicodeDecodeError:  # bytes that are not UTF-8 (msgspec raises this one as is)
        raise ProtocolError("bad_request", "a frame must be UTF-8 text") from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _explain(data, exc) from None
    _check(frame)
    return frame


def _last_type_wins(data: str | bytes) -> str | bytes:
    """Re-encode a frame that may repeat ``type``, so the last value wins as in JSON.parse.

    msgspec picks a tagged union's member by the first tag it reads; a generic decode
    keeps the last value of a repeated key.
    """
    marker: str | bytes = '"type"' if isinstance(data, str) else b'"type"'
    if data.count(marker) > 1:  # type: ignore[arg-type]
        return _encoder.encode(msgspec.json.decode(data))
    return data


def _explain(data: str | bytes, exc: Exception) -> ProtocolError:
    """Turn a decode failure into the error a client should see, reading the envelope."""
    try:
        envelope = _envelope_decoder.decode(data)
    except msgspec.ValidationError:
        return ProtocolError("bad_request", "a frame must be a JSON object")
    except (msgspec.DecodeError, RecursionError):
        return ProtocolError("bad_request", "malformed JSON")
    ref = envelope.ref if isinstance(envelope.ref, str) and len(envelope.ref) <= MAX_REF else None
    if envelope.type is None:
        return ProtocolError("bad_request", "missing field `type`", ref)
    if not isinstance(envelope.type, str):
        return ProtocolError("bad_request", "`type` must be a string", ref)
    if envelope.type not in CLIENT_TYPES:
        return ProtocolError("unknown_type", f"unknown type {envelope.type[:64]!r}", ref)
    if isinstance(exc, RecursionError):
        return ProtocolError("bad_request", "JSON nested too deeply", ref)
    return ProtocolError("bad_request", str(exc), ref)


def _check_room(room: str, ref: str | None) -> None:
    if not is_valid_room(room):
        raise ProtocolError(
            "invalid_name", "room names are 1-64 of a-z, 0-9, _ and - (lower case)", ref
        )


def _check_nick(nick: str, ref: str | None) -> None:
    if not is_valid_nick(nick):
        raise ProtocolError("invalid_name", "nicks are 1-32 of A-Z, a-z, 0-9, _ and -", ref)


def _check_id(key: str, ref: str | None) -> None:
    if has_control(key):  # stored as is: PostgreSQL refuses a NUL in text
        raise ProtocolError("bad_request", "an id holds no control characters", ref)


def clean_reason(reason: str, ref: str | None = None) -> str | None:
    """A delete's reason as it will be stored (one line; None when blank), or ProtocolError
    when it is too long."""
    cleaned = " ".join(clean_text(reason).split())
    if len(cleaned) > MAX_REASON:
        raise ProtocolError("too_large", f"a reason is at most {MAX_REASON} characters", ref)
    return cleaned or None


# Line and paragraph separators: some clients start a new line at them, as at "\n".
_LINE_BREAKS: Final = frozenset("\n\u2028\u2029")
# Marks and overrides of text direction: in a reaction they could only hide it or turn the
# text beside it around.
_BIDI: Final = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_topic(topic: str, ref: str | None = None) -> str:
    """A room topic as it will be stored: one line of at most ``MAX_TOPIC`` characters
    after cleaning (blank: no topic), or ProtocolError."""
    cleaned = clean_text(topic).strip()
    if not _LINE_BREAKS.isdisjoint(cleaned):
        raise ProtocolError("bad_request", "a topic is one line", ref)
    if len(cleaned) > MAX_TOPIC:
        raise ProtocolError("too_large", f"a topic is at most {MAX_TOPIC} characters", ref)
    return cleaned


def clean_emoji(emoji: str, ref: str | None = None) -> str:
    """A reaction's emoji as it will be stored, or ProtocolError: 1-32 characters after
    cleaning, no whitespace, no direction marks, and something to see (a letter, digit,
    symbol or punctuation: never only zero-width characters or combining marks)."""
    cleaned = clean_text(emoji)
    if not cleaned or len(cleaned) > MAX_EMOJI or any(ch.isspace() for ch in cleaned):
        raise ProtocolError(
            "bad_request", f"an emoji is 1-{MAX_EMOJI} characters without spaces", ref
        )
    if not _BIDI.isdisjoint(cleaned) or not any(
        unicodedata.category(ch)[0] in "LNPS" for ch in cleaned
    ):
        raise ProtocolError("bad_request", "an emoji must be visible", ref)
    return cleaned


def clean_body(body: str, ref: str | None = None) -> str:
    """The body as it will be stored, or ProtocolError when it is empty or too long."""
    cleaned = clean_text(body)
    if not cleaned.strip():
        raise ProtocolError("bad_request", "the message body is empty", ref)
    if len(cleaned) > MAX_BODY:
        raise ProtocolError("too_large", f"the message body is over {MAX_BODY} characters", ref)
    return cleaned


def clean_query(q: str, ref: str | None = None) -> str:
    """The search query cleaned as bodies are (what is searched is cleaned text), or
    ProtocolError when it is empty or too long."""
    cleaned = clean_text(q)
    if not cleaned.strip():
        raise ProtocolError("bad_request", "the search query is empty", ref)
    if len(cleaned) > MAX_QUERY:
        raise ProtocolError("too_large", f"queries are at most {MAX_QUERY} characters", ref)
    return cleaned


def _check(frame: AnyClientFrame) -> None:
    """Checks a schema cannot express; may replace ``Send.body``, ``Edit.body``,
    ``Delete.reason``, ``React.emoji`` and ``Search.q`` with their cleaned forms."""
    ref = frame.ref
    match frame:
        case Hello():
            if frame.token is not None:
                if not 0 < len(frame.token) <= MAX_TOKEN:
                    raise ProtocolError("bad_request", "malformed token", ref)
            elif frame.nick is None or frame.password is None:
                raise ProtocolError("bad_request", "hello needs nick and password, or token", ref)
            else:
                _check_nick(frame.nick, ref)
                if not 0 < len(frame.password) <= MAX_PASSWORD:
                    raise ProtocolError(
                        "bad_request", f"passwords are 1-{MAX_PASSWORD} characters", ref
                    )
            if frame.client is not None and len(frame.client) > MAX_CLIENT:
                raise ProtocolError("bad_request", "client is too long", ref)
            if frame.invite is not None and not 0 < len(frame.invite) <= MAX_INVITE:
                raise ProtocolError(
                    "bad_request", f"invite codes are 1-{MAX_INVITE} characters", ref
                )
        case Join() | Leave() | Read() | Typing():
            _check_room(frame.room, ref)
        case Send():
            if (frame.room is None) == (frame.to is None):
                raise ProtocolError("bad_request", "send needs exactly one of room and to", ref)
            if frame.room is not None:
                _check_room(frame.room, ref)
            if frame.to is not None:
                _check_nick(frame.to, ref)
            _check_id(frame.id, ref)
            frame.body = clean_body(frame.body, ref)
        case Edit():
            _check_room(frame.room, ref)
            _check_id(frame.id, ref)
            frame.body = clean_body(frame.body, ref)
        case Delete():
            _check_room(frame.room, ref)
            _check_id(frame.id, ref)
            if frame.reason is not None:
                frame.reason = clean_reason(frame.reason, ref)
        case React():
            _check_room(frame.room, ref)
            _check_id(frame.id, ref)
            frame.emoji = clean_emoji(frame.emoji, ref)
        case History():
            _check_room(frame.room, ref)
            given = (frame.before, frame.after, frame.thread, frame.around)
            thread_page = frame.thread is not None and frame.before is frame.around is None
            if sum(value is not None for value in given) > 1 and not thread_page:
                raise ProtocolError(
                    "bad_request", "use one of before, after, thread and around", ref
                )
        case Search():
            frame.q = clean_query(frame.q, ref)
            if frame.room is not None:
                _check_room(frame.room, ref)
        case Password():
            for value in (frame.old, frame.new):
                if not 0 < len(value) <= MAX_PASSWORD:
                    raise ProtocolError(
                        "bad_request", f"passwords are 1-{MAX_PASSWORD} characters", ref
                    )
        case Block() | Unblock():
            _check_nick(frame.nick, ref)
        case Create() | Topic():
            _check_room(frame.room, ref)
            _check_id(frame.id, ref)
            frame.topic = clean_topic(frame.topic, ref)
        case Invite() | Kick() | Ban() | Unban() | SetRole():
            _check_room(frame.room, ref)
            _check_nick(frame.nick, ref)
            _check_id(frame.id, ref)
            if isinstance(frame, Kick | Ban) and frame.reason is not None:
                frame.reason = clean_reason(frame.reason, ref)
        case Members():
            _check_room(frame.room, ref)
            if frame.after is not None:
                _check_nick(frame.after, ref)
        case Rooms():
            if frame.cursor is not None:
                rooms_after(frame.cursor, ref)
        case Logout():
            pass


def decode_server_frame(data: str | bytes) -> AnyServerFrame:
    """Parse one server frame (for clients); raises msgspec errors on malformed input."""
    frame: AnyServerFrame = _server_decoder.decode(data)
    return frame


def encode(frame: Struct) -> bytes:
    """One frame as UTF-8 JSON bytes, to be sent as a Text frame."""
    return _encoder.encode(frame)


def error_frame(
    code: str, message: str, ref: str | None = None, retry_after: float | None = None
) -> bytes:
    if retry_after is not None:
        retry_after = round(max(retry_after, 0.001), 3)
    return _encoder.encode(Error(code=code, message=message, ref=ref, retry_after=retry_after))


def refusal_frame(error: ProtocolError) -> bytes:
    """The ``error`` frame of a refused request."""
    return error_frame(error.code, error.message, error.ref, error.retry_after)
