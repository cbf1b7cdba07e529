"""Big rooms for tests, made straight through a store: accounts without a password (no hash
to compute) made members of a room, a few hundred in a second."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chat_server.config import Settings
from chat_server.store import Store, create_store


async def crowd(store: Store, room: str, nicks: list[str]) -> None:
    """Make ``nicks`` members of ``room`` (created public when missing); the store's writer
    commits them in a few batches."""
    users = await asyncio.gather(*(store.create_user(nick, "!") for nick in nicks))
    await asyncio.gather(*(store.join(user.id, room, False) for user in users))


async def crowd_db(db: Path, room: str, nicks: list[str]) -> None:
    """:func:`crowd` on a SQLite file, a running server's too (WAL)."""
    store = create_store(Settings(db_path=db))
    await store.open()
    try:
        await crowd(store, room, nicks)
    finally:
        await store.close()


def crowd_file(db: Path, room: str, nicks: list[str]) -> None:
    """:func:`crowd_db` from synchronous code, an event loop's thread too (Playwright's)."""
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, crowd_db(db, room, nicks)).result()
