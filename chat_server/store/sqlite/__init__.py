"""SQLite storage: the store, its schema and migrations, batch writes, backup."""

from chat_server.store.sqlite.backup import backup
from chat_server.store.sqlite.schema import MIGRATIONS
from chat_server.store.sqlite.store import SEARCH_INDEX_BATCH, SEARCH_INDEX_KEEP, SQLiteStore

__all__ = ["MIGRATIONS", "SEARCH_INDEX_BATCH", "SEARCH_INDEX_KEEP", "SQLiteStore", "backup"]
