"""The Store test suites' backends: a store on SQLite and on PostgreSQL, as pytest fixtures.

The ``backend`` fixture runs each test that uses it on SQLite (a file in tmp_path) and on
PostgreSQL (a fresh schema of ``CHAT_TEST_DATABASE_URL``; skipped without it). A test module
imports ``backend`` and ``store`` from here to use them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from chat_server.store import SQLiteStore, User
from chat_server.store.postgres.schema import MIGRATIONS as POSTGRES_MIGRATIONS
from chat_server.store.postgres.store import PostgresStore
from chat_server.store.sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from tests.scale.cluster import PostgresSchema

AnyStore = SQLiteStore | PostgresStore


class Backend:
    """One database of one backend: new stores on it, and ways to reach behind them."""

    name = ""
    all_migrations: range = range(0)

    def store(self) -> AnyStore:
        raise NotImplementedError

    async def sabotage(self, body: str) -> None:
        """Make every later insert of a message with ``body`` fail in the database."""
        raise NotImplementedError

    async def migrations(self) -> list[int]:
        raise NotImplementedError

    def unreachable(self, tmp_path: Path) -> AnyStore:
        raise NotImplementedError

    async def plan(self, sql: str, *params: object) -> str:
        """The database's plan of a query (``?`` for each parameter), as one text, after
        the statistics are brought up to date."""
        raise NotImplementedError


class SQLiteBackend(Backend):
    name = "sqlite"
    all_migrations = range(1, len(SQLITE_MIGRATIONS) + 1)

    def __init__(self, path: Path) -> None:
        self.path = path

    def store(self) -> SQLiteStore:
        return SQLiteStore(self.path)

    async def sabotage(self, body: str) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute(
                "CREATE TRIGGER boom BEFORE INSERT ON messages WHEN new.body = ?"
                " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END".replace("?", repr(body))
            )

    async def migrations(self) -> list[int]:
        with sqlite3.connect(self.path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            return [row[0] for row in db.execute("SELECT version FROM schema_migrations")]

    def unreachable(self, tmp_path: Path) -> SQLiteStore:
        blocker = tmp_path / "file"
        blocker.write_text("not a directory")
        return SQLiteStore(blocker / "chat.db")

    async def plan(self, sql: str, *params: object) -> str:
        with sqlite3.connect(self.path) as db:
            db.execute("ANALYZE")
            rows = db.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
        return "\n".join(str(row[-1]) for row in rows)


class PostgresBackend(Backend):
    name = "postgres"
    all_migrations = range(1, len(POSTGRES_MIGRATIONS) + 1)

    def __init__(self, database_url: str) -> None:
        self.schema = PostgresSchema(database_url)
        self.url = self.schema.url

    async def _admin(self, *statements: str) -> list[list[asyncpg.Record]]:
        conn = await asyncpg.connect(self.url)
        try:
            return [await conn.fetch(statement) for statement in statements]
        finally:
            await conn.close()

    async def drop(self) -> None:
        await self.schema.drop()

    def store(self) -> PostgresStore:
        return PostgresStore(self.url, pool_size=4)

    async def sabotage(self, body: str) -> None:
        await self._admin(
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$",
            "CREATE TRIGGER boom BEFORE INSERT ON messages FOR EACH ROW"
            f" WHEN (new.body = '{body}') EXECUTE FUNCTION boom()",
        )

    async def migrations(self) -> list[int]:
        [rows] = await self._admin("SELECT version FROM schema_migrations ORDER BY version")
        return [row[0] for row in rows]

    def unreachable(self, tmp_path: Path) -> PostgresStore:
        return PostgresStore("postgresql://postgres@127.0.0.1:1/test")

    async def plan(self, sql: str, *params: object) -> str:
        numbered = sql
        for n in range(1, len(params) + 1):
            numbered = numbered.replace("?", f"${n}", 1)
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute("ANALYZE")
            rows = await conn.fetch(f"EXPLAIN {numbered}", *params)
        finally:
            await conn.close()
        return "\n".join(str(row[0]) for row in rows)


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        yield SQLiteBackend(tmp_path / "chat.db")
        return
    postgres = PostgresBackend(request.getfixturevalue("database_url"))
    await postgres.schema.create()
    try:
        yield postgres
    finally:
        await postgres.drop()


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[AnyStore]:
    db = backend.store()
    await db.open()
    yield db
    await db.close()


async def member(store: AnyStore, nick: str, room: str) -> tuple[User, int]:
    user = await store.user_by_nick(nick) or await store.create_user(nick, "hash")
    joined, _ = await store.join(user.id, room, False)
    return user, joined.id
