"""SQLite storage: WAL, one writer connection driven by group commit, one read connection.

The writer connection belongs to the single writer task (``GroupCommitter``); history and
search go through a separate read connection, so they never see an uncommitted batch and
never queue behind one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from chat_server.errors import ProtocolError, StoreError
from chat_server.protocol import (
    MAX_SEQ,
    RoomInfo,
    RoomState,
    SearchHit,
    nick_key,
    now_ts,
)
from chat_server.store.base import NewMessage, Page, Room, Stored, User, history_page
from chat_server.store.writer import GroupCommitter

# Ordered migrations; each runs in one transaction and is recorded in schema_migrations.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            nick TEXT NOT NULL,
            nick_key TEXT NOT NULL UNIQUE,
            password_hash TEXT,
            created_at TEXT NOT NULL,
            removed_at TEXT
        )""",
        """CREATE TABLE tokens (
            hash BLOB PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            expires_at REAL
        )""",
        "CREATE INDEX tokens_user ON tokens(user_id)",
        """CREATE TABLE rooms (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            is_dm INTEGER NOT NULL DEFAULT 0,
            last_seq INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE memberships (
            user_id INTEGER NOT NULL REFERENCES users(id),
            room_id INTEGER NOT NULL REFERENCES rooms(id),
            read_seq INTEGER NOT NULL DEFAULT 0,
            joined_at TEXT NOT NULL,
            PRIMARY KEY (user_id, room_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX memberships_room ON memberships(room_id)",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            room_id INTEGER NOT NULL REFERENCES rooms(id),
            seq INTEGER NOT NULL,
            author_id INTEGER NOT NULL REFERENCES users(id),
            nick TEXT NOT NULL,
            client_id TEXT NOT NULL,
            body TEXT NOT NULL,
            ts TEXT NOT NULL,
            UNIQUE (room_id, seq),
            UNIQUE (author_id, client_id)
        )""",
        """CREATE VIRTUAL TABLE messages_fts USING fts5(
            body, content='messages', content_rowid='id'
        )""",
        """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
        END""",
    ),
)

_MESSAGE_COLUMNS = "seq, nick, body, ts, client_id"


