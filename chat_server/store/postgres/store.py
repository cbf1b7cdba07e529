"""PostgreSQL storage (asyncpg): the Store protocol for several server nodes on one database.

Reads and simple writes take a connection from a pool, each write in its own transaction.
Messages go through the node's GroupCommitter, one transaction per batch. Several nodes
write at once, so nothing about a room is cached between batches: a batch first locks the
counter rows of its rooms (``SELECT ... FOR UPDATE`` in id order, so two nodes never
deadlock on them) and takes the room's next seqs from that row while holding the lock.
That makes seqs contiguous per room whatever the number of nodes. Searches, the slow
reads, take at most a quarter of the pool at a time, so logins and joins always find a
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]

from chat_server import access
from chat_server.errors import (
    Conflict,
    Forbidden,
    Inapplicable,
    NotFound,
    NotMember,
    OverLimit,
    StoreError,
    TooCostly,
)
from chat_server.protocol import (
    Invitation,
    RoomState,
    SearchHit,
)
from chat_server.store import pages
from chat_server.store.base import (
    CREATION_WINDOW,
    NewChange,
    NewMessage,
    NewReaction,
    Page,
    Room,
    RoomQuota,
    RoomsPage,
    Stored,
    StoredChange,
    batch_order,
    rooms_page,
)
from chat_server.store.pages import numbered
from chat_server.store.postgres import search as fulltext
from chat_server.store.postgres.accounts import PostgresAccounts
from chat_server.store.postgres.answers import apply_reaction, apply_reply
from chat_server.store.postgres.batch import append_run
from chat_server.store.postgres.changes import apply_change
from chat_server.store.postgres.retention import PostgresRetention, Prune, prune
from chat_server.store.postgres.room_admin import PostgresRoomAdmin
from chat_server.store.postgres.rooms import admit, apply_command, create_room, depart
from chat_server.store.postgres.schema import Conn, Row, migrate
from chat_server.store.rooms import (
    FACTS_SQL,
    INVITES_SQL,
    MAX_INVITES,
    PLACE_SQL,
    CreateRoom,
    Departure,
    RoomCommand,
    RoomFacts,
    StoredNotice,
    as_role,
    place_params,
    room_facts,
)
from chat_server.store.writer import BatchObserver, GroupCommitter

log = logging.getLogger(__name__)

# the rooms list sorts names bytewise (the ``rooms_by_size`` index), as SQLite does
_ROOM_COLUMNS = 'name COLLATE "C" AS name, member_count, last_seq'
_PLACE = numbered(PLACE_SQL)
_FACTS = numbered(FACTS_SQL)
_LISTED = "NOT is_dm AND NOT private"  # what ``rooms`` lists: neither DMs nor private
_BY_SIZE = "member_count DESC, name"
# a page of a room's members, along the ``memberships_by_nick`` index (LIMIT NULL: all)
MEMBERS_SQL = (
    "SELECT m.user_id, u.nick FROM memberships m JOIN users u ON u.id = m.user_id"
    " WHERE m.room_id = $1 AND m.nick_key > $2 ORDER BY m.nick_key LIMIT $3"
)

# A whole batch is retried after these: another node's transaction got in the way
# (a deadlock, or the same idempotency key stored by another node meanwhile).
_RETRYABLE: tuple[type[Exception], ...] = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.UniqueViolationError,
)
_ATTEMPTS = 3
# Group-commit batches in flight at once: the next batch's statements reach PostgreSQL
# while the one before commits (``writer``'s doc); the rooms' row locks order two batches
# that share a room, as they order two nodes' batches. A batch holds at most BATCH_MAX
# writes: at that size the commit's fixed cost is already spread thin (a batch of 300
# plain messages is ~11 ms on PostgreSQL, ~1.5 ms of it fixed), and a smaller batch lets
# the next one form and reach the database while this one's acks are written, where one
# batch of everything in flight would leave PostgreSQL idle meanwhile.
BATCHES_IN_FLIGHT = 2
BATCH_MAX = 256

# The driver's failures, as opposed to our own errors.
_DRIVER_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection left mid-operation when the server died
    OSError,
    TimeoutError,
)
# Opening also fails on a malformed URL.
_OPEN_ERRORS: tuple[type[Exception], ...] = (*_DRIVER_ERRORS, ValueError)


# --- what we use of asyncpg's pool, typed (the library ships no type information) --------


class _Pool(Protocol):
    def acquire(self) -> AbstractAsyncContextManager[Conn]: ...

    async def fetch(self, query: str, *args: object, timeout: float | None = None) -> list[Row]: ...

    async def fetchrow(self, query: str, *args: object) -> Row | None: ...

    async def close(self) -> None: ...

    def terminate(self) -> None: ...


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


async def _check_quota(conn: Conn, user_id: int, name: str, quota: RoomQuota) -> None:
    """Raise OverLimit when the user joining ``name`` would pass ``quota``; a room the user is
    in already passes. The user's row stays locked until the transaction ends, so the joins of
    one user, on any node, are counted one at a time."""
    await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", user_id)
    room = await conn.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM memberships m WHERE m.room_id = r.id AND m.user_id = $2)"
        " FROM rooms r WHERE r.name = $1",
        name,
        user_id,
    )
    if room is not None and room[0]:
        return
    count = await conn.fetchval("SELECT COUNT(*) FROM memberships WHERE user_id = $1", user_id)
    if count >= quota.max_rooms:
        raise quota.full()
    if room is not None:
        return
    # the oldest of the user's last ``created_per_hour`` rooms: in the window, it is one too many
    wait = await conn.fetchval(
        "SELECT EXTRACT(EPOCH FROM created_at - now())::float8 + $3::float8 FROM rooms"
        " WHERE created_by = $1"
        " ORDER BY created_at DESC OFFSET $2 LIMIT 1",
        user_id,
        quota.created_per_hour - 1,
        CREATION_WINDOW,
    )
    if wait is not None and wait > 0:
        raise quota.too_fast(float(wait))


def _count(status: str) -> int:
    """The row count of a command status such as ``INSERT 0 1`` or ``DELETE 3``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


