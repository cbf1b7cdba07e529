"""The storage contract: what the server needs from a database, whatever the backend.

Writes go through one writer doing group commit (see ``writer.py``); a message is
acknowledged only after the transaction holding it has committed. Reads never see an
uncommitted batch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Final, Literal, Protocol

import msgspec

from chat_server import access
from chat_server.errors import Forbidden, OverLimit
from chat_server.protocol import (
    MAX_REACTION_NICKS,
    Invitation,
    MessageRecord,
    Reaction,
    RoomInfo,
    RoomState,
    SearchHit,
)
from chat_server.store.rooms import (
    CreateRoom,
    Departure,
    RoomCommand,
    RoomFacts,
    StoredNotice,
    notice_record,
)


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    id: int
    nick: str
    password_hash: str | None
    removed: bool = False
    admin: bool = False  # a server admin (``chat-server users admin``)


@dataclasses.dataclass(frozen=True, slots=True)
class Bearer:
    """Who holds a token, and when the token expires (epoch seconds; None: never)."""

    user: User
    expires_at: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class Invite:
    """An invite code as stored: only its SHA-256 (``code_hash``) and its first characters
    (``prefix``, for people to tell codes apart and name one to revoke)."""

    code_hash: bytes
    prefix: str
    uses: int  # accounts it may create
    used: int  # accounts it created
    expires_at: float | None  # Unix time; None: never
    rooms: tuple[str, ...]  # the rooms a new account joins

    def usable(self, now: float) -> bool:
        return self.used < self.uses and (self.expires_at is None or self.expires_at > now)


# What an ``Invite`` is read from, in the order ``invite_of`` takes it.
INVITE_COLUMNS: Final = "hash, prefix, uses, used, expires_at, rooms"


def invite_of(row: Any) -> Invite:
    """An invite from a row of ``INVITE_COLUMNS`` (a tuple, or a driver's record)."""
    return Invite(bytes(row[0]), row[1], row[2], row[3], row[4], tuple(row[5].split()))


def invite_refused() -> Forbidden:
    """What a signup with a code that is unknown, used up, expired or revoked raises."""
    return Forbidden("the invite code is not valid (unknown, used up, expired or revoked)")


@dataclasses.dataclass(frozen=True, slots=True)
class Room:
    """A room; ``private`` (protocol 2): listed nowhere, joined by invitation. Neither
    its name nor its kind ever changes, so a server keeps it once read."""

    id: int
    name: str
    is_dm: bool
    private: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class RoomSummary:
    """A room as ``chat-server rooms list`` shows it; ``last_activity``: the wire time of
    its newest entry, or of its creation when it has none."""

    name: str
    private: bool
    members: int
    last_activity: str


@dataclasses.dataclass(frozen=True, slots=True)
class StoreFigures:
    """What ``chat-server stats`` tells of a database: accounts (removed ones left out),
    rooms (direct conversations apart), messages (changes and deleted ones left out), and
    the bytes its tables take (SQLite: the file; PostgreSQL: the schema's tables and
    indexes)."""

    users: int
    rooms: int
    conversations: int
    messages: int
    size_bytes: int


# The two records every message passes through are msgspec Structs rather than frozen
# dataclasses: a frozen dataclass's __init__ sets each field through object.__setattr__,
# ~1.2 us for seven fields against ~0.1 us, once per message on each side of the writer.
class NewMessage(msgspec.Struct, frozen=True):
    """A message to store: who, where, what, and the client's idempotency key;
    ``reply_to``: the seq of the message of the room it answers (protocol 2)."""

    user_id: int
    nick: str
    room_id: int
    client_id: str
    body: str
    reply_to: int | None = None


class Stored(msgspec.Struct, frozen=True):
    """A committed message (``new``) or the original one a repeated key stands for;
    ``reply_to`` and ``thread`` when it answers a message."""

    room: str
    seq: int
    ts: str
    client_id: str
    nick: str
    body: str
    new: bool
    reply_to: int | None = None
    thread: int | None = None


# The kinds of a room's entries, by the number a database stores (messages are 0, the
# column's default, so a send writes nothing more than before). A reaction taken back is
# a "react" entry of its own number; a room command leaves a "notice" (``rooms.py``).
KINDS: Final = ("message", "edit", "delete", "react", "react", "notice")
EDIT: Final = 1
DELETE: Final = 2
REACT: Final = 3
UNREACT: Final = 4


class NewChange(msgspec.Struct, frozen=True):
    """An edit or a delete of the message at seq ``target`` of a room, to store.

    Who may make it is decided in the writer's transaction (``access.change_refusal``),
    with the user's admin flag as it is then. ``edit_window``: seconds after sending that
    its author may edit a message (None: no limit).
    """

    user_id: int
    nick: str
    room_id: int
    client_id: str
    kind: Literal["edit", "delete"]
    target: int
    body: str = ""
    reason: str | None = None
    edit_window: float | None = None


class NewReaction(msgspec.Struct, frozen=True):
    """A reaction to the message at seq ``target`` of a room, or its removal."""

    user_id: int
    nick: str
    room_id: int
    client_id: str
    target: int
    emoji: str
    remove: bool = False


class StoredChange(msgspec.Struct, frozen=True):
    """A committed change (``new``), or the entry a repeated key (or a second delete of a
    message) stands for: its ``kind`` may then be any entry's. A reaction that changed
    nothing (repeated, or a removal of none) is ``new`` False with the room's last seq.
    ``moderated``: the nick of the message's author, when a server admin deleted someone
    else's message (new only)."""

    room: str
    seq: int
    ts: str
    client_id: str
    nick: str
    kind: str
    target: int | None
    body: str
    reason: str | None
    new: bool
    emoji: str | None = None
    remove: bool = False
    moderated: str | None = None


def batch_order(ops: Sequence[Any]) -> list[int]:
    """The order a group-commit batch is written in, as positions of ``ops``.

    Plain messages are written in bulk, a run at a time, and a change, a reaction or a
    reply between two would split them in two runs with statements of their own each. So,
    between two writes of another kind (joins, blocks, accounts: barriers), the plain
    messages go first, every one whose author has nothing held back before it, then the
    changes whose authors have nothing held back, and so on until all are written: as many
    runs as one author has changes in the batch, however many authors write. An author's
    own writes never swap, and writes of different people in one batch were concurrent:
    no one can tell. The writer resolves the futures in this order, so acks and fan-out
    still go in seq order.
    """
    order: list[int] = []
    segment: list[int] = []
    for i, op in enumerate(ops):
        if isinstance(op, NewChange | NewReaction | NewMessage):
            segment.append(i)
        else:  # everything before it is written before it
            order += [*_runs_first(ops, segment), i]
            segment = []
    return order + _runs_first(ops, segment)


def _runs_first(ops: Sequence[Any], pending: list[int]) -> list[int]:
    """``pending`` (messages, changes, reactions) reordered as ``batch_order`` says."""
    order: list[int] = []
    while pending:
        for plain in (True, False):
            held: list[int] = []
            waiting: set[int] = set()  # authors with a write held back in this pass
            for i in pending:
                op = ops[i]
                if is_plain(op) == plain and op.user_id not in waiting:
                    order.append(i)
                else:
                    held.append(i)
                    waiting.add(op.user_id)
            pending = held
    return order


def is_plain(op: Any) -> bool:
    """A message that answers none: the writers store runs of them in bulk."""
    return isinstance(op, NewMessage) and op.reply_to is None


def stored_entry(
    room: str, seq: int, ts: str, nick: str, kind: int, target: int | None, body: str,
    reason: str | None, *, client_id: str,
) -> StoredChange:  # fmt: skip
    """The stored entry an idempotency key (or a second delete) stands for, from its row:
    a reaction's emoji is in its ``body``."""
    react = KINDS[kind] == "react"
    return StoredChange(
        room=room, seq=seq, ts=ts, client_id=client_id, nick=nick, kind=KINDS[kind],
        target=target, body="" if react else body, reason=reason, new=False,
        emoji=body if react else None, remove=kind == UNREACT,
    )  # fmt: skip


def reacted(reaction: NewReaction, room: str, seq: int, ts: str, *, new: bool) -> StoredChange:
    """What a reaction's ack and entry say: ``new`` False when it changed nothing (``seq``
    is then the room's last)."""
    return StoredChange(
        room=room, seq=seq, ts=ts, client_id=reaction.client_id, nick=reaction.nick,
        kind="react", target=reaction.target, body="", reason=None, new=new,
        emoji=reaction.emoji, remove=reaction.remove,
    )  # fmt: skip


def age_of(ts: str) -> float:
    """Seconds since the wire timestamp ``ts``."""
    return time.time() - datetime.fromisoformat(ts).timestamp()


@dataclasses.dataclass(frozen=True, slots=True)
class Blocks:
    """A user's blocks: whom they blocked, and who blocked them (user ids)."""

    blocked: frozenset[int] = frozenset()
    blocked_by: frozenset[int] = frozenset()


def too_many_blocks(max_blocks: int) -> OverLimit:
    """What ``block`` past ``max_blocks`` raises: only an unblock helps."""
    return OverLimit(f"you blocked as many people as allowed ({max_blocks}): unblock someone first")


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    """``floor``: the room's first seq still stored (retention pruned those below it)."""

    messages: list[MessageRecord]
    more: bool
    floor: int = 1


# The most entries one prune (a transaction of the writer's) takes out of a room.
PRUNE_BATCH: Final = 500


@dataclasses.dataclass(frozen=True, slots=True)
class Retention:
    """A room's retention: ``floor``, its first seq still stored, and ``seconds``, its own
    limit (None: the server's ``--retention``; 0: kept forever)."""

    floor: int
    seconds: int | None

    def effective(self, default: float | None) -> int | None:
        """How long the room's entries are kept, in whole seconds; None: forever."""
        seconds = default if self.seconds is None else self.seconds
        return int(seconds) if seconds else None


def expired(rows: Sequence[Any], before: str) -> int:
    """How many of a room's oldest entries, rows (seq, ts) in seq order, were made before
    the wire time ``before``: entries are made in seq order, so those come first."""
    for taken, row in enumerate(rows):
        if row[1] >= before:
            return taken
    return len(rows)


@dataclasses.dataclass(frozen=True, slots=True)
class ExportFilter:
    """What ``chat-server export`` writes: the messages of ``room`` (any room when None),
    by ``user_id`` (anyone's when None), sent at ``since`` (a wire time) or later."""

    room: str | None = None
    user_id: int | None = None
    since: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RoomsPage:
    """Public rooms by members (most first), then name; ``more``: another page follows."""

    rooms: list[RoomInfo]
    more: bool


# The window of ``RoomQuota.created_per_hour``, in seconds.
CREATION_WINDOW = 3600.0


@dataclasses.dataclass(frozen=True, slots=True)
class RoomQuota:
    """What one user may do by joining: be a member of at most ``max_rooms`` rooms (direct
    conversations included), and create at most ``created_per_hour`` rooms in any hour.

    Kept in the database, so it holds across connections, reconnects and nodes.
    """

    max_rooms: int
    created_per_hour: int

    def full(self) -> OverLimit:
        return OverLimit(
            f"you are in as many rooms as allowed ({self.max_rooms}): leave one to join another"
        )

    def too_fast(self, wait: float) -> OverLimit:
        return OverLimit(
            f"you may create {self.created_per_hour} rooms an hour: try again later",
            retry_after=wait,
        )


class Store(Protocol):
    """A chat database. Every method may raise StoreError when the backend fails."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def observe_batches(self, observer: Callable[[int, float], None]) -> None:
        """Have ``observer`` told the size and the seconds of every group commit."""
        ...

    # users and tokens
    async def user_by_nick(self, nick: str) -> User | None: ...

    async def user_by_token(self, token_hash: bytes, now: float) -> Bearer | None:
        """The user a live token (not expired at ``now``) logs in, and its expiry."""
        ...

    async def create_user(self, nick: str, password_hash: str, invite: bytes | None = None) -> User:
        """A new account (Conflict when the nick is taken). With ``invite`` (a code's
        SHA-256), in the same transaction: one use of the code is taken and the account
        joins the code's rooms (created public when missing); Forbidden
        (``invite_refused``) and nothing is written when the code is unknown, used up or
        expired, so concurrent signups never use a code more often than it allows."""
        ...

    # rooms, for the command line (``chat-server rooms``)
    async def room_summaries(self) -> list[RoomSummary]:
        """Every room but direct conversations, by name."""
        ...

    async def figures(self) -> StoreFigures:
        """The database's counts and size, for ``chat-server stats``."""
        ...

    async def remove_room(self, name: str) -> bool:
        """Erase a room (not a direct conversation) in one transaction: its entries (bodies,
        edits, reactions, search-index words), memberships, bans and invitations, and its
        name, which a new room may take; False when there is no such room. A server that
        has read the room keeps its id by name until a join of that name reads it anew."""
        ...

    # retention (``serve --retention``, ``chat-server rooms retention``; ``retention.py``)
    async def set_retention(self, name: str, seconds: int | None) -> bool:
        """Keep the room's entries ``seconds`` (0: forever; None: as the server says);
        False when there is no such room (direct conversations are rooms here)."""
        ...

    async def retention(self, room_id: int) -> Retention: ...

    async def expiring_rooms(self, default: float | None) -> list[tuple[int, float]]:
        """The rooms (id, seconds kept) whose entries expire and that have entries, with
        ``default`` for those without a limit of their own."""
        ...

    async def prune(self, room_id: int, before: str, limit: int = PRUNE_BATCH) -> int:
        """Through the writer, in one transaction: erase (as a delete does) the oldest
        entries of the room, from its floor on, made before the wire time ``before``, at
        most ``limit``; the floor moves past them. How many were erased."""
        ...

    async def sweep_done(self) -> None:
        """The retention task's sweep is over (after prunes that erased something): what a
        store does after its prunes, not between them (SQLite: the search index's purge)."""
        ...

    # export (``chat-server export``)
    async def export_page(
        self, which: ExportFilter, after_id: int, limit: int
    ) -> tuple[list[MessageRecord], int]:
        """Up to ``limit`` messages (not deleted, as they are now) in storage order after
        the position ``after_id``, and the position to ask after next (0: no more)."""
        ...

    # invite codes (``chat-server invites``)
    async def add_invite_code(
        self, code_hash: bytes, prefix: str, uses: int, expires_at: float | None,
        rooms: Sequence[str],
    ) -> None: ...  # fmt: skip

    async def invite_code(self, code_hash: bytes) -> Invite | None:
        """The code, whatever its state; None when unknown (or revoked)."""
        ...

    async def invite_codes(self) -> list[Invite]:
        """Every code not revoked, oldest first, used up and expired ones included."""
        ...

    async def revoke_invite_code(self, code_hash: bytes) -> bool:
        """Forget the code; True when there was one."""
        ...

    async def set_password_hash(self, user_id: int, password_hash: str) -> None: ...

    async def remove_user(self, user_id: int) -> None: ...

    async def list_users(self) -> list[User]: ...

    async def set_admin(self, user_id: int, admin: bool) -> bool:
        """Make the user a server admin, or (``admin`` False) no longer one; True when that
        changed the flag. A change's writer reads it, so it holds from the next delete."""
        ...

    async def add_token(
        self, user_id: int, token_hash: bytes, expires_at: float | None
    ) -> None: ...

    async def revoke_token(self, token_hash: bytes) -> None: ...

    async def revoke_user_tokens(self, user_id: int, keep: bytes | None = None) -> int:
        """Revoke every token of the user but ``keep``; how many were revoked."""
        ...

    async def live_tokens(self, token_hashes: Iterable[bytes], now: float) -> set[bytes]: ...

    async def revocation_version(self) -> int:
        """A counter that moves whenever a token is revoked (by any process): servers poll
        it and check their connections' tokens only when it moved."""
        ...

    # rooms and memberships
    async def room_by_name(self, name: str) -> Room | None: ...

    async def join(
        self,
        user_id: int,
        name: str,
        is_dm: bool,
        quota: RoomQuota | None = None,
        *,
        create: bool = True,
    ) -> tuple[Room, bool]:
        """Make the user a member (True when they were not); the room is created when
        missing, unless ``create`` is False: then NotFound.

        With ``quota``, a new membership past ``max_rooms`` or a new room past
        ``created_per_hour`` raises OverLimit and changes nothing; a join of a room the
        user is already in always succeeds.
        """
        ...

    async def open_dm(self, name: str, user_ids: Sequence[int]) -> tuple[Room, bool]:
        """Create a direct conversation when missing and make both people members (a
        message is about to be sent in it); True when one of them was not."""
        ...

    async def leave(self, user_id: int, room_id: int) -> Departure:
        """Leave the room, or decline its invitation (``declined``); when the owner leaves,
        the longest-standing op (else member) becomes owner, with a ``role`` notice."""
        ...

    # rooms with owners (protocol 2; ``rooms.py``)
    async def place(self, user_id: int, room_id: int) -> access.Role:
        """Where the user stands in the room: owner, op, member, invited, banned, none."""
        ...

    async def room_facts(self, room_id: int) -> RoomFacts: ...

    async def invites(self, user_id: int) -> list[Invitation]:
        """The user's pending invitations, oldest first (at most ``rooms.MAX_INVITES``)."""
        ...

    async def create_room(self, room: CreateRoom) -> StoredNotice:
        """Make the room, its creator the owner, with its ``create`` notice at seq 1;
        Conflict when the name is taken (the same key again: the first answer)."""
        ...

    def submit_command(self, command: RoomCommand) -> asyncio.Future[StoredNotice]:
        """Queue a room command: decided (``access.room_refusal``, ``target_refusal``) and
        applied with its notice in the next group commit; the future fails with the
        refusal's store error (NotMember, NotFound, Forbidden, Conflict, Inapplicable)."""
        ...

    async def is_member(self, user_id: int, room_id: int) -> bool: ...

    async def members(
        self, room_id: int, after_key: str | None = None, limit: int | None = None
    ) -> list[tuple[int, str]]:
        """The room's members as (user id, nick), by nick key: those after the nick key
        ``after_key``, at most ``limit`` of them (a walk along an index, never a sort of
        the whole room)."""
        ...

    async def member_count(self, room_id: int) -> int:
        """How many members the room has (0 for a room that does not exist)."""
        ...

    async def user_rooms(self, user_id: int) -> list[RoomState]: ...

    async def presence_rooms(self, user_id: int, max_members: int) -> list[str]:
        """The rooms where the user's presence is announced: their public rooms of at most
        ``max_members`` members, and the direct conversations they have written in (since
        they last joined it)."""
        ...

    async def has_written(self, user_id: int, room_id: int) -> bool:
        """Whether the user has sent a message in the room since they last joined it."""
        ...

    async def public_rooms(self, limit: int, after: tuple[int, str] | None = None) -> RoomsPage:
        """A page of at most ``limit`` public rooms, by members (most first) then name,
        starting after the room at (members, name) ``after``."""
        ...

    async def last_seq(self, room_id: int) -> int: ...

    async def mark_read(self, user_id: int, room_id: int, seq: int) -> int | None: ...

    # blocks
    async def block(self, user_id: int, blocked_id: int, max_blocks: int | None = None) -> bool:
        """The user blocks another; True when they had not already. With ``max_blocks``, a
        new block past that many of the user's raises OverLimit (an old one answers False)."""
        ...

    async def unblock(self, user_id: int, blocked_id: int) -> bool:
        """Undo a block; True when there was one."""
        ...

    async def blocks(self, user_id: int) -> Blocks: ...

    async def blocked_nicks(self, user_id: int, limit: int) -> list[str]:
        """The nicks the user blocked, sorted case-insensitively, at most ``limit``."""
        ...

    async def blocks_between(self, user_id: int, other_nick: str) -> tuple[bool, bool]:
        """(the user blocked ``other_nick``, ``other_nick`` blocked the user)."""
        ...

    # messages
    def submit(self, message: NewMessage) -> asyncio.Future[Stored]:
        """Queue a message for the next group commit; the future resolves after it."""
        ...

    async def append(self, message: NewMessage) -> Stored: ...

    def submit_change(self, change: NewChange | NewReaction) -> asyncio.Future[StoredChange]:
        """Queue an edit, a delete or a reaction for the next group commit (in one
        transaction with its erasures); the future resolves after it, or fails with
        NotMember, NotFound, Forbidden (``access.change_refusal``; a
        server admin may delete anyone's message) or OverLimit (a 21st
        emoji). A message with ``reply_to`` goes through ``submit``: NotFound when its
        target is not a message of the room that stands."""
        ...

    async def history(
        self,
        room: Room,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int,
        upto: int | None = None,
        thread: int | None = None,
        around: int | None = None,
        reader: int | None = None,
    ) -> Page:
        """A page: the newest before ``before`` (capped at ``upto``), ascending from
        ``after``, the thread of the message ``thread`` (root and replies, ascending from
        ``after``; NotFound when it is not a message), or ``limit`` entries from
        ``limit // 2`` before the seq ``around`` (``more``: older ones exist).
        ``reader``: the user asking; the rows are read only while they are a member (in the
        same statement), NotMember otherwise."""
        ...

    async def search(
        self,
        user_id: int,
        words: Sequence[str],
        room_id: int | None,
        limit: int,
        *,
        deadline: float | None = None,
    ) -> list[SearchHit]:
        """The ``limit`` newest messages holding every word, in ``room_id`` or in every room
        of the user; TooCostly when the query runs longer than ``deadline`` seconds."""
        ...


# What a page reads of every entry. ``version`` is set on every row with more to say than
# protocol 1's fields (a changed message, a reply, a thread's root, a change entry): a page
# of messages that never changed costs one query, and the rows with a version get their
# ``DETAIL_COLUMNS`` from a second one (``details_span``).
PAGE_COLUMNS: Final = "seq, nick, body, ts, client_id, version"
DETAIL_COLUMNS: Final = "seq, kind, target, edited, deleted, reason, reply_to, thread, replies, id"
# The reactions of some messages: the first MAX_REACTION_NICKS of each emoji (rank), with
# how many there are, emoji by ``since`` (first use, unbroken since), nicks in the order
# they reacted (rows: message id, emoji, nick, count).
REACTIONS_SQL: Final = (
    "SELECT message_id, emoji, nick, n FROM (SELECT message_id, emoji, nick, seq, since,"
    " ROW_NUMBER() OVER (PARTITION BY message_id, emoji ORDER BY seq) AS rank,"
    " COUNT(*) OVER (PARTITION BY message_id, emoji) AS n"
    " FROM reactions WHERE message_id IN ({ids})) AS r"
    f" WHERE rank <= {MAX_REACTION_NICKS} ORDER BY since, seq"
)


def details_span(rows: Sequence[Any]) -> tuple[int, int] | None:
    """The seqs (lowest, highest) between which the rows of ``PAGE_COLUMNS`` have details
    to read; None when none has."""
    seqs = [r[0] for r in rows if r[5] is not None]
    return (min(seqs), max(seqs)) if seqs else None


def reacted_ids(details: Iterable[Any]) -> list[int]:
    """The message ids, among rows of ``DETAIL_COLUMNS``, that may hold reactions: the
    messages (kind 0) that are not deleted."""
    return [d[9] for d in details if d[1] == 0 and not d[4]]


def reactions_by_id(rows: Iterable[Any]) -> dict[int, list[Reaction]]:
    """Each message's reactions from rows (message id, emoji, nick, count) in the order they
    were made: emoji in order of first use, nicks in the order they reacted, ``count`` when
    the nicks are cut."""
    found: dict[int, dict[str, Reaction]] = {}
    for message_id, emoji, nick, count in rows:
        by_emoji = found.setdefault(message_id, {})
        reaction = by_emoji.get(emoji)
        if reaction is None:
            cut = count if count > MAX_REACTION_NICKS else None
            reaction = by_emoji[emoji] = Reaction(emoji=emoji, nicks=[], count=cut)
        reaction.nicks.append(nick)
    return {message_id: list(by_emoji.values()) for message_id, by_emoji in found.items()}


def history_page(
    room: str,
    rows: Sequence[Any],
    limit: int,
    *,
    newest_first: bool,
    details: dict[int, Any] = {},  # noqa: B006 (never changed)
    reactions: dict[int, list[Reaction]] | None = None,
    floor: int = 1,
) -> Page:
    """A page from the rows of a keyset query that asked for ``limit + 1`` rows.

    Rows are ``PAGE_COLUMNS`` in query order; the extra row only says that there is more.
    ``newest_first`` rows (paging back) are turned to ascending order. ``details``: the
    rows of ``DETAIL_COLUMNS`` by seq, for the rows with a version; ``reactions`` by
    message id; ``floor``: the room's.
    """
    kept = rows[:limit]
    if newest_first:
        kept = kept[::-1]
    # positional: MessageRecord's fields are (room, seq, nick, body, ts, id, ...); a message
    # without details has protocol 1's fields alone, built inline (a call per row costs a
    # page of 100 several microseconds)
    messages = [
        MessageRecord(room, r[0], r[1], r[2], r[3], r[4])
        if r[5] is None
        else _detailed(room, r, details[r[0]], reactions or {})
        for r in kept
    ]
    return Page(messages=messages, more=len(rows) > limit, floor=floor)


def _detailed(room: str, r: Any, d: Any, reactions: dict[int, list[Reaction]]) -> MessageRecord:
    """A message with details, or a change entry, from a page row and its details row (a
    row with a version keeps it: the details, read after the page, always hold it)."""
    _, kind_number, target, edited, deleted, reason, reply_to, thread, replies, row_id = d
    kind = KINDS[kind_number]
    if kind == "notice":
        return notice_record(room, r, reason)
    if kind == "message":
        return MessageRecord(
            room, r[0], r[1], r[2], r[3], r[4],
            edited=edited, deleted=bool(deleted), version=r[5], reply_to=reply_to,
            thread=thread, replies=replies, reactions=reactions.get(row_id, []),
        )  # fmt: skip
    react = kind == "react"
    return MessageRecord(
        room, r[0], r[1], "" if react else r[2], r[3], r[4],
        kind=kind,  # type: ignore[arg-type]
        target=target, deleted=bool(deleted), reason=reason,
        emoji=r[2] if react else None, remove=kind_number == UNREACT,
    )  # fmt: skip


# What a search reads of a hit, in the order ``search_hits`` takes it.
SEARCH_COLUMNS: Final = (
    "r.name, m.seq, m.nick, m.body, m.ts, m.edited, m.version, m.reply_to, m.thread,"
    " m.replies, m.id"
)


def search_hits(rows: Sequence[Any], reactions: dict[int, list[Reaction]]) -> list[SearchHit]:
    """Hits from rows of ``SEARCH_COLUMNS``, with the ``reactions`` of their messages by id."""
    return [
        SearchHit(
            room=r[0],
            seq=r[1],
            nick=r[2],
            body=r[3],
            ts=r[4],
            edited=r[5],
            version=r[6],
            reply_to=r[7],
            thread=r[8],
            replies=r[9],
            reactions=reactions.get(r[10], []),
        )
        for r in rows
    ]


def search_words(query: str) -> list[str]:
    """The plain words of a search query; a word without letters or digits is dropped."""
    return [word for word in query.split() if any(ch.isalnum() for ch in word)]


def rooms_page(rows: Sequence[Any], limit: int) -> RoomsPage:
    """A page of the rooms list from the rows (name, members, last seq) of a query that
    asked for ``limit + 1`` rows: the extra one only says that there is more."""
    rooms = [RoomInfo(room=r[0], members=r[1], last_seq=r[2]) for r in rows[:limit]]
    return RoomsPage(rooms=rooms, more=len(rows) > limit)
