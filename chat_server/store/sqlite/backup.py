"""Copying a live SQLite database with the online backup API (``chat-server backup``)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from chat_server.errors import StoreError
from chat_server.store.sqlite.files import create_private


def backup(source: Path, destination: Path) -> None:
    """Copy a live database with SQLite's online backup API, into a new file (0600)."""
    if not source.exists():
        raise StoreError(f"no database at {source}")
    try:
        create_private(destination, exclusive=True)
    except FileExistsError:
        raise StoreError(f"{destination} exists already") from None
    except OSError as exc:  # no such directory, no permission
        raise StoreError(f"cannot create {destination}: {exc.strerror or exc}") from None
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
        with contextlib.suppress(OSError):  # no half-written copy left behind
            destination.unlink()
        raise StoreError(f"backup failed: {exc}") from exc
