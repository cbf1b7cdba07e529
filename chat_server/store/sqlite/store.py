"""SQLite storage: WAL, one writer connection driven by group commit, three read connections.

The writer connection is a plain ``sqlite3`` connection living on a thread of its own:
the single writer task (``GroupCommitter``) hands it each batch whole, and the batch's
transaction runs there in one call (``batch.py``). Reads go through separate read
connections, so they never see an uncommitted batch and never queue behind one: the short
indexed reads of a history page run on the event loop's thread (a thread trip costs more
than they do), searches on a thread of their own (a slow one must not hold up logins and
joins), every other read in one trip to the reader thread (``readers.py``). The search
index is filled by the writer in bulk, behind the messages, and brought up to date before
a search.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, TypeVar

from chat_server import access
from chat_server.errors import StoreError
from chat_server.protocol import (
    Invitation,
    RoomState,
    SearchHit,
)
from chat_server.store import pages
from chat_server.store.base import (
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
from chat_server.store.rooms import (
    FACTS_SQL,
    INVITES_SQL,
    MAX_INVITES,
    PLACE_SQL,
    CreateRoom,
    Departure,
    LeaveRoom,
    RoomCommand,
    RoomFacts,
    StoredNotice,
    as_role,
    place_params,
    room_facts,
)
from chat_server.store.sqlite import search as fts
from chat_server.store.sqlite.accounts import SQLiteAccounts
from chat_server.store.sqlite.batch import (
    IndexSearch,
    Join,
    MarkRead,
    PurgeSearch,
    WriterCache,
    apply_batch,
    index_search,
)
from chat_server.store.sqlite.changes import forget_erased_ids, purge_search
from chat_server.store.sqlite.files import create_private, create_private_dir
from chat_server.store.sqlite.readers import ReaderThread, open_reader
from chat_server.store.sqlite.retention import SQLiteRetention
from chat_server.store.sqlite.room_admin import SQLiteRoomAdmin
from chat_server.store.sqlite.schema import migrate
from chat_server.store.sqlite.values import STATEMENT_CACHE
from chat_server.store.writer import BatchObserver, GroupCommitter

_T = TypeVar("_T")

log = logging.getLogger(__name__)

_ROOM_COLUMNS = "name, member_count, last_seq"
# the rooms ``rooms`` lists (along the ``rooms_by_size`` index): neither DMs nor private
_LISTED = "is_dm = 0 AND private = 0"
# a page of a room's members, along the ``memberships_by_nick`` index (LIMIT -1: all)
MEMBERS_SQL = (
    "SELECT m.user_id, u.nick FROM memberships m JOIN users u ON u.id = m.user_id"
    " WHERE m.room_id = ? AND m.nick_key > ? ORDER BY m.nick_key LIMIT ?"
)

# The room called ?2 when user ?1 is a member of it (and not banned from it): a join that
# changes nothing (``join``).
MEMBER_ROOM_SQL: Final = (
    "SELECT r.id, r.is_dm, r.private FROM rooms r"
    " JOIN memberships m ON m.room_id = r.id AND m.user_id = ?1 WHERE r.name = ?2"
    " AND NOT EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = r.id AND b.user_id = ?1)"
)

# The writer adds new messages to the search index in bulk, and leaves the newest out for a
# while: a message is mostly edited (a typo, a pasted secret) or deleted within a minute of
# being sent, and a change to a message the index holds takes its words out of the index,
# which then needs a purge (a merge of the whole index, below), where a change to one it does
# not hold yet costs the index nothing. So the writer's passes add the messages committed more
# than SEARCH_INDEX_AGE seconds ago, and every one but the newest SEARCH_INDEX_KEEP whatever
# its age; a pass goes once SEARCH_INDEX_BATCH are due, or on a timer every
# SEARCH_INDEX_DELAY seconds while some wait. A search first adds every message still out
# (at most about SEARCH_INDEX_KEEP + SEARCH_INDEX_BATCH), so it finds every message acked
# before it.
SEARCH_INDEX_AGE = 60.0
SEARCH_INDEX_KEEP = 4096
SEARCH_INDEX_BATCH = 4096
SEARCH_INDEX_DELAY = 1.0
# The words an edit or a delete took out of the search index leave its segments this many
# seconds after the first such change (``changes.purge_search``), or when the store closes;
# a purge rewrites the whole index, so one follows another no sooner than the interval, nor
# sooner than SEARCH_PURGE_SPACING times the last purge's length after it ended: the purges
# of a large index (12 s for 1,000,000 messages here) take at most a tenth of the writer's
# time, however large it grows, where a fixed interval would have them run back to back.
SEARCH_PURGE_DELAY = 0.5
SEARCH_PURGE_INTERVAL = 10.0
SEARCH_PURGE_SPACING = 9.0
# A purge goes in steps of about this many pages of the index (6 ms each, 17 ms at most,
# in a 1,000,000-message room here), each one operation of a batch of the writer's, so a
# send waits for one step at most, never for the whole merge.
SEARCH_PURGE_PAGES = 64


class SQLiteStore(SQLiteAccounts, SQLiteRoomAdmin, SQLiteRetention):
    """The Store protocol on one SQLite file."""

    def __init__(self, path: Path, *, synchronous: str = "full", batch_max: int = 512) -> None:
        self.path = path
        self.synchronous = synchronous
        self._pool: ThreadPoolExecutor | None = None
        self._writer: sqlite3.Connection | None = None
        self._reader = ReaderThread(path, "sqlite-reader")
        self._searcher = ReaderThread(path, "sqlite-search")
        # a search's first window of rowids, and how near the newest message its rooms must
        # end for one newest-first query instead (``search.py``; tests make them small)
        self.search_window = fts.WINDOW
        self.search_reach = fts.DESCENDING_REACH
        self._inline: sqlite3.Connection | None = None
        self._committer = GroupCommitter(self._apply_batch, batch_max, order=batch_order)
        self._cache = WriterCache()
        self._indexing: asyncio.Future[Any] | None = None
        self._index_timer: asyncio.TimerHandle | None = None
        self.index_age = SEARCH_INDEX_AGE
        # (the loop's time, the newest message id) after the batches of the last
        # ``index_age`` seconds, oldest first; and the newest id committed before them
        self._commits: collections.deque[tuple[float, int]] = collections.deque()
        self._aged_id = 0
        self._purge_timer: asyncio.TimerHandle | None = None
        self._purged_at = -SEARCH_PURGE_INTERVAL  # the loop's time the last purge ended
        self._purge_gap = SEARCH_PURGE_INTERVAL  # from then until the next may start
        self._purge_began = 0.0  # the loop's time the purge under way began
        self._purging = False  # a purge's steps are under way
        # A retention sweep's prunes are under way (and erased this many entries): no purge
        # step runs between them, whatever change made the purge due (``sweep_done``).
        self._sweeping = False
        self._sweep_erased = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            create_private_dir(self.path.parent)
            create_private(self.path)
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
            self._writer = await self._in_writer(self._open_writer, self._sync_pragma())
            await self._reader.open()
            await self._searcher.open()
            # on the loop's thread a busy wait stalls every connection: fail fast instead
            self._inline = open_reader(self.path, busy_ms=200)
        except (OSError, sqlite3.Error) as exc:
            await self.close()
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        self._committer.start()

    def _open_writer(self, synchronous: str) -> sqlite3.Connection:
        """On the writer thread: connect, set the pragmas, migrate."""
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=STATEMENT_CACHE,
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            # statement journals and the like in memory, not a temporary file per batch
            conn.execute("PRAGMA temp_store=MEMORY")
            # a delete erases: the bytes of what a change removes are zeroed, not just freed
            conn.execute("PRAGMA secure_delete=ON")
            # a checkpoint every 4000 WAL pages (16 MiB) rather than 1000: a page that many
            # commits touch (a room's newest index leaf) is copied back to the database
            # once per checkpoint, so fewer checkpoints copy fewer pages per message
            conn.execute("PRAGMA wal_autocheckpoint=4000")
            migrate(conn)
            self._cache.load(conn)
            _catch_up_search(conn, self._cache)
        except BaseException:
            conn.close()
            raise
        return conn

    def _sync_pragma(self) -> str:
        if self.synchronous not in ("full", "normal"):
            raise StoreError(f"synchronous must be full or normal, not {self.synchronous!r}")
        return self.synchronous.upper()

    async def close(self) -> None:
        if self._index_timer is not None:
            self._index_timer.cancel()
            self._index_timer = None
        if self._purge_timer is not None:
            self._purge_timer.cancel()
            self._purge_timer = None
        if self._cache.unindexed and self._writer is not None:
            with contextlib.suppress(StoreError):  # a failing disk: the next open catches up
                await self._write(IndexSearch())
        if self._cache.purge and self._writer is not None:
            with contextlib.suppress(StoreError):
                await self._write(PurgeSearch())
        await self._committer.stop()
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        await self._reader.close()
        await self._searcher.close()
        writer, pool = self._writer, self._pool
        self._writer = self._pool = None
        if pool is not None:
            if writer is not None:
                await asyncio.get_running_loop().run_in_executor(pool, writer.close)
            pool.shutdown(wait=False)

    @property
    def stats(self) -> dict[str, int]:
        return {"batches": self._committer.batches, "writes": self._committer.operations}

    def observe_batches(self, observer: BatchObserver) -> None:
        self._committer.observer = observer

    # --- reads ----------------------------------------------------------------------------

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """All rows of one query, in one trip to the reader's thread."""
        return await self._reader.all(sql, params)

    def _now(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """All rows of a short indexed query, run right here on the event loop's thread.

        For the reads every history page makes (a membership point lookup, at most
        ``HISTORY_MAX + 1`` rows by the primary key): the query costs less than the two
        thread hand-overs of a trip to the reader's thread (~50 us each), and a WAL reader
        does not wait for the writer.
        """
        if self._inline is None:
            raise StoreError("the database is closed")
        try:
            return self._inline.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    async def room_by_name(self, name: str) -> Room | None:
        row = await self._one("SELECT id, name, is_dm, private FROM rooms WHERE name = ?", (name,))
        if row is None:
            return None
        return Room(id=row[0], name=row[1], is_dm=bool(row[2]), private=bool(row[3]))

    async def place(self, user_id: int, room_id: int) -> access.Role:
        rows = self._now(PLACE_SQL, place_params(user_id, room_id))
        return as_role(rows[0][0])

    async def room_facts(self, room_id: int) -> RoomFacts:
        return room_facts(await self._all(FACTS_SQL, (room_id,)))

    async def invites(self, user_id: int) -> list[Invitation]:
        rows = await self._all(INVITES_SQL, (user_id, MAX_INVITES))
        return [Invitation(room=r[0], by=r[1], private=bool(r[2])) for r in rows]

    async def is_member(self, user_id: int, room_id: int) -> bool:
        rows = self._now(
            "SELECT 1 FROM memberships WHERE user_id = ? AND room_id = ?", (user_id, room_id)
        )
        return bool(rows)

    async def members(
        self, room_id: int, after_key: str | None = None, limit: int | None = None
    ) -> list[tuple[int, str]]:
        everyone = -1 if limit is None else limit
        rows = await self._all(MEMBERS_SQL, (room_id, after_key or "", everyone))
        return [(row[0], row[1]) for row in rows]

    async def member_count(self, room_id: int) -> int:
        rows = self._now("SELECT member_count FROM rooms WHERE id = ?", (room_id,))
        return int(rows[0][0]) if rows else 0

    async def user_rooms(self, user_id: int) -> list[RoomState]:
        rows = await self._all(
            "SELECT r.name, r.last_seq, m.read_seq,"
            " (SELECT COUNT(*) FROM messages x WHERE x.room_id = r.id AND x.seq > m.read_seq"
            "  AND x.author_id != m.user_id AND x.kind = 0)"
            " FROM memberships m JOIN rooms r ON r.id = m.room_id"
            " WHERE m.user_id = ? ORDER BY r.name",
            (user_id,),
        )
        return [RoomState(room=r[0], last_seq=r[1], read_seq=r[2], unread=r[3]) for r in rows]

    async def presence_rooms(self, user_id: int, max_members: int) -> list[str]:
        rows = await self._all(
            "SELECT r.name FROM memberships m JOIN rooms r ON r.id = m.room_id"
            " WHERE m.user_id = ? AND (r.is_dm = 0 OR m.wrote = 1) AND r.member_count <= ?"
            " ORDER BY r.name",
            (user_id, max_members),
        )
        return [row[0] for row in rows]

    # The consent read below, like the block reads in accounts.py, is a point lookup by
    # primary key, asked on a join, a direct message or a typing notice: run inline like a
    # history page's.

    async def has_written(self, user_id: int, room_id: int) -> bool:
        rows = self._now(
            "SELECT wrote FROM memberships WHERE user_id = ? AND room_id = ?", (user_id, room_id)
        )
        return bool(rows and rows[0][0])

    async def public_rooms(self, limit: int, after: tuple[int, str] | None = None) -> RoomsPage:
        """A keyset page along the ``rooms_by_size`` index (members descending, then name):
        the rest of the cursor's member count, then the smaller rooms; each part is a range
        of the index, whatever the number of rooms."""
        if after is None:
            rows = await self._all(
                f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE {_LISTED}"
                " ORDER BY member_count DESC, name LIMIT ?",
                (limit + 1,),
            )
        else:
            members, name = after
            rows = await self._all(
                f"SELECT {_ROOM_COLUMNS} FROM (SELECT {_ROOM_COLUMNS} FROM rooms"
                f"  WHERE {_LISTED} AND member_count = ? AND name > ? ORDER BY name LIMIT ?)"
                f" UNION ALL SELECT {_ROOM_COLUMNS} FROM (SELECT {_ROOM_COLUMNS} FROM rooms"
                f"  WHERE {_LISTED} AND member_count < ? ORDER BY member_count DESC, name LIMIT ?)"
                " ORDER BY member_count DESC, name LIMIT ?",
                (members, name, limit + 1, members, limit + 1, limit + 1),
            )
        return rooms_page(rows, limit)

    async def last_seq(self, room_id: int) -> int:
        rows = self._now("SELECT last_seq FROM rooms WHERE id = ?", (room_id,))
        return int(rows[0][0]) if rows else 0

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
        """A page of the room (see ``pages.py``): the newest before ``before``, from
        ``after`` on, the thread of the message ``thread``, or around the seq ``around``."""
        query = self._page_query
        if thread is not None:
            return await pages.thread(query, room, thread, after=after, limit=limit, reader=reader)
        if around is not None:
            return await pages.around(query, room, around, limit=limit, reader=reader)
        return await pages.recent(
            query, room, before=before, after=after, limit=limit, upto=upto, reader=reader
        )

    async def _page_query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self._now(sql, params)

    async def search(
        self,
        user_id: int,
        words: Sequence[str],
        room_id: int | None,
        limit: int,
        *,
        deadline: float | None = None,
    ) -> list[SearchHit]:
        if not words:
            return []
        if self._cache.unindexed:
            await self._write(IndexSearch())
        query = " AND ".join('"' + word.replace('"', '""') + '"' for word in words)
        rows = await self._searcher.run(
            fts.newest_hits,
            user_id,
            query,
            room_id,
            limit,
            self.search_window,
            self.search_reach,
            deadline=deadline,
        )
        return await pages.hits(self._searcher.all, rows)

    # --- writes ---------------------------------------------------------------------------

    async def _write(self, op: Any) -> Any:
        return await self._committer.submit(op)

    async def join(
        self,
        user_id: int,
        name: str,
        is_dm: bool,
        quota: RoomQuota | None = None,
        *,
        create: bool = True,
    ) -> tuple[Room, bool]:
        # A member joining again (every reconnect rejoins every room) is let in by a read
        # on the loop's thread, not a trip through the writer's queue: a banned user or a
        # stranger is not a member, and a member passes every check the writer makes.
        found = self._now(MEMBER_ROOM_SQL, (user_id, name))
        if found:
            room_id, room_is_dm, private = found[0]
            return Room(id=room_id, name=name, is_dm=bool(room_is_dm), private=bool(private)), False
        result: tuple[Room, bool] = await self._write(Join((user_id,), name, is_dm, quota, create))
        return result

    async def open_dm(self, name: str, user_ids: Sequence[int]) -> tuple[Room, bool]:
        result: tuple[Room, bool] = await self._write(Join(tuple(user_ids), name, True))
        return result

    async def leave(self, user_id: int, room_id: int) -> Departure:
        departure: Departure = await self._write(LeaveRoom(user_id, room_id))
        return departure

    async def create_room(self, room: CreateRoom) -> StoredNotice:
        notice: StoredNotice = await self._write(room)
        return notice

    def submit_command(self, command: RoomCommand) -> asyncio.Future[StoredNotice]:
        future: asyncio.Future[StoredNotice] = self._committer.submit(command)
        return future

    async def mark_read(self, user_id: int, room_id: int, seq: int) -> int | None:
        moved: int | None = await self._write(MarkRead(user_id, room_id, seq))
        return moved

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

    # --- the writer thread's side --------------------------------------------------------

    async def _in_writer(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(*args)`` on the writer's thread, the only one that touches its connection."""
        if self._pool is None:
            raise StoreError("the database is closed")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _apply_batch(self, ops: Sequence[Any], written: Callable[[], None]) -> list[Any]:
        """One batch, one trip to the writer thread: the whole transaction runs there. One
        batch at a time (one writer connection), so ``written`` is not needed."""
        conn = self._writer
        if conn is None:
            raise StoreError("the database is closed")
        results = await self._in_writer(apply_batch, conn, ops, self._cache)
        self._schedule_indexing()
        self._schedule_purge()
        return results

    def _schedule_purge(self) -> None:
        """Arm the purge's timer when one is due, none is under way, and no sweep is.

        With SQLite 3.40.1 the index's merge steps between a sweep's prunes corrupt it in a
        room of 1,000,000 (about 480,000 entries in, ``benchmarks/README.md``): an edit or a
        delete during a sweep makes a purge due, and it waits for the sweep's end too."""
        if self._cache.purge and self._purge_timer is None and not self._purging:
            if self._sweeping:
                return
            loop = asyncio.get_running_loop()
            wait = max(SEARCH_PURGE_DELAY, self._purged_at + self._purge_gap - loop.time())
            self._purge_timer = loop.call_later(wait, self._purge_now)

    def _purge_now(self) -> None:
        self._purge_timer = None
        if self._sweeping:  # armed before the sweep began: ``sweep_done`` arms it again
            return
        self._purging = True
        self._purge_began = asyncio.get_running_loop().time()
        self._purge_step()

    def _purge_step(self, previous: asyncio.Future[Any] | None = None) -> None:
        """One step of the purge; the next is queued when this one is done, until a step
        says the purge is (the writer's other batches go between them)."""
        if previous is not None:
            _log_failure(previous)
            failed = previous.cancelled() or previous.exception() is not None
            if failed or previous.result() or self._writer is None or self._sweeping:
                self._purging = False
                self._purged_at = now = asyncio.get_running_loop().time()
                took = now - self._purge_began
                self._purge_gap = max(SEARCH_PURGE_INTERVAL, SEARCH_PURGE_SPACING * took)
                return
        try:
            step = self._committer.submit(PurgeSearch(SEARCH_PURGE_PAGES))
        except StoreError:  # closing: close (or the next open) purges
            self._purging = False
            return
        step.add_done_callback(self._purge_step)

    def _index_due(self) -> int:
        """The newest message id a search-index pass of the writer's adds now (see
        SEARCH_INDEX_AGE): every one committed ``index_age`` seconds ago or more, and every
        one but the newest SEARCH_INDEX_KEEP. Notes when the newest ids were committed."""
        now = asyncio.get_running_loop().time()
        last_id, commits = self._cache.last_id, self._commits
        if self._aged_id > last_id or (commits and commits[-1][1] > last_id):
            # the highest ids were erased (``forget_erased_ids``) and will be given again
            self._aged_id = min(self._aged_id, last_id)
            while commits and commits[-1][1] > last_id:
                commits.pop()
        if last_id != (commits[-1][1] if commits else self._aged_id):
            if commits and now - commits[-1][0] < SEARCH_INDEX_DELAY / 2:  # one per half tick
                commits[-1] = (commits[-1][0], last_id)
            else:
                commits.append((now, last_id))
        while commits and commits[0][0] <= now - self.index_age:
            self._aged_id = max(self._aged_id, commits.popleft()[1])
        return max(last_id - SEARCH_INDEX_KEEP, min(self._aged_id, last_id))

    def _schedule_indexing(self) -> None:
        """Queue a search-index pass when enough messages are due, or arm the timer for
        one while any wait."""
        if self._writer is None:  # closed (a pass that ended after close): no new timer
            return
        due = self._index_due() - self._cache.indexed_upto
        if not self._cache.unindexed or (self._indexing is not None and not self._indexing.done()):
            return
        if due >= SEARCH_INDEX_BATCH:
            self._index_now()
        elif self._index_timer is None:
            self._index_timer = asyncio.get_running_loop().call_later(
                SEARCH_INDEX_DELAY, self._index_now
            )

    def _index_now(self) -> None:
        if self._index_timer is not None:
            self._index_timer.cancel()
            self._index_timer = None
        upto = self._index_due()
        if upto <= self._cache.indexed_upto:  # none due yet: look again at the next tick
            self._schedule_indexing()
            return
        try:
            self._indexing = self._committer.submit(IndexSearch(upto))
        except StoreError:  # closing: the next open catches up
            return
        self._indexing.add_done_callback(self._indexed)

    def _indexed(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            return
        if (exc := future.exception()) is not None:
            log.warning("search index update failed (tried again shortly): %s", exc)
            if self._index_timer is None:  # not at once: the disk may be full
                self._index_timer = asyncio.get_running_loop().call_later(
                    SEARCH_INDEX_DELAY, self._index_now
                )
            return
        self._schedule_indexing()  # messages committed after the pass


def _log_failure(future: asyncio.Future[Any]) -> None:
    """A purge that failed is tried after the next change, or at the next open: the mark
    stays in the database until one works."""
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.warning("search index purge failed: %s", exc)


def _catch_up_search(conn: sqlite3.Connection, cache: WriterCache) -> None:
    """Index what a stopped server left out of the search index, and purge what changes
    took out of it, in one transaction."""
    if not cache.unindexed and not cache.purge:
        return
    staged = WriterCache(last_id=cache.last_id, indexed_upto=cache.indexed_upto, purge=cache.purge)
    conn.execute("BEGIN IMMEDIATE")
    try:
        forget_erased_ids(conn, staged)  # a mark an older server left above the highest id
        index_search(conn, staged)
        purge_search(conn, staged)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    cache.last_id = staged.last_id
    cache.indexed_upto = staged.indexed_upto
    cache.purge = staged.purge
