"""What the scripting commands print: one line per message, for people or for programs.

Pure formatting plus the ``--cursor`` file. Human lines go through the protocol's cleaning,
so a body can never move the cursor, retitle the terminal or ring its bell.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import datetime
from pathlib import Path

import msgspec

from chat_server import protocol as p

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def local_time(ts: str) -> str:
    """A server timestamp (UTC, ``...Z``) in the local time zone, to the second."""
    try:
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return p.clean_text(ts)
    return moment.astimezone().strftime(TIME_FORMAT)


def human_line(message: p.MessageRecord) -> str:
    """``2026-11-26 04:00:00  alice: hi``; later lines of the body indented under the first."""
    prefix = f"{local_time(message.ts)}  "
    lines = p.clean_text(message.body).split("\n")
    indent = "\n" + " " * len(prefix)
    return f"{prefix}{p.clean_text(message.nick)}: {indent.join(lines)}"


def json_line(message: p.MessageRecord) -> str:
    """``{"room", "seq", "nick", "body", "ts"}`` as one line of JSON."""
    record = {
        "room": message.room,
        "seq": message.seq,
        "nick": message.nick,
        "body": message.body,
        "ts": message.ts,
    }
    return msgspec.json.encode(record).decode()


class CursorError(ValueError):
    """The cursor file holds something other than a seq."""


def read_cursor(path: Path) -> int | None:
    """The last seq a previous ``tail`` printed, or None when it has not run yet."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not text:
        return None
    if not text.isdigit():
        raise CursorError(f"{path} does not hold a seq: {text[:40]!r}")
    return int(text)


def write_cursor(path: Path, seq: int) -> None:
    """Record ``seq`` so a restarted ``tail`` starts right after it, even after a power cut."""
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"{seq}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