# --- write operations (run by the writer task, inside the batch transaction) -------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Sql:
    """A write that is a single statement; the result is the cursor's rowcount."""

    sql: str
    params: tuple[Any, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class _CreateUser:
    nick: str
    password_hash: str


@dataclasses.dataclass(frozen=True, slots=True)
class _RemoveUser:
    user_id: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Join:
    user_ids: tuple[int, ...]
    name: str
    is_dm: bool


@dataclasses.dataclass(frozen=True, slots=True)
class _MarkRead:
    user_id: int
    room_id: int
    seq: int


class SQLiteStore:
    """The Store protocol on one SQLite file."""

    def __init__(self, path: Path, *, synchronous: str = "full", batch_max: int = 512) -> None:
        self.path = path
        self.synchronous = synchronous
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._committer = GroupCommitter(self._apply_batch, batch_max)
        self._last_seq: dict[int, int] = {}

    # --- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = await aiosqlite.connect(self.path, isolation_level=None)
            await self._writer.execute("PRAGMA journal_mode=WAL")
            await self._writer.execute(f"PRAGMA synchronous={self._sync_pragma()}")
            await self._writer.execute("PRAGMA foreign_keys=ON")
            await self._writer.execute("PRAGMA busy_timeout=5000")
            await self._migrate(self._writer)
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            await self._reader.execute("PRAGMA busy_timeout=5000")
            await self._reader.execute("PRAGMA query_only=ON")
        except (OSError, sqlite3.Error) as exc:
            await self.close()
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        self._committer.start()

    def _sync_pragma(self) -> str:
        if self.synchronous not in ("full", "normal"):
            raise StoreError(f"synchronous must be full or normal, not {self.synchronous!r}")
        return self.synchronous.upper()

    async def close(self) -> None:
        await self._committer.stop()
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        await db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        async with db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") as cur:
            row = await cur.fetchone()
        current = row[0] if row else 0
        for version, statements in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            await db.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements:
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, now_ts()),
                )
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise

    @property
    def stats(self) -> dict[str, int]:
        return {"batches": self._committer.batches, "writes": self._committer.operations}

    # --- reads ----------------------------------------------------------------------------

    @property
    def _r(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise StoreError("the database is closed")
        return self._reader

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            async with self._r.execute(sql, params) as cur:
                return list(await cur.fetchall())
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    @staticmethod
    def _user(row: Any) -> User | None:
        if row is None:
            return None
        return User(id=row[0], nick=row[1], password_hash=row[2], removed=row[3] is not None)

    async def user_by_nick(self, nick: str) -> User | None:
        return self._user(
            await self._one(
                "SELECT id, nick, password_hash, removed_at FROM users WHERE nick_key = ?",
                (nick_key(nick),),
            )
        )

    async def user_by_token(self, token_hash: bytes, now: float) -> User | None:
        return self._user(
            await self._one(
                "SELECT u.id, u.nick, u.password_hash, u.removed_at FROM tokens t"
                " JOIN users u ON u.id = t.user_id"
                " WHERE t.hash = ? AND u.removed_at IS NULL"
                " AND (t.expires_at IS NULL OR t.expires_at > ?)",
                (token_hash, now),
            )
        )

    async def list_users(self) -> list[User]:
        rows = await self._all(
            "SELECT id, nick, password_hash, removed_at FROM users ORDER BY nick_key"
        )
        return [user for row in rows if (user := self._user(row)) is not None]

    async def live_tokens(self, token_hashes: Iterable[bytes], now: float) -> set[bytes]:
        hashes = list(token_hashes)
        live: set[bytes] = set()
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = await self._all(
                f"SELECT t.hash FROM tokens t JOIN users u ON u.id = t.user_id"
                f" WHERE t.hash IN ({marks}) AND u.removed_at IS NULL"
                f" AND (t.expires_at IS NULL OR t.expires_at > ?)",
                (*chunk, now),
            )
            live.update(bytes(row[0]) for row in rows)
        return live

    async def room_by_name(self, name: str) -> Room | None:
        row = await self._one("SELECT id, name, is_dm FROM rooms WHERE name = ?", (name,))
        return Room(id=row[0], name=row[1], is_dm=bool(row[2])) if row else None

    async def is_member(self, user_id: int, room_id: int) -> bool:
        row = await self._one(
            "SELECT 1 FROM memberships WHERE user_id = ? AND room_id = ?", (user_id, room_id)
        )
        return row is not None

    async def members(self, room_id: int) -> list[tuple[int, str]]:
        rows = await self._all(
            "SELECT u.id, u.nick FROM memberships m JOIN users u ON u.id = m.user_id"
            " WHERE m.room_id = ? ORDER BY u.nick_key",
            (room_id,),
        )
        return [(row[0], row[1]) for row in rows]

    async def user_rooms(self, user_id: int) -> list[RoomState]:
        rows = await self._all(
            "SELECT r.name, r.last_seq, m.read_seq,"
            " (SELECT COUNT(*) FROM messages x WHERE x.room_id = r.id AND x.seq > m.read_seq"
            "  AND x.author_id != m.user_id)"
            " FROM memberships m JOIN rooms r ON r.id = m.room_id"
            " WHERE m.user_id = ? ORDER BY r.name",
            (user_id,),
        )
        return [RoomState(room=r[0], last_seq=r[1], read_seq=r[2], unread=r[3]) for r in rows]

    async def room_names(self, user_id: int) -> list[str]:
        rows = await self._all(
            "SELECT r.name FROM memberships m JOIN rooms r ON r.id = m.room_id"
            " WHERE m.user_id = ? ORDER BY r.name",
            (user_id,),
        )
        return [row[0] for row in rows]

    async def public_rooms(self) -> list[RoomInfo]:
        rows = await self._all(
            "SELECT r.name, (SELECT COUNT(*) FROM memberships m WHERE m.room_id = r.id),"
            " r.last_seq FROM rooms r WHERE r.is_dm = 0 ORDER BY r.name"
        )
        return [RoomInfo(room=r[0], members=r[1], last_seq=r[2]) for r in rows]

    async def last_seq(self, room_id: int) -> int:
        row = await self._one("SELECT last_seq FROM rooms WHERE id = ?", (room_id,))
        return int(row[0]) if row else 0

    async def history(
        self,
        room: Room,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int,
        upto: int | None = None,
    ) -> Page:
        """A keyset page: ``after`` ascending from a seq, otherwise the newest before one.

        ``more`` says whether another page lies beyond this one in the paging direction
        (newer for ``after``, older otherwise). ``upto`` caps the page at a seq (a join
        reads history up to the ``last_seq`` it reported).
        """
        ceiling = upto if upto is not None else MAX_SEQ
        if after is not None:
            rows = await self._all(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND seq > ?"
                " AND seq <= ? ORDER BY seq LIMIT ?",
                (room.id, after, ceiling, limit + 1),
            )
            return history_page(room.name, rows, limit, newest_first=False)
        top = ceiling if before is None else min(before - 1, ceiling)
        rows = await self._all(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND seq <= ?"
            " ORDER BY seq DESC LIMIT ?",
            (room.id, top, limit + 1),
        )
        return history_page(room.name, rows, limit, newest_first=True)

    async def search(
        self, user_id: int, words: Sequence[str], room_id: int | None, limit: int
    ) -> list[SearchHit]:
        if not words:
            return []
        query = " AND ".join('"' + word.replace('"', '""') + '"' for word in words)
        sql = (
            "SELECT r.name, m.seq, m.nick, m.body, m.ts FROM messages_fts f"
            " JOIN messages m ON m.id = f.rowid"
            " JOIN memberships ms ON ms.room_id = m.room_id AND ms.user_id = ?"
            " JOIN rooms r ON r.id = m.room_id"
            " WHERE messages_fts MATCH ?"
        )
        params: list[Any] = [user_id, query]
        if room_id is not None:
            sql += " AND m.room_id = ?"
            params.append(room_id)
        sql += " ORDER BY m.id DESC LIMIT ?"
        params.append(limit)
        rows = await self._all(sql, params)
        return [SearchHit(room=r[0], seq=r[1], nick=r[2], body=r[3], ts=r[4]) for r in rows]

    # --- writes ---------------------------------------------------------------------------

    async def _write(self, op: Any) -> Any:
        return await self._committer.submit(op)

    async def create_user(self, nick: str, password_hash: str) -> User:
        user: User = await self._write(_CreateUser(nick, password_hash))
        return user

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await self._write(
            _Sql("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))
        )

    async def remove_user(self, user_id: int) -> None:
        await self._write(_RemoveUser(user_id))

    async def add_token(self, user_id: int, token_hash: bytes, expires_at: float | None) -> None:
        await self._write(
            _Sql(
                "INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (token_hash, user_id, now_ts(), expires_at),
            )
        )

    async def revoke_token(self, token_hash: bytes) -> None:
        await self._write(_Sql("DELETE FROM tokens WHERE hash = ?", (token_hash,)))

    async def revoke_user_tokens(self, user_id: int) -> int:
        count: int = await self._write(_Sql("DELETE FROM tokens WHERE user_id = ?", (user_id,)))
        return count

    async def join(self, user_id: int, name: str, is_dm: bool) -> tuple[Room, bool]:
        result: tuple[Room, bool] = await self._write(_Join((user_id,), name, is_dm))
        return result

    async def open_dm(self, name: str, user_ids: Sequence[int]) -> tuple[Room, bool]:
        result: tuple[Room, bool] = await self._write(_Join(tuple(user_ids), name, True))
        return result

    async def leave(self, user_id: int, room_id: int) -> bool:
        count: int = await self._write(
            _Sql("DELETE FROM memberships WHERE user_id = ? AND room_id = ?", (user_id, room_id))
        )
        return count > 0

    async def mark_read(self, user_id: int, room_id: int, seq: int) -> int | None:
        moved: int | None = await self._write(_MarkRead(user_id, room_id, seq))
        return moved

    def submit(self, message: NewMessage) -> asyncio.Future[Stored]:
        """Queue a message for the next batch; returns the future of its ``Stored``."""
        future: asyncio.Future[Stored] = self._committer.submit(message)
        return future

    async def append(self, message: NewMessage) -> Stored:
        stored: Stored = await self._committer.submit(message)
        return stored

    # --- the writer task's side -----------------------------------------------------------

    async def _apply_batch(self, ops: Sequence[Any]) -> list[Any]:
        db = self._writer
        if db is None:
            raise StoreError("the database is closed")
        seqs: dict[int, int] = {}
        results: list[Any] = []
        try:
            await db.execute("BEGIN IMMEDIATE")
            i = 0
            while i < len(ops):
                if isinstance(ops[i], NewMessage):
                    j = i
                    while j < len(ops) and isinstance(ops[j], NewMessage):
                        j += 1
                    results.extend(await self._append_run(db, ops[i:j], seqs))
                    i = j
                    continue
                await db.execute("SAVEPOINT op")
                try:
                    results.append(await self._apply_one(db, ops[i]))
                except (ProtocolError, sqlite3.IntegrityError) as exc:
                    await db.execute("ROLLBACK TO op")
                    results.append(exc)
                await db.execute("RELEASE op")
                i += 1
            await db.execute("COMMIT")
        except BaseException as exc:
            # Whatever went wrong, the writer connection must leave the transaction, or
            # every later batch fails.
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    await db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"database write failed: {exc}") from exc
            raise
        self._last_seq.update(seqs)
        return results

    async def _apply_one(self, db: aiosqlite.Connection, op: Any) -> Any:
        match op:
            case _Sql(sql, params):
                cur = await db.execute(sql, params)
                return cur.rowcount
            case _CreateUser(nick, password_hash):
                cur = await db.execute(
                    "INSERT INTO users (nick, nick_key, password_hash, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (nick, nick_key(nick), password_hash, now_ts()),
                )
                assert cur.lastrowid is not None
                return User(id=cur.lastrowid, nick=nick, password_hash=password_hash)
            case _RemoveUser(user_id):
                await db.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,))
                await db.execute("DELETE FROM memberships WHERE user_id = ?", (user_id,))
                await db.execute(
                    "UPDATE users SET removed_at = ?, password_hash = NULL WHERE id = ?",
                    (now_ts(), user_id),
                )
                return None
            case _Join(user_ids, name, is_dm):
                cur = await db.execute(
                    "INSERT OR IGNORE INTO rooms (name, is_dm, created_at) VALUES (?, ?, ?)",
                    (name, int(is_dm), now_ts()),
                )
                async with db.execute(
                    "SELECT id, is_dm FROM rooms WHERE name = ?", (name,)
                ) as rcur:
                    row = await rcur.fetchone()
                assert row is not None
                room = Room(id=row[0], name=name, is_dm=bool(row[1]))
                created = False
                for user_id in user_ids:
                    mcur = await db.execute(
                        "INSERT OR IGNORE INTO memberships (user_id, room_id, joined_at)"
                        " VALUES (?, ?, ?)",
                        (user_id, room.id, now_ts()),
                    )
                    created = created or mcur.rowcount > 0
                return room, created
            case _MarkRead(user_id, room_id, seq):
                cur = await db.execute(
                    "UPDATE memberships SET read_seq ="
                    " MIN(?, (SELECT last_seq FROM rooms WHERE id = ?))"
                    " WHERE user_id = ? AND room_id = ?"
                    " AND read_seq < MIN(?, (SELECT last_seq FROM rooms WHERE id = ?))",
                    (seq, room_id, user_id, room_id, seq, room_id),
                )
                if cur.rowcount == 0:
                    return None
                async with db.execute(
                    "SELECT read_seq FROM memberships WHERE user_id = ? AND room_id = ?",
                    (user_id, room_id),
                ) as rcur:
                    row = await rcur.fetchone()
                return int(row[0]) if row else None
        raise TypeError(f"unknown write {op!r}")

    async def _append_run(
        self, db: aiosqlite.Connection, run: Sequence[NewMessage], seqs: dict[int, int]
    ) -> list[Any]:
        """Store a run of messages: idempotency, membership, seqs, one insert."""
        keys = [(m.user_id, m.client_id) for m in run]
        pairs = [(m.user_id, m.room_id) for m in run]
        existing: dict[tuple[int, str], Stored] = {}
        for start in range(0, len(run), 400):
            chunk = keys[start : start + 400]
            values = ",".join("(?, ?)" for _ in chunk)
            async with db.execute(
                "SELECT m.author_id, m.client_id, r.name, m.seq, m.ts, m.nick, m.body"
                " FROM messages m JOIN rooms r ON r.id = m.room_id"
                f" WHERE (m.author_id, m.client_id) IN (VALUES {values})",
                [v for key in chunk for v in key],
            ) as cur:
                for row in await cur.fetchall():
                    existing[(row[0], row[1])] = Stored(
                        room=row[2], seq=row[3], ts=row[4], client_id=row[1], nick=row[5],
                        body=row[6], new=False,
                    )  # fmt: skip
        member: set[tuple[int, int]] = set()
        for start in range(0, len(run), 400):
            chunk_pairs = sorted(set(pairs[start : start + 400]))
            values = ",".join("(?, ?)" for _ in chunk_pairs)
            async with db.execute(
                "SELECT user_id, room_id FROM memberships"
                f" WHERE (user_id, room_id) IN (VALUES {values})",
                [v for pair in chunk_pairs for v in pair],
            ) as cur:
                member.update((row[0], row[1]) for row in await cur.fetchall())
        unknown = {m.room_id for m in run} - seqs.keys() - self._last_seq.keys()
        if unknown:
            marks = ",".join("?" * len(unknown))
            async with db.execute(
                f"SELECT id, last_seq, name FROM rooms WHERE id IN ({marks})", tuple(unknown)
            ) as cur:
                for row in await cur.fetchall():
                    self._last_seq[row[0]] = row[1]
        room_ids = tuple({room_id for _, room_id in pairs})
        async with db.execute(
            f"SELECT id, name FROM rooms WHERE id IN ({','.join('?' * len(room_ids))})",
            room_ids,
        ) as cur:
            names = {row[0]: row[1] for row in await cur.fetchall()}

        ts = now_ts()
        results: list[Any] = []
        rows: list[tuple[Any, ...]] = []
        reads: dict[tuple[int, int], int] = {}
        for message in run:
            key = (message.user_id, message.client_id)
            if key in existing:
                results.append(dataclasses.replace(existing[key], new=False))
                continue
            if (message.user_id, message.room_id) not in member:
                results.append(ProtocolError("not_member", "you are not a member of this room"))
                continue
            seq = seqs.get(message.room_id, self._last_seq.get(message.room_id, 0)) + 1
            seqs[message.room_id] = seq
            stored = Stored(
                room=names[message.room_id], seq=seq, ts=ts, client_id=message.client_id,
                nick=message.nick, body=message.body, new=True,
            )  # fmt: skip
            existing[key] = stored
            results.append(stored)
            rows.append(
                (message.room_id, seq, message.user_id, message.nick, message.client_id,
                 message.body, ts)
            )  # fmt: skip
            reads[(message.user_id, message.room_id)] = seq
        if rows:
            await db.executemany(
                "INSERT INTO messages (room_id, seq, author_id, nick, client_id, body, ts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            await db.executemany(
                "UPDATE rooms SET last_seq = ? WHERE id = ?",
                [(seq, room_id) for room_id, seq in seqs.items()],
            )
            await db.executemany(
                "UPDATE memberships SET read_seq = MAX(read_seq, ?)"
                " WHERE user_id = ? AND room_id = ?",
                [(seq, user_id, room_id) for (user_id, room_id), seq in reads.items()],
            )
        return results


def backup(source: Path, destination: Path) -> None:
    """Copy a live database with SQLite's online backup API."""
    if not source.exists():
        raise StoreError(f"no database at {source}")
    if destination.exists():
        raise StoreError(f"{destination} exists already")
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(destination)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise StoreError(f"backup failed: {exc}") from exc
