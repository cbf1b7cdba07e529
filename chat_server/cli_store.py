"""Running one administration command against the database, for the ``chat-server`` commands."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from chat_server.cli_options import resolve_database
from chat_server.config import Settings
from chat_server.errors import ChatError
from chat_server.runtime import run
from chat_server.store import Store, create_store

T = TypeVar("T")


async def with_store(
    db: Path | None,
    database_url: str | None,
    action: Callable[[Store], Awaitable[T]],
    *,
    create: bool = False,
) -> T:
    """Open the database the options name, run ``action`` on it, close it; a database that
    cannot be opened (or, unless ``create``, a SQLite file that does not exist) is one
    clear line."""
    path, postgres_url = resolve_database(db, database_url)
    if postgres_url is None and not create and not path.exists():
        raise click.ClickException(f"no database at {path} (start the server once, or use --db)")
    try:
        store = create_store(Settings(db_path=path, database_url=postgres_url))
        await store.open()
    except ChatError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        return await action(store)
    finally:
        await store.close()


def run_with_store(
    db: Path | None,
    database_url: str | None,
    action: Callable[[Store], Awaitable[T]],
    *,
    create: bool = False,
) -> T:
    """:func:`with_store` on an event loop of its own, for a command's body."""
    return run(with_store(db, database_url, action, create=create))
