"""Storage: the Store protocol, its backends, and the choice between them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat_server.errors import StoreError
from chat_server.store.base import (
    Bearer,
    Blocks,
    NewChange,
    NewMessage,
    NewReaction,
    Page,
    Room,
    RoomQuota,
    RoomsPage,
    Store,
    Stored,
    StoredChange,
    User,
    search_words,
)
from chat_server.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from chat_server.config import Settings

__all__ = [
    "Bearer",
    "Blocks",
    "NewChange",
    "NewMessage",
    "NewReaction",
    "Page",
    "Room",
    "RoomQuota",
    "RoomsPage",
    "SQLiteStore",
    "Store",
    "Stored",
    "StoredChange",
    "User",
    "create_store",
    "is_postgres_url",
    "search_words",
]


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def create_store(settings: Settings) -> Store:
    """PostgreSQL when the settings name a database URL, otherwise the SQLite file."""
    if settings.database_url is not None:
        # Imported here: asyncpg is installed and loaded only for servers that use it.
        try:
            from chat_server.store.postgres.store import PostgresStore
        except ImportError as exc:
            driver = (exc.name or "asyncpg").partition(".")[0]
            raise StoreError(f"PostgreSQL needs {driver}: pip install 'chat[scale]'") from exc

        return PostgresStore(
            settings.database_url, pool_size=settings.db_pool_size, batch_max=settings.batch_max
        )
    return SQLiteStore(
        settings.db_path, synchronous=settings.synchronous, batch_max=settings.batch_max
    )