async def _keep_session(conn: Conn) -> None:
    """The pool's reset of a released connection: nothing. asyncpg's default sends
    ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`` on every release,
    one more round trip per query (a pooled ``SELECT 1`` took 0.22 ms instead of 0.12),
    to undo session state this store never leaves: it sets no session variable, listens
    to nothing, opens cursors only inside transactions, and unlocks the migrations' one
    advisory lock itself. asyncpg still rolls back a transaction left open, before this."""


class PostgresStore(PostgresAccounts, PostgresRoomAdmin, PostgresRetention):
    """The Store protocol on a PostgreSQL database (``postgresql://`` URL)."""

    def __init__(self, url: str, *, pool_size: int = 10, batch_max: int = 512) -> None:
        self.url = url
        self.pool_size = pool_size
        self._pool: _Pool | None = None
        self._committer = GroupCommitter(
            self._apply_batch,
            min(batch_max, BATCH_MAX),
            order=batch_order,
            depth=BATCHES_IN_FLIGHT,
        )
        self._searches = asyncio.Semaphore(max(1, pool_size // 4))
        self.search_walk = fulltext.WALK  # entries a search walks before the index (tests)
        self.applied: list[int] = []

    # --- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            # min_size=0: with a floor, the pool reconnects in the background while the
            # database is down and logs a traceback on every attempt; without one, the next
            # request reconnects, and an outage costs one clear error per request. No JIT:
            # every query here is short, and compiling one (whenever a plan's estimate
            # passes jit_above_cost, as a search's first plans do) takes 10 ms and more. No
            # reset query when a connection goes back to the pool (``_keep_session``).
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=0,
                max_size=self.pool_size,
                timeout=10,
                server_settings={"jit": "off"},
                reset=_keep_session,
            )
            async with self._p.acquire() as conn:
                self.applied = await migrate(conn)
        except _OPEN_ERRORS as exc:
            await self.close()
            raise StoreError(f"cannot open database {redact(self.url)}: {exc}") from exc
        self._committer.start()

    async def close(self) -> None:
        await self._committer.stop()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 5)
            except _DRIVER_ERRORS:
                pool.terminate()

    @property
    def stats(self) -> dict[str, int]:
        return {"batches": self._committer.batches, "writes": self._committer.operations}

    def observe_batches(self, observer: BatchObserver) -> None:
        self._committer.observer = observer

    @property
    def _p(self) -> _Pool:
        if self._pool is None:
            raise StoreError("the database is closed")
        return self._pool

    # --- plumbing -------------------------------------------------------------------------

    async def _all(self, sql: str, *args: object) -> list[Row]:
        try:
            return await self._p.fetch(sql, *args)
        except _DRIVER_ERRORS as exc:
            raise StoreError(str(exc)) from exc

    async def _one(self, sql: str, *args: object) -> Row | None:
        try:
            return await self._p.fetchrow(sql, *args)
        except _DRIVER_ERRORS as exc:
            raise StoreError(str(exc)) from exc

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[Conn]:
        """One write transaction; an integrity error (a taken nick) is a Conflict."""
        try:
            async with self._p.acquire() as conn, conn.transaction():
                yield conn
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise Conflict(str(exc)) from exc
        except _DRIVER_ERRORS as exc:
            raise StoreError(f"database write failed: {exc}") from exc

    async def _execute(self, sql: str, *args: object) -> int:
        async with self._tx() as conn:
            return _count(await conn.execute(sql, *args))

    # --- rooms and memberships ------------------------------------------------------------

    async def room_by_name(self, name: str) -> Room | None:
        row = await self._one("SELECT id, name, is_dm, private FROM rooms WHERE name = $1", name)
        return Room(id=row[0], name=row[1], is_dm=row[2], private=row[3]) if row else None

    async def place(self, user_id: int, room_id: int) -> access.Role:
        return as_role((await self._one(_PLACE, *place_params(user_id, room_id)) or ["none"])[0])

    async def room_facts(self, room_id: int) -> RoomFacts:
        return room_facts(await self._all(_FACTS, room_id))

    async def invites(self, user_id: int) -> list[Invitation]:
        rows = await self._all(numbered(INVITES_SQL), user_id, MAX_INVITES)
        return [Invitation(room=r[0], by=r[1], private=r[2]) for r in rows]

    async def create_room(self, room: CreateRoom) -> StoredNotice:
        async with self._tx() as conn:
            if room.quota is not None:
                await _check_quota(conn, room.user_id, room.name, room.quota)
            return await create_room(conn, room)

    def submit_command(self, command: RoomCommand) -> asyncio.Future[StoredNotice]:
        future: asyncio.Future[StoredNotice] = self._committer.submit(command)
        return future

    async def join(
        self,
        user_id: int,
        name: str,
        is_dm: bool,
        quota: RoomQuota | None = None,
        *,
        create: bool = True,
    ) -> tuple[Room, bool]:
        return await self._join((user_id,), name, is_dm, quota, create)

    async def open_dm(self, name: str, user_ids: Sequence[int]) -> tuple[Room, bool]:
        return await self._join(tuple(user_ids), name, True)

    async def _join(
        self,
        user_ids: tuple[int, ...],
        name: str,
        is_dm: bool,
        quota: RoomQuota | None = None,
        create: bool = True,
    ) -> tuple[Room, bool]:
        """Create the room when missing (or NotFound, unless ``create``) and add the
        members; True when one was new."""
        async with self._tx() as conn:
            if quota is not None:
                await _check_quota(conn, user_ids[0], name, quota)
            role = "member"
            if create:
                made = await conn.fetchval(
                    "INSERT INTO rooms (name, is_dm, created_by) VALUES ($1, $2, $3)"
                    " ON CONFLICT (name) DO NOTHING RETURNING id",
                    name,
                    is_dm,
                    None if is_dm else user_ids[0],
                )
                if made is not None and not is_dm:
                    role = "owner"  # its creator owns a room
            row = await conn.fetchrow("SELECT id, is_dm, private FROM rooms WHERE name = $1", name)
            if row is None:
                raise NotFound(f"no room {name}")
            room = Room(id=row[0], name=name, is_dm=row[1], private=row[2])
            # banned, or a private room's stranger: refused
            await admit(conn, user_ids[0], room.id, room.is_dm, room.private)
            status = await conn.execute(
                "INSERT INTO memberships (user_id, room_id, role)"
                " SELECT u, $2, $3 FROM unnest($1::bigint[]) AS u ON CONFLICT DO NOTHING",
                list(user_ids),
                room.id,
                role,
            )
        return room, _count(status) > 0

    async def leave(self, user_id: int, room_id: int) -> Departure:
        async with self._tx() as conn:
            return await depart(conn, user_id, room_id)

    async def is_member(self, user_id: int, room_id: int) -> bool:
        row = await self._one(
            "SELECT 1 FROM memberships WHERE user_id = $1 AND room_id = $2", user_id, room_id
        )
        return row is not None

    async def members(
        self, room_id: int, after_key: str | None = None, limit: int | None = None
    ) -> list[tuple[int, str]]:
        rows = await self._all(MEMBERS_SQL, room_id, after_key or "", limit)
        return [(row[0], row[1]) for row in rows]

    async def member_count(self, room_id: int) -> int:
        row = await self._one("SELECT member_count FROM rooms WHERE id = $1", room_id)
        return 0 if row is None else int(row[0])

    async def user_rooms(self, user_id: int) -> list[RoomState]:
        rows = await self._all(
            "SELECT r.name, r.last_seq, m.read_seq,"
            " (SELECT COUNT(*) FROM messages x WHERE x.room_id = r.id AND x.seq > m.read_seq"
            "  AND x.author_id <> m.user_id AND x.kind = 0)"
            " FROM memberships m JOIN rooms r ON r.id = m.room_id"
            " WHERE m.user_id = $1 ORDER BY r.name",
            user_id,
        )
        return [RoomState(room=r[0], last_seq=r[1], read_seq=r[2], unread=r[3]) for r in rows]

    async def presence_rooms(self, user_id: int, max_members: int) -> list[str]:
        rows = await self._all(
            "SELECT r.name FROM memberships m JOIN rooms r ON r.id = m.room_id"
            " WHERE m.user_id = $1 AND (NOT r.is_dm OR m.wrote) AND r.member_count <= $2"
            " ORDER BY r.name",
            user_id,
            max_members,
        )
        return [row[0] for row in rows]

    async def has_written(self, user_id: int, room_id: int) -> bool:
        row = await self._one(
            "SELECT wrote FROM memberships WHERE user_id = $1 AND room_id = $2", user_id, room_id
        )
        return bool(row is not None and row[0])

    async def public_rooms(self, limit: int, after: tuple[int, str] | None = None) -> RoomsPage:
        """A keyset page along the ``rooms_by_size`` index; see ``SQLiteStore.public_rooms``."""
        if after is None:
            rows = await self._all(
                f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE {_LISTED} ORDER BY {_BY_SIZE} LIMIT $1",
                limit + 1,
            )
        else:
            members, name = after
            rows = await self._all(
                f"(SELECT {_ROOM_COLUMNS} FROM rooms WHERE {_LISTED} AND member_count = $1"
                f'  AND name COLLATE "C" > $2 ORDER BY {_BY_SIZE} LIMIT $3)'
                f" UNION ALL (SELECT {_ROOM_COLUMNS} FROM rooms WHERE {_LISTED}"
                f"  AND member_count < $1 ORDER BY {_BY_SIZE} LIMIT $3)"
                f" ORDER BY {_BY_SIZE} LIMIT $3",
                members,
                name,
                limit + 1,
            )
        return rooms_page(rows, limit)

    async def last_seq(self, room_id: int) -> int:
        row = await self._one("SELECT last_seq FROM rooms WHERE id = $1", room_id)
        return int(row[0]) if row else 0

    async def mark_read(self, user_id: int, room_id: int, seq: int) -> int | None:
        """Move the marker forward, clamped to the room's last seq; None when it stays."""
        async with self._tx() as conn:
            moved = await conn.fetchval(
                "UPDATE memberships m SET read_seq = LEAST($3, r.last_seq) FROM rooms r"
                " WHERE r.id = m.room_id AND m.user_id = $1 AND m.room_id = $2"
                " AND m.read_seq < LEAST($3, r.last_seq) RETURNING m.read_seq",
                user_id,
                room_id,
                seq,
            )
        return None if moved is None else int(moved)

    # --- messages -------------------------------------------------------------------------

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
        """A page; the same contract as ``SQLiteStore.history`` (``pages.py``)."""
        query = self._page_query
        if thread is not None:
            return await pages.thread(query, room, thread, after=after, limit=limit, reader=reader)
        if around is not None:
            return await pages.around(query, room, around, limit=limit, reader=reader)
        return await pages.recent(
            query, room, before=before, after=after, limit=limit, upto=upto, reader=reader
        )

    async def _page_query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return await self._all(pages.numbered(sql), *params)

    async def search(
        self,
        user_id: int,
        words: Sequence[str],
        room_id: int | None,
        limit: int,
        *,
        deadline: float | None = None,
    ) -> list[SearchHit]:
        """Full text ('simple' configuration); the words are AND-ed, never query syntax.
        Newest first: a walk of the newest entries, then the index (``search.py``)."""
        if not words:
            return []
        loop = asyncio.get_running_loop()
        end = None if deadline is None else loop.time() + deadline

        async def fetch(sql: str, *args: object) -> list[Any]:
            # past the timeout the driver cancels the query on the server too
            left = None if end is None else end - loop.time()
            if left is not None and left <= 0:
                raise TimeoutError
            rows: list[Any] = await self._p.fetch(sql, *args, timeout=left)
            return rows

        async with self._searches:
            try:
                rows = await fulltext.search(
                    fetch, user_id, words, room_id, limit, self.search_walk
                )
            except TimeoutError as exc:
                raise TooCostly(f"the query ran past {deadline:g} s") from exc
            except _DRIVER_ERRORS as exc:
                raise StoreError(str(exc)) from exc
            return await pages.hits(self._page_query, rows)

    def submit(self, message: NewMessage) -> asyncio.Future[Stored]:
        """Queue a message for the next batch; returns the future of its ``Stored``."""
        future: asyncio.Future[Stored] = self._committer.submit(message)
        return future

    async def append(self, message: NewMessage) -> Stored:
        stored: Stored = await self._committer.submit(message)
        return stored

    def submit_change(self, change: NewChange | NewReaction) -> asyncio.Future[StoredChange]:
        future: asyncio.Future[StoredChange] = self._committer.submit(change)
        return future

    async def _write(self, op: Any) -> Any:
        """A write of the group committer's (a prune): its result once committed."""
        return await self._committer.submit(op)

    # --- the writer task's side -----------------------------------------------------------

    async def _apply_batch(self, ops: Sequence[Any], written: Callable[[], None]) -> list[Any]:
        """Store a batch of messages and changes in one transaction, retried when another
        node raced. Once only the commit is left, ``written()`` lets the next batch go:
        this one holds its rooms' locks, so the next waits for them in PostgreSQL."""
        signalled = False
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with self._p.acquire() as conn, conn.transaction():
                    results = await _apply_ops(conn, ops)
                    written()
                    signalled = True
                    return results
            except _RETRYABLE as exc:
                # (after ``written`` the next batch may hold a room: a retry would take
                # seqs after its)
                if attempt == _ATTEMPTS or signalled:
                    raise StoreError(f"database write failed: {exc}") from exc
                log.info("write batch raced another node (%s); retrying", type(exc).__name__)
            except _DRIVER_ERRORS as exc:
                raise StoreError(f"database write failed: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _single(op: Any) -> bool:
    """A write that takes a savepoint of its own: a change, a reaction, a reply (a message
    that answers none joins a run of them)."""
    return not isinstance(op, NewMessage) or op.reply_to is not None


async def _apply_one(
    conn: Conn, op: NewChange | NewReaction | NewMessage | RoomCommand | Prune
) -> Any:
    if isinstance(op, Prune):
        return await prune(conn, op)
    if isinstance(op, RoomCommand):
        return await apply_command(conn, op)
    if isinstance(op, NewChange):
        return await apply_change(conn, op)
    if isinstance(op, NewReaction):
        return await apply_reaction(conn, op)
    return await apply_reply(conn, op)


async def _apply_ops(conn: Conn, ops: Sequence[Any]) -> list[Any]:
    """Each run of messages in one go, each change in a savepoint of its own (a refused
    one leaves no trace); one result (or refusal) per op.

    A batch that is more than one run of messages locks every room it writes to first, in
    id order: its statements would otherwise take the rooms' locks in the order of its
    writes, and two batches in flight (or two nodes') could each hold a room the other
    waits for. A single run takes them in id order itself (``append_run``)."""
    if any(_single(op) for op in ops):
        await conn.execute(
            "SELECT 1 FROM rooms WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
            sorted({op.room_id for op in ops}),
        )
    results: list[Any] = []
    i = 0
    while i < len(ops):
        if _single(ops[i]):
            try:
                async with conn.transaction():
                    results.append(await _apply_one(conn, ops[i]))
            except (NotMember, NotFound, Forbidden, OverLimit, Conflict, Inapplicable) as exc:
                results.append(exc)
            i += 1
            continue
        j = i
        while j < len(ops) and not _single(ops[j]):
            j += 1
        results.extend(await append_run(conn, ops[i:j]))
        i = j
    return results
