"""The PostgreSQL schema: ordered migrations, each in one transaction, recorded in a table.

Nodes starting together take turns under an advisory lock, so each migration runs once.
The connection protocols type what the store uses of asyncpg (which ships no types).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class Row(Protocol):
    def __getitem__(self, key: int | str) -> Any: ...


class Conn(Protocol):
    async def execute(self, query: str, *args: object) -> str: ...

    async def fetch(self, query: str, *args: object) -> list[Row]: ...

    async def fetchrow(self, query: str, *args: object) -> Row | None: ...

    async def fetchval(self, query: str, *args: object) -> Any: ...

    def transaction(self) -> AbstractAsyncContextManager[object]: ...


# Ordered migrations; each runs in one transaction and is recorded in schema_migrations.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE users (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            nick TEXT NOT NULL,
            nick_key TEXT NOT NULL UNIQUE,
            password_hash TEXT,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            removed_at TIMESTAMPTZ
        )""",
        """CREATE TABLE tokens (
            hash BYTEA PRIMARY KEY,
            user_id BIGINT NOT NULL REFERENCES users(id),
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            expires_at DOUBLE PRECISION
        )""",
        "CREATE INDEX tokens_user ON tokens(user_id)",
        """CREATE TABLE rooms (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            is_dm BOOLEAN NOT NULL DEFAULT FALSE,
            last_seq BIGINT NOT NULL DEFAULT 0,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )""",
        """CREATE TABLE memberships (
            user_id BIGINT NOT NULL REFERENCES users(id),
            room_id BIGINT NOT NULL REFERENCES rooms(id),
            read_seq BIGINT NOT NULL DEFAULT 0,
            joined_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (user_id, room_id)
        )""",
        "CREATE INDEX memberships_room ON memberships(room_id)",
        """CREATE TABLE messages (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            room_id BIGINT NOT NULL REFERENCES rooms(id),
            seq BIGINT NOT NULL,
            author_id BIGINT NOT NULL REFERENCES users(id),
            nick TEXT NOT NULL,
            client_id TEXT NOT NULL,
            body TEXT NOT NULL,
            ts TEXT NOT NULL,
            UNIQUE (room_id, seq),
            UNIQUE (author_id, client_id)
        )""",
        "CREATE INDEX messages_search ON messages USING GIN (to_tsvector('simple', body))",
    ),
    # Direct conversations by consent: see the SQLite schema's migration 4.
    (
        "ALTER TABLE memberships ADD COLUMN wrote BOOLEAN NOT NULL DEFAULT FALSE",
        "UPDATE memberships m SET wrote = TRUE FROM"
        " (SELECT DISTINCT author_id, room_id FROM messages) w"
        " WHERE m.user_id = w.author_id AND m.room_id = w.room_id",
        """CREATE TABLE blocks (
            user_id BIGINT NOT NULL REFERENCES users(id),
            blocked_id BIGINT NOT NULL REFERENCES users(id),
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (user_id, blocked_id)
        )""",
        "CREATE INDEX blocks_blocked ON blocks(blocked_id, user_id)",
    ),
)

# Any constant works: nodes starting together take turns at migrating.
_MIGRATION_LOCK = 0x63686174


async def migrate(conn: Conn) -> list[int]:
    """Apply the migrations this database lacks, in order; returns the versions applied."""
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        current = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        applied: list[int] = []
        for version, statements in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            async with conn.transaction():
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied.append(version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
