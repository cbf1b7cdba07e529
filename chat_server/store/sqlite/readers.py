"""A read-only SQLite connection on a thread of its own, for reads that leave the event loop.

The store keeps two: one for the short reads of logins, joins and the like, one for
searches, so a slow full-text query never holds up someone's login.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from chat_server.errors import StoreError, TooCostly

# How often (in SQLite virtual-machine instructions) a query with a deadline looks at the
# clock: a few microseconds apart, and a Python call each time costs about 1 % of the query
DEADLINE_CHECK_EVERY = 10_000

_T = TypeVar("_T")


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

    async def all(
        self, sql: str, params: Sequence[Any] = (), *, deadline: float | None = None
    ) -> list[Any]:
        """All rows of one query; with a ``deadline``, TooCostly if it runs longer than that
        many seconds on the thread (the time it waited for the thread not counted)."""
        return await self.run(_fetch, sql, params, deadline=deadline)

    async def run(self, fn: Callable[..., _T], *args: Any, deadline: float | None = None) -> _T:
        """``fn(connection, *args)`` on the thread, in one trip (the queries of one read);
        with a ``deadline`` as for :meth:`all`, for all of them together."""
        conn, pool = self._conn, self._pool
        if conn is None or pool is None:
            raise StoreError("the database is closed")
        loop = asyncio.get_running_loop()
        try:
            if deadline is None:
                return await loop.run_in_executor(pool, fn, conn, *args)
            return await loop.run_in_executor(pool, _within, deadline, fn, conn, *args)
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


def _within(seconds: float, fn: Callable[..., _T], conn: sqlite3.Connection, *args: Any) -> _T:
    """On the reader's thread: ``fn(conn, *args)``, stopped (TooCostly) past ``seconds``."""
    ends = time.monotonic() + seconds

    def overdue() -> bool:
        return time.monotonic() > ends

    conn.set_progress_handler(overdue, DEADLINE_CHECK_EVERY)
    try:
        return fn(conn, *args)
    except sqlite3.OperationalError as exc:
        if overdue():
            raise TooCostly(f"the query ran past {seconds:g} s") from exc
        raise
    finally:
        conn.set_progress_handler(None, 0)
