"""A read-only SQLite connection on a thread of its own, for reads that leave the event loop.

The store keeps two: one for the short reads of logins, joins and the like, one for
searches, so a slow full-text query never holds up someone's login.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from chat_server.errors import StoreError


def open_reader(path: Path, busy_ms: int = 5000) -> sqlite3.Connection:
    """A read-only connection (after the writer has migrated), for the thread that opens it."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        conn.execute("PRAGMA query_only=ON")
    except BaseException:
        conn.close()
        raise
    return conn


class ReaderThread:
    """One connection, one thread: each query runs and fetches there in one trip (a thread hop
    per query, not one per cursor call as through aiosqlite)."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        self._pool: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Start the thread and connect there; raises sqlite3.Error or OSError."""
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        self._conn = await asyncio.get_running_loop().run_in_executor(
            self._pool, open_reader, self.path
        )

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """All rows of one query."""
        conn, pool = self._conn, self._pool
        if conn is None or pool is None:
            raise StoreError("the database is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, _fetch, conn, sql, params)
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    async def close(self) -> None:
        conn, pool = self._conn, self._pool
        self._conn = self._pool = None
        if pool is not None:
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(pool, conn.close)
            pool.shutdown(wait=False)


def _fetch(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """On the reader's thread: run one query and fetch all its rows."""
    return conn.execute(sql, params).fetchall()
