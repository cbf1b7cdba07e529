"""The accounts side of the PostgreSQL store: users, their tokens, and whom they block."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from chat_server.protocol import nick_key
from chat_server.store.base import (
    INVITE_COLUMNS,
    Bearer,
    Blocks,
    Invite,
    User,
    invite_of,
    invite_refused,
    too_many_blocks,
)
from chat_server.store.postgres.rooms import remove_owner
from chat_server.store.postgres.schema import Conn, Row


class PostgresAccounts:
    """PostgresStore's users, tokens and blocks, on the store's pool."""

    if TYPE_CHECKING:  # PostgresStore's plumbing (store.py)

        async def _all(self, sql: str, *args: object) -> list[Row]: ...

        async def _one(self, sql: str, *args: object) -> Row | None: ...

        def _tx(self) -> AbstractAsyncContextManager[Conn]: ...

        async def _execute(self, sql: str, *args: object) -> int: ...

    # --- users and tokens -----------------------------------------------------------------

    @staticmethod
    def _user(row: Row | None) -> User | None:
        if row is None:
            return None
        return User(
            id=row[0],
            nick=row[1],
            password_hash=row[2],
            removed=row[3] is not None,
            admin=row[4],
        )

    async def user_by_nick(self, nick: str) -> User | None:
        return self._user(
            await self._one(
                "SELECT id, nick, password_hash, removed_at, admin FROM users WHERE nick_key = $1",
                nick_key(nick),
            )
        )

    async def user_by_token(self, token_hash: bytes, now: float) -> Bearer | None:
        row = await self._one(
            "SELECT u.id, u.nick, u.password_hash, u.removed_at, u.admin, t.expires_at"
            " FROM tokens t JOIN users u ON u.id = t.user_id"
            " WHERE t.hash = $1 AND u.removed_at IS NULL"
            " AND (t.expires_at IS NULL OR t.expires_at > $2)",
            token_hash,
            now,
        )
        user = self._user(row)
        if row is None or user is None:
            return None
        return Bearer(user, None if row[5] is None else float(row[5]))

    async def list_users(self) -> list[User]:
        rows = await self._all(
            "SELECT id, nick, password_hash, removed_at, admin FROM users ORDER BY nick_key"
        )
        return [user for row in rows if (user := self._user(row)) is not None]

    async def revocation_version(self) -> int:
        row = await self._one("SELECT version FROM revocations WHERE id = 1")
        return int(row[0]) if row else 0

    async def live_tokens(self, token_hashes: Iterable[bytes], now: float) -> set[bytes]:
        rows = await self._all(
            "SELECT t.hash FROM tokens t JOIN users u ON u.id = t.user_id"
            " WHERE t.hash = ANY($1::bytea[]) AND u.removed_at IS NULL"
            " AND (t.expires_at IS NULL OR t.expires_at > $2)",
            list(token_hashes),
            now,
        )
        return {bytes(row[0]) for row in rows}

    async def create_user(self, nick: str, password_hash: str, invite: bytes | None = None) -> User:
        async with self._tx() as conn:
            rooms: list[str] = []
            if invite is not None:
                # the row stays locked until the commit: a concurrent signup with the same
                # code waits, then sees the use taken
                taken = await conn.fetchval(
                    "UPDATE invites SET used = used + 1 WHERE hash = $1 AND used < uses"
                    " AND (expires_at IS NULL OR expires_at > $2) RETURNING rooms",
                    invite,
                    time.time(),
                )
                if taken is None:
                    raise invite_refused()
                rooms = taken.split()
            user_id = await conn.fetchval(
                "INSERT INTO users (nick, nick_key, password_hash) VALUES ($1, $2, $3)"
                " RETURNING id",
                nick,
                nick_key(nick),
                password_hash,
            )
            if rooms:
                await _join_invited(conn, int(user_id), rooms)
        return User(id=int(user_id), nick=nick, password_hash=password_hash)

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await self._execute(
            "UPDATE users SET password_hash = $1 WHERE id = $2", password_hash, user_id
        )

    async def remove_user(self, user_id: int) -> None:
        async with self._tx() as conn:
            # the memberships' trigger updates their rooms: lock those in id order first, as
            # a write batch does, so the two never deadlock
            await conn.execute(
                "SELECT 1 FROM rooms WHERE id IN"
                " (SELECT room_id FROM memberships WHERE user_id = $1) ORDER BY id FOR UPDATE",
                user_id,
            )
            await remove_owner(conn, user_id)  # (rooms it owned go on to others)
            await conn.execute("DELETE FROM tokens WHERE user_id = $1", user_id)
            await conn.execute("DELETE FROM memberships WHERE user_id = $1", user_id)
            await conn.execute("DELETE FROM blocks WHERE user_id = $1 OR blocked_id = $1", user_id)
            await conn.execute("DELETE FROM room_invites WHERE user_id = $1", user_id)
            await conn.execute(
                "UPDATE users SET removed_at = now(), password_hash = NULL WHERE id = $1",
                user_id,
            )

    async def set_admin(self, user_id: int, admin: bool) -> bool:
        count = await self._execute(
            "UPDATE users SET admin = $1 WHERE id = $2 AND admin <> $1", admin, user_id
        )
        return count > 0

    async def add_token(self, user_id: int, token_hash: bytes, expires_at: float | None) -> None:
        await self._execute(
            "INSERT INTO tokens (hash, user_id, expires_at) VALUES ($1, $2, $3)",
            token_hash,
            user_id,
            expires_at,
        )

    async def revoke_token(self, token_hash: bytes) -> None:
        await self._execute("DELETE FROM tokens WHERE hash = $1", token_hash)

    async def revoke_user_tokens(self, user_id: int, keep: bytes | None = None) -> int:
        return await self._execute(
            "DELETE FROM tokens WHERE user_id = $1 AND hash IS DISTINCT FROM $2", user_id, keep
        )

    # --- invite codes ---------------------------------------------------------------------

    async def add_invite_code(
        self, code_hash: bytes, prefix: str, uses: int, expires_at: float | None,
        rooms: Sequence[str],
    ) -> None:  # fmt: skip
        await self._execute(
            "INSERT INTO invites (hash, prefix, uses, expires_at, rooms)"
            " VALUES ($1, $2, $3, $4, $5)",
            code_hash,
            prefix,
            uses,
            expires_at,
            " ".join(rooms),
        )

    async def invite_code(self, code_hash: bytes) -> Invite | None:
        row = await self._one(f"SELECT {INVITE_COLUMNS} FROM invites WHERE hash = $1", code_hash)
        return None if row is None else invite_of(row)

    async def invite_codes(self) -> list[Invite]:
        rows = await self._all(f"SELECT {INVITE_COLUMNS} FROM invites ORDER BY created_at, hash")
        return [invite_of(row) for row in rows]

    async def revoke_invite_code(self, code_hash: bytes) -> bool:
        return await self._execute("DELETE FROM invites WHERE hash = $1", code_hash) > 0

    # --- blocks ---------------------------------------------------------------------------

    async def block(self, user_id: int, blocked_id: int, max_blocks: int | None = None) -> bool:
        """The user's row stays locked until the transaction ends, so the blocks of one user,
        on any node, are counted one at a time."""
        async with self._tx() as conn:
            await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", user_id)
            if await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM blocks WHERE user_id = $1 AND blocked_id = $2)",
                user_id,
                blocked_id,
            ):
                return False
            if max_blocks is not None:
                count = await conn.fetchval(
                    "SELECT COUNT(*) FROM blocks WHERE user_id = $1", user_id
                )
                if count >= max_blocks:
                    raise too_many_blocks(max_blocks)
            await conn.execute(
                "INSERT INTO blocks (user_id, blocked_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                user_id,
                blocked_id,
            )
            return True

    async def blocked_nicks(self, user_id: int, limit: int) -> list[str]:
        rows = await self._all(
            "SELECT u.nick FROM blocks b JOIN users u ON u.id = b.blocked_id"
            " WHERE b.user_id = $1 ORDER BY u.nick_key LIMIT $2",
            user_id,
            limit,
        )
        return [row[0] for row in rows]

    async def unblock(self, user_id: int, blocked_id: int) -> bool:
        count = await self._execute(
            "DELETE FROM blocks WHERE user_id = $1 AND blocked_id = $2", user_id, blocked_id
        )
        return count > 0

    async def blocks(self, user_id: int) -> Blocks:
        rows = await self._all(
            "SELECT blocked_id, FALSE FROM blocks WHERE user_id = $1"
            " UNION ALL SELECT user_id, TRUE FROM blocks WHERE blocked_id = $1",
            user_id,
        )
        return Blocks(
            blocked=frozenset(row[0] for row in rows if not row[1]),
            blocked_by=frozenset(row[0] for row in rows if row[1]),
        )

    async def blocks_between(self, user_id: int, other_nick: str) -> tuple[bool, bool]:
        row = await self._one(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE user_id = $1 AND blocked_id = u.id),"
            " EXISTS (SELECT 1 FROM blocks WHERE user_id = u.id AND blocked_id = $1)"
            " FROM users u WHERE u.nick_key = $2",
            user_id,
            nick_key(other_nick),
        )
        return (bool(row[0]), bool(row[1])) if row is not None else (False, False)


async def _join_invited(conn: Conn, user_id: int, rooms: Sequence[str]) -> None:
    """Make a new account a member of an invite code's rooms; those missing are created,
    owned by it."""
    made = await conn.fetch(
        "INSERT INTO rooms (name, created_by) SELECT unnest($1::text[]), $2"
        " ON CONFLICT (name) DO NOTHING RETURNING id",
        rooms,
        user_id,
    )
    # the memberships' trigger updates the rooms: lock them in id order first, as a write
    # batch does, so the two never deadlock
    await conn.execute(
        "SELECT 1 FROM rooms WHERE name = ANY($1::text[]) ORDER BY id FOR UPDATE", rooms
    )
    await conn.execute(
        "INSERT INTO memberships (user_id, room_id, role)"
        " SELECT $1, id, CASE WHEN id = ANY($3::bigint[]) THEN 'owner' ELSE 'member' END"
        " FROM rooms WHERE name = ANY($2::text[]) ON CONFLICT DO NOTHING",
        user_id,
        rooms,
        [row[0] for row in made],
    )
