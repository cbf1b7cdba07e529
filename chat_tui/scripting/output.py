"""What the scripting commands print: one line per entry, for people or for programs.

Pure formatting plus the ``--cursor`` file. Human lines show untrusted text as the TUI does
(:func:`shown`), so a body can never move the cursor, retitle the terminal or ring its bell,
nor hide or reorder what it says with bidi or zero-width characters.
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


def shown(text: str) -> str:
    """Untrusted ``text`` (a body, a nick, an emoji) for a terminal, by the TUI's own rule:
    no control characters, invisible ones (bidi controls, zero-width characters) as
    ``<U+202E>`` placeholders, at most two combining marks on a character.

    ``render.py`` is imported only here: it loads Rich, which ``--json`` and ``send`` never
    need (and no scripting module imports at its top).
    """
    from chat_tui.tui.render import safe_text

    return safe_text(text).plain


def local_time(ts: str) -> str:
    """A server timestamp (UTC, ``...Z``) in the local time zone, to the second."""
    try:
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return shown(ts)
    return moment.astimezone().strftime(TIME_FORMAT)


Change = p.EditEvent | p.DeleteEvent | p.ReactEvent
Entry = p.MessageRecord | Change

QUOTE_CHARS = 40


def human_line(message: p.MessageRecord, quote: str | None = None) -> str:
    """``2026-11-26 04:00:00  alice: hi``; later lines of the body indented under the first.

    A message as it is now (protocol 2) says ``message deleted``, or ends with ``(edited)``;
    a reply starts with ``↳`` and ``quote`` (its target in a few words), else ``#seq``.
    """
    prefix = f"{local_time(message.ts)}  "
    body = "message deleted" if message.deleted else shown(message.body)
    if message.edited is not None and not message.deleted:
        body += " (edited)"
    if message.reply_to is not None:
        body = f"↳ {quote or f'#{message.reply_to}'}  {body}"
    indent = "\n" + " " * len(prefix)
    lines = body.split("\n")
    return f"{prefix}{shown(message.nick)}: {indent.join(lines)}"


def quote_of(target: p.MessageRecord) -> str:
    """A reply's target in a few words, for the ``↳`` of the reply's line."""
    if target.deleted:
        return f"#{target.seq} (deleted)"
    words = " ".join(shown(target.body).split())
    if len(words) > QUOTE_CHARS:
        words = words[: QUOTE_CHARS - 1] + "…"
    return f"{shown(target.nick)}: {words}"


def reactions_line(message: p.MessageRecord) -> str | None:
    """``👍 2  🎉 1``, indented under the message's body; None without reactions."""
    if not message.reactions:
        return None
    counts = "  ".join(f"{shown(r.emoji)} {r.count or len(r.nicks)}" for r in message.reactions)
    return " " * (len(local_time(message.ts)) + 2) + counts


def change_line(change: Change) -> str:
    """``alice edited #41: new text``, ``alice deleted #41``, ``bob reacted 👍 to #41``."""
    who = f"{local_time(change.ts)}  {shown(change.nick)}"
    if isinstance(change, p.EditEvent):
        indent = "\n" + " " * (len(local_time(change.ts)) + 2)
        text = indent.join(shown(change.body).split("\n"))
        return f"{who} edited #{change.target}: {text}"
    if isinstance(change, p.DeleteEvent):
        reason = f" ({shown(change.reason)})" if change.reason else ""
        return f"{who} deleted #{change.target}{reason}"
    emoji = shown(change.emoji)
    if change.remove:
        return f"{who} took back {emoji} from #{change.target}"
    return f"{who} reacted {emoji} to #{change.target}"


def entry_line(entry: Entry) -> str:
    """One entry of a room's log for people: a message, or a short line for a change."""
    if isinstance(entry, p.MessageRecord):
        return human_line(entry)
    return change_line(entry)


def json_line(entry: Entry) -> str:
    """One entry of a room's log as one line of JSON, ``kind`` first.

    A message: ``{"kind": "message", "room", "seq", "nick", "body", "ts"}``, plus what it has of
    ``reply_to``, ``thread``, ``edited``, ``deleted``, ``replies``, ``reactions``; an edit,
    delete or react: ``room``, ``seq``, ``nick``, ``ts``, ``target`` and ``body`` (edit),
    ``reason`` (delete, when given), ``emoji`` and ``remove`` (react; ``remove`` when true).
    """
    record: dict[str, object]
    if isinstance(entry, p.MessageRecord):
        record = {"kind": "message", "room": entry.room, "seq": entry.seq, "nick": entry.nick}
        record.update(body=entry.body, ts=entry.ts)
        optional: dict[str, object] = {
            "reply_to": entry.reply_to,
            "thread": entry.thread,
            "edited": entry.edited,
            "deleted": entry.deleted or None,
            "replies": entry.replies or None,
            "reactions": [{"emoji": r.emoji, "nicks": r.nicks} for r in entry.reactions] or None,
        }
        record.update((k, v) for k, v in optional.items() if v is not None)
        return msgspec.json.encode(record).decode()
    kind = {p.EditEvent: "edit", p.DeleteEvent: "delete", p.ReactEvent: "react"}[type(entry)]
    record = {"kind": kind, "room": entry.room, "seq": entry.seq, "nick": entry.nick}
    record.update(ts=entry.ts, target=entry.target)
    if isinstance(entry, p.EditEvent):
        record["body"] = entry.body
    elif isinstance(entry, p.DeleteEvent):
        if entry.reason is not None:
            record["reason"] = entry.reason
    else:
        record["emoji"] = entry.emoji
        if entry.remove:
            record["remove"] = True
    return msgspec.json.encode(record).decode()


class CursorError(ValueError):
    """The cursor file holds something other than a seq."""


def read_cursor(path: Path) -> int | None:
    """The last seq a previous ``tail`` printed, or None when it has not run yet.

    A cursor that could not be written after the first line (its directory missing or not
    writable) is a CursorError now, before anything is printed.
    """
    directory = path.parent
    if not directory.is_dir():
        raise CursorError(f"cannot keep a cursor in {path}: {directory} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CursorError(f"cannot keep a cursor in {path}: {directory} is not writable")
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
