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
    # Revocation within 200 ms on every node: any statement deleting tokens bumps one
    # counter that the nodes poll (see the SQLite schema's migration 4).
    (
        "CREATE TABLE revocations (id INT PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)",
        "INSERT INTO revocations (id, version) VALUES (1, 0)",
        """CREATE FUNCTION tokens_revoked() RETURNS trigger LANGUAGE plpgsql
        SET search_path FROM CURRENT AS $$
        BEGIN
            UPDATE revocations SET version = version + 1 WHERE id = 1;
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER tokens_revoked AFTER DELETE ON tokens
            FOR EACH STATEMENT EXECUTE FUNCTION tokens_revoked()""",
    ),
    # Limits per user and the rooms list by size: who created a room by joining it (the
    # creation rate counts those), and each room's member count, kept by a trigger on every
    # change of memberships, so a page of the list is a walk along an index. Names sort
    # bytewise (COLLATE "C"), as in SQLite, whatever the database's collation.
    (
        "ALTER TABLE rooms ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE rooms ADD COLUMN created_by BIGINT REFERENCES users(id)",
        "UPDATE rooms r SET member_count ="
        " (SELECT COUNT(*) FROM memberships m WHERE m.room_id = r.id)",
        """CREATE FUNCTION count_members() RETURNS trigger LANGUAGE plpgsql
        SET search_path FROM CURRENT AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                UPDATE rooms SET member_count = member_count + 1 WHERE id = NEW.room_id;
            ELSE
                UPDATE rooms SET member_count = member_count - 1 WHERE id = OLD.room_id;
            END IF;
            RETURN NULL;
        END $$""",
        "CREATE TRIGGER memberships_count AFTER INSERT OR DELETE ON memberships"
        " FOR EACH ROW EXECUTE FUNCTION count_members()",
        'CREATE INDEX rooms_by_size ON rooms (member_count DESC, name COLLATE "C") WHERE NOT is_dm',
        "CREATE INDEX rooms_created_by ON rooms (created_by, created_at)"
        " WHERE created_by IS NOT NULL",
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
    # Protocol 2, a room is a log: edits and deletes are rows of ``messages`` (see the
    # SQLite schema's migration 7). Only messages (kind 0) are searched: the full-text
    # index leaves the change rows out (partial), and a deleted message's body is "".
    (
        "ALTER TABLE messages ADD COLUMN kind SMALLINT NOT NULL DEFAULT 0,"
        " ADD COLUMN target BIGINT, ADD COLUMN edited TEXT,"
        " ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT FALSE, ADD COLUMN version BIGINT,"
        " ADD COLUMN reason TEXT",
        "CREATE INDEX messages_changes ON messages(room_id, target, kind) WHERE target IS NOT NULL",
        "DROP INDEX messages_search",
        "CREATE INDEX messages_search ON messages USING GIN (to_tsvector('simple', body))"
        " WHERE kind = 0",
    ),
    # Replies, threads and reactions: see the SQLite schema's migration 8.
    (
        "ALTER TABLE messages ADD COLUMN reply_to BIGINT, ADD COLUMN thread BIGINT,"
        " ADD COLUMN replies INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX messages_thread ON messages(room_id, thread, seq) WHERE thread IS NOT NULL",
        "UPDATE messages SET version = seq WHERE target IS NOT NULL AND version IS NULL",
        """CREATE TABLE reactions (
            message_id BIGINT NOT NULL REFERENCES messages(id),
            emoji TEXT NOT NULL,
            user_id BIGINT NOT NULL REFERENCES users(id),
            nick TEXT NOT NULL,
            seq BIGINT NOT NULL,
            since BIGINT NOT NULL,
            PRIMARY KEY (message_id, emoji, user_id)
        )""",
    ),
    # Server admins: a flag on the account (see the SQLite schema's ``users.admin``).
    ("ALTER TABLE users ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE",),
    # Rooms with owners: see the SQLite schema's migration of that name.
    (
        "ALTER TABLE rooms ADD COLUMN private BOOLEAN NOT NULL DEFAULT FALSE,"
        " ADD COLUMN topic TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE memberships ADD COLUMN role TEXT NOT NULL DEFAULT 'member'",
        "UPDATE memberships m SET role = 'owner' FROM rooms r"
        " WHERE r.id = m.room_id AND r.created_by = m.user_id AND NOT r.is_dm",
        "CREATE INDEX memberships_succession ON memberships(room_id, joined_at)",
        "DROP INDEX rooms_by_size",
        'CREATE INDEX rooms_by_size ON rooms (member_count DESC, name COLLATE "C")'
        " WHERE NOT is_dm AND NOT private",
        """CREATE TABLE room_bans (
            room_id BIGINT NOT NULL REFERENCES rooms(id),
            user_id BIGINT NOT NULL REFERENCES users(id),
            by_id BIGINT NOT NULL REFERENCES users(id),
            reason TEXT,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (room_id, user_id)
        )""",
        """CREATE TABLE room_invites (
            room_id BIGINT NOT NULL REFERENCES rooms(id),
            user_id BIGINT NOT NULL REFERENCES users(id),
            by_id BIGINT NOT NULL REFERENCES users(id),
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (room_id, user_id)
        )""",
        "CREATE INDEX room_invites_user ON room_invites(user_id, created_at)",
    ),
    # Invite codes: see the SQLite schema's ``invites``.
    (
        """CREATE TABLE invites (
            hash BYTEA PRIMARY KEY,
            prefix TEXT NOT NULL,
            uses INTEGER NOT NULL,
            used INTEGER NOT NULL DEFAULT 0,
            expires_at DOUBLE PRECISION,
            rooms TEXT NOT NULL DEFAULT '',
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )""",
    ),
    # Retention: see the SQLite schema's last migration.
    (
        "ALTER TABLE rooms ADD COLUMN floor BIGINT NOT NULL DEFAULT 1,"
        " ADD COLUMN retention_s BIGINT",
    ),
    # A room's members a page at a time: see the SQLite schema's last migration. The key
    # sorts bytewise (COLLATE "C"), as in SQLite, whatever the database's collation.
    (
        'ALTER TABLE memberships ADD COLUMN nick_key TEXT COLLATE "C"',
        "UPDATE memberships m SET nick_key = u.nick_key FROM users u WHERE u.id = m.user_id",
        """CREATE FUNCTION membership_nick_key() RETURNS trigger LANGUAGE plpgsql
        SET search_path FROM CURRENT AS $$
        BEGIN
            NEW.nick_key := (SELECT nick_key FROM users WHERE id = NEW.user_id);
            RETURN NEW;
        END $$""",
        "CREATE TRIGGER memberships_nick_key BEFORE INSERT ON memberships"
        " FOR EACH ROW EXECUTE FUNCTION membership_nick_key()",
        "CREATE INDEX memberships_by_nick ON memberships (room_id, nick_key)",
    ),
    # A join reads the room's owner and ops (``FACTS_SQL``): along an index of the members
    # with a role only, not a walk over every member.
    ("CREATE INDEX memberships_roles ON memberships (room_id) WHERE role <> 'member'",),
    # Search newest first (``search.py``): each message's words stored beside it, so a
    # search can walk the newest entries testing each without parsing its text; the index
    # reads the same column. Rewrites the table once (every row gets its words).
    (
        "ALTER TABLE messages ADD COLUMN words tsvector GENERATED ALWAYS AS"
        " (CASE WHEN kind = 0 THEN to_tsvector('simple', body) END) STORED",
        "DROP INDEX messages_search",
        "CREATE INDEX messages_search ON messages USING GIN (words) WHERE kind = 0",
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
