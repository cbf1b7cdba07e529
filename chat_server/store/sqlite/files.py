"""Creating the database's files so that only the server's own user can read them.

A database holds every direct message and every password hash: the directory the server
creates for it is 0700 and each file 0600, whatever the umask. SQLite gives the ``-wal``,
``-shm`` and ``-journal`` files the mode of the database file, so creating that one
right is enough. What exists already (a directory an operator made, an old file) is left
as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def create_private(path: Path, *, exclusive: bool = False) -> bool:
    """Create ``path``, empty (0600), if it is missing; SQLite takes it for a new database.

    Returns whether it was created; with ``exclusive``, an existing file raises
    FileExistsError.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        if exclusive:
            raise
        return False
    os.close(fd)
    return True


def create_private_dir(path: Path) -> None:
    """Create the directory ``path`` (0700; missing parents as ``mkdir -p`` would) if missing."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
