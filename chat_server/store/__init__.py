"""Storage: the Store protocol and its backends."""

from chat_server.store.base import NewMessage, Page, Room, Store, Stored, User, search_words
from chat_server.store.sqlite import SQLiteStore

__all__ = ["NewMessage", "Page", "Room", "SQLiteStore", "Store", "Stored", "User", "search_words"]
