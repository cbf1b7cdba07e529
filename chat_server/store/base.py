"""The storage contract: what the server needs from a database, whatever the backend.

Writes go through one writer doing group commit (see ``writer.py``); a message is
acknowledged only after the transaction holding it has committed. Reads never see an
uncommitted batch.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, Final, Literal, Protocol

import msgspec

from chat_server.errors import OverLimit
from chat_server.protocol import MessageRecord, RoomInfo, RoomState, SearchHit


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    id: int
    nick: str
    password_hash: str | None
    removed: bool = False
    admin: bool = False  # a server admin (``chat-server users admin``)


@dataclasses.dataclass(frozen=True, slots=True)
class Room:
    id: int
    name: str
    is_dm: bool


# The two records every message passes through are msgspec Structs rather than frozen
# dataclasses: a frozen dataclass's __init__ sets each field through object.__setattr__,
# ~1.2 us for seven fields against ~0.1 us, once per message on each side of the writer.
class NewMessage(msgspec.Struct, frozen=True):
    """A message to store: who, where, what, and the client's idempotency key."""

    user_id: int
    nick: str
    room_id: int
    client_id: str
    body: str


class Stored(msgspec.Struct, frozen=True):
    """A committed message (``new``) or the original one a repeated key stands for."""

    room: str
    seq: int
    ts: str
    client_id: str
    nick: str
    body: str
    new: bool


# The kinds of a room's entries, by the number a database stores (messages are 0, the
# column's default, so a send writes nothing more than before).
KINDS: Final = ("message", "edit", "delete", "react", "react")
EDIT: Final = 1
DELETE: Final = 2


class NewChange(msgspec.Struct, frozen=True):
    """An edit or a delete of the message at seq ``target`` of a room, to store.

    Who may make it is decided in the writer's transaction (``access.change_refusal``),
    with the user's admin flag as it is then.
    """

    user_id: int
    nick: str
    room_id: int
    client_id: str
    kind: Literal["edit", "delete"]
    target: int
    body: str = ""
    reason: str | None = None


class StoredChange(msgspec.Struct, frozen=True):
    """A committed change (``new``), or the entry a repeated key (or a second delete of a
    message) stands for: its ``kind`` may then be any entry's. ``moderated``: the nick of
    the message's author, when a server admin deleted someone else's message (new only)."""

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
    moderated: str | None = None


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
    messages: list[MessageRecord]
    more: bool


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

    # users and tokens
    async def user_by_nick(self, nick: str) -> User | None: ...

    async def user_by_token(self, token_hash: bytes, now: float) -> User | None: ...

    async def create_user(self, nick: str, password_hash: str) -> User: ...

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

    async def leave(self, user_id: int, room_id: int) -> bool: ...

    async def is_member(self, user_id: int, room_id: int) -> bool: ...

    async def members(self, room_id: int) -> list[tuple[int, str]]: ...

    async def user_rooms(self, user_id: int) -> list[RoomState]: ...

    async def presence_rooms(self, user_id: int) -> list[str]:
        """The rooms where the user's presence is announced: their public rooms, and the
        direct conversations they have written in (since they last joined it)."""
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

    def submit_change(self, change: NewChange) -> asyncio.Future[StoredChange]:
        """Queue an edit or a delete for the next group commit (in one transaction with its
        erasures); the future resolves after it, or fails with NotMember, NotFound or
        Forbidden (``access.change_refusal``; a server admin may delete anyone's message)."""
        ...

    async def history(
        self,
        room: Room,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int,
        upto: int | None = None,
    ) -> Page: ...

    async def search(
        self, user_id: int, words: Sequence[str], room_id: int | None, limit: int
    ) -> list[SearchHit]: ...


# What a page reads of an entry, in the order ``history_page`` takes it.
ENTRY_COLUMNS: Final = (
    "seq, nick, body, ts, client_id, kind, target, edited, deleted, version, reason"
)


def history_page(room: str, rows: Sequence[Any], limit: int, *, newest_first: bool) -> Page:
    """A page from the rows of a keyset query that asked for ``limit + 1`` rows.

    Rows are ``ENTRY_COLUMNS`` in query order; the extra row only says that there is more.
    ``newest_first`` rows (paging back) are turned to ascending order.
    """
    kept = rows[:limit]
    if newest_first:
        kept = kept[::-1]
    # positional: MessageRecord's fields are (room, seq, nick, body, ts, id, ...); a message
    # that never changed (kind 0, no version) has protocol 1's fields alone, built inline
    # (a call per row costs a page of 100 several microseconds)
    messages = [
        MessageRecord(room, r[0], r[1], r[2], r[3], r[4])
        if not r[5] and r[9] is None
        else _changed(room, r)
        for r in kept
    ]
    return Page(messages=messages, more=len(rows) > limit)


def _changed(room: str, r: Any) -> MessageRecord:
    """A changed message, or a change entry, from a row of ``ENTRY_COLUMNS``."""
    kind = KINDS[r[5]]
    return MessageRecord(
        room, r[0], r[1], r[2], r[3], r[4],
        kind=None if kind == "message" else kind,  # type: ignore[arg-type]
        target=r[6], edited=r[7], deleted=bool(r[8]), version=r[9], reason=r[10],
    )  # fmt: skip


def search_hit(r: Any) -> SearchHit:
    """A hit from a row (room name, seq, nick, body, ts, edited, version)."""
    return SearchHit(room=r[0], seq=r[1], nick=r[2], body=r[3], ts=r[4], edited=r[5], version=r[6])


def search_words(query: str) -> list[str]:
    """The plain words of a search query; a word without letters or digits is dropped."""
    return [word for word in query.split() if any(ch.isalnum() for ch in word)]


def rooms_page(rows: Sequence[Any], limit: int) -> RoomsPage:
    """A page of the rooms list from the rows (name, members, last seq) of a query that
    asked for ``limit + 1`` rows: the extra one only says that there is more."""
    rooms = [RoomInfo(room=r[0], members=r[1], last_seq=r[2]) for r in rows[:limit]]
    return RoomsPage(rooms=rooms, more=len(rows) > limit)
