"""Copying a live SQLite database with the online backup API (``chat-server backup``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chat_server.errors import StoreError


def backup(source: Path, destination: Path) -> None:
    """Copy a live database with SQLite's online backup API."""
    if not source.exists():
        raise StoreError(f"no database at {source}")
    if destination.exists():
        raise StoreError(f"{destination} exists already")
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(destination)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise StoreError(f"backup failed: {exc}") from exc
