"""The accounts side of the SQLite store: users, their tokens, and whom they block."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from chat_server.protocol import nick_key, now_ts
from chat_server.store.base import (
    INVITE_COLUMNS,
    Bearer,
    Blocks,
    Invite,
    User,
    invite_of,
)
from chat_server.store.sqlite.batch import Block, CreateUser, RemoveUser, Sql


class SQLiteAccounts:
    """SQLiteStore's users, tokens and blocks, on the store's read and write paths."""

    if TYPE_CHECKING:  # SQLiteStore's plumbing (store.py)

        async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

        def _now(self, sql: str, params: Sequence[Any]) -> list[Any]: ...

        async def _one(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

        async def _write(self, op: Any) -> Any: ...

    # --- users and tokens -----------------------------------------------------------------

    @staticmethod
    def _user(row: Any) -> User | None:
        if row is None:
            return None
        return User(
            id=row[0],
            nick=row[1],
            password_hash=row[2],
            removed=row[3] is not None,
            admin=bool(row[4]),
        )

    async def user_by_nick(self, nick: str) -> User | None:
        return self._user(
            await self._one(
                "SELECT id, nick, password_hash, removed_at, admin FROM users WHERE nick_key = ?",
                (nick_key(nick),),
            )
        )

    async def user_by_token(self, token_hash: bytes, now: float) -> Bearer | None:
        row = await self._one(
            "SELECT u.id, u.nick, u.password_hash, u.removed_at, u.admin, t.expires_at"
            " FROM tokens t JOIN users u ON u.id = t.user_id"
            " WHERE t.hash = ? AND u.removed_at IS NULL"
            " AND (t.expires_at IS NULL OR t.expires_at > ?)",
            (token_hash, now),
        )
        user = self._user(row)
        return None if user is None else Bearer(user, row[5])

    async def list_users(self) -> list[User]:
        rows = await self._all(
            "SELECT id, nick, password_hash, removed_at, admin FROM users ORDER BY nick_key"
        )
        return [user for row in rows if (user := self._user(row)) is not None]

    async def revocation_version(self) -> int:
        # polled ten times a second: one point read on the loop's thread
        rows = self._now("SELECT version FROM revocations WHERE id = 1", ())
        return int(rows[0][0]) if rows else 0

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

    async def create_user(self, nick: str, password_hash: str, invite: bytes | None = None) -> User:
        user: User = await self._write(CreateUser(nick, password_hash, invite))
        return user

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await self._write(
            Sql("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))
        )

    async def remove_user(self, user_id: int) -> None:
        await self._write(RemoveUser(user_id))

    async def set_admin(self, user_id: int, admin: bool) -> bool:
        count: int = await self._write(
            Sql("UPDATE users SET admin = ? WHERE id = ? AND admin != ?", (admin, user_id, admin))
        )
        return count > 0

    async def add_token(self, user_id: int, token_hash: bytes, expires_at: float | None) -> None:
        await self._write(
            Sql(
                "INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (token_hash, user_id, now_ts(), expires_at),
            )
        )

    async def revoke_token(self, token_hash: bytes) -> None:
        await self._write(Sql("DELETE FROM tokens WHERE hash = ?", (token_hash,)))

    async def revoke_user_tokens(self, user_id: int, keep: bytes | None = None) -> int:
        count: int = await self._write(
            Sql("DELETE FROM tokens WHERE user_id = ? AND hash IS NOT ?", (user_id, keep))
        )
        return count

    # --- invite codes ---------------------------------------------------------------------

    async def add_invite_code(
        self, code_hash: bytes, prefix: str, uses: int, expires_at: float | None,
        rooms: Sequence[str],
    ) -> None:  # fmt: skip
        await self._write(
            Sql(
                "INSERT INTO invites (hash, prefix, uses, expires_at, rooms, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (code_hash, prefix, uses, expires_at, " ".join(rooms), now_ts()),
            )
        )

    async def invite_code(self, code_hash: bytes) -> Invite | None:
        row = await self._one(f"SELECT {INVITE_COLUMNS} FROM invites WHERE hash = ?", (code_hash,))
        return None if row is None else invite_of(row)

    async def invite_codes(self) -> list[Invite]:
        rows = await self._all(f"SELECT {INVITE_COLUMNS} FROM invites ORDER BY created_at, rowid")
        return [invite_of(row) for row in rows]

    async def revoke_invite_code(self, code_hash: bytes) -> bool:
        count: int = await self._write(Sql("DELETE FROM invites WHERE hash = ?", (code_hash,)))
        return count > 0

    # --- blocks ---------------------------------------------------------------------------

    # The block reads below are point lookups by primary key or index, asked on a join, a
    # direct message or a typing notice: run inline like a history page's.

    async def blocks(self, user_id: int) -> Blocks:
        rows = self._now(
            "SELECT blocked_id, 0 FROM blocks WHERE user_id = ?"
            " UNION ALL SELECT user_id, 1 FROM blocks WHERE blocked_id = ?",
            (user_id, user_id),
        )
        return Blocks(
            blocked=frozenset(row[0] for row in rows if not row[1]),
            blocked_by=frozenset(row[0] for row in rows if row[1]),
        )

    async def blocks_between(self, user_id: int, other_nick: str) -> tuple[bool, bool]:
        rows = self._now(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE user_id = ? AND blocked_id = u.id),"
            " EXISTS (SELECT 1 FROM blocks WHERE user_id = u.id AND blocked_id = ?)"
            " FROM users u WHERE u.nick_key = ?",
            (user_id, user_id, nick_key(other_nick)),
        )
        return (bool(rows[0][0]), bool(rows[0][1])) if rows else (False, False)

    async def block(self, user_id: int, blocked_id: int, max_blocks: int | None = None) -> bool:
        new: bool = await self._write(Block(user_id, blocked_id, max_blocks))
        return new

    async def blocked_nicks(self, user_id: int, limit: int) -> list[str]:
        rows = await self._all(
            "SELECT u.nick FROM blocks b JOIN users u ON u.id = b.blocked_id"
            " WHERE b.user_id = ? ORDER BY u.nick_key LIMIT ?",
            (user_id, limit),
        )
        return [row[0] for row in rows]

    async def unblock(self, user_id: int, blocked_id: int) -> bool:
        count: int = await self._write(
            Sql("DELETE FROM blocks WHERE user_id = ? AND blocked_id = ?", (user_id, blocked_id))
        )
        return count > 0
