"""Edits and deletes on the SQLite writer: one change, its rules and its erasures, inside
the batch's transaction; and ``append_entry``, which every entry written alone takes (runs
of edits and reactions are written in bulk: ``change_runs.py``).

A change is a row of ``messages`` of its own (the room's next seq) and rewrites the rows it
changes: the message (``body``, ``edited``, ``deleted``, ``version``) and its earlier edits,
which always carry the message's current text, so no earlier version survives an edit and
nothing survives a delete.

The search index (FTS5, external content) holds a message's words once the writer has
indexed it (``id <= search_indexed.upto``): a change takes the old words out with FTS5's
'delete' command and the message's old text, and an edit puts the new words in. FTS5 (before
SQLite 3.42's 'secure-delete') only marks words deleted, in a new segment, until its
segments are merged: ``purge`` notes that, and :func:`purge_search` merges them all, soon
after (the store schedules it, spaced out, in small steps: the merge rewrites the whole
index) or when the database opens next (SQLite 3.42's FTS5 'secure-delete' option would
make the merge needless). The writer's connection runs with ``secure_delete``, so the
pages that held the text are zeroed, not just freed.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any, NamedTuple

from chat_server import access
from chat_server.errors import Forbidden, NotFound, NotMember
from chat_server.protocol import now_ts
from chat_server.store.base import (
    DELETE,
    EDIT,
    KINDS,
    NewChange,
    StoredChange,
    age_of,
    stored_entry,
)
from chat_server.store.rooms import MODERATOR_SQL

if TYPE_CHECKING:
    from chat_server.store.sqlite.batch import WriterCache

_BY_KEY = (
    "SELECT r.name, m.seq, m.ts, m.nick, m.kind, m.target, m.body, m.reason"
    " FROM messages m JOIN rooms r ON r.id = m.room_id"
    " WHERE m.client_id = ? AND m.author_id = ?"
)
_FIRST_DELETE = (
    "SELECT r.name, m.seq, m.ts, m.nick, m.kind, m.target, m.body, m.reason, m.client_id"
    " FROM messages m JOIN rooms r ON r.id = m.room_id"
    " WHERE m.room_id = ? AND m.target = ? AND m.kind = 2 ORDER BY m.seq LIMIT 1"
)
_INSERT = (
    "INSERT INTO messages (room_id, seq, author_id, nick, client_id, body, ts, kind, target,"
    " reason, reply_to, thread, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class Entry(NamedTuple):
    """A new entry of a room's log, as ``append_entry`` stored it."""

    room: str
    seq: int
    ts: str
    row_id: int


def by_key(conn: sqlite3.Connection, client_id: str, user_id: int) -> StoredChange | None:
    """The entry the user's idempotency key stands for, if any."""
    row = conn.execute(_BY_KEY, (client_id, user_id)).fetchone()
    return None if row is None else _stored(row, client_id)


def check_member(conn: sqlite3.Connection, user_id: int, room_id: int) -> None:
    if not conn.execute(
        "SELECT 1 FROM memberships WHERE user_id = ? AND room_id = ?", (user_id, room_id)
    ).fetchone():
        raise NotMember("you are not a member of this room")


def note_read(known: WriterCache, user_id: int, room_id: int, seq: int, wrote: bool) -> None:
    """The author's read marker moves to ``seq`` at the batch's next ``flush_marks``."""
    before = known.reads.get((user_id, room_id))
    if before is not None:
        seq, wrote = max(seq, before[0]), wrote or before[1]
    known.reads[(user_id, room_id)] = (seq, wrote)
    known.unflushed = True


def append_entry(
    conn: sqlite3.Connection,
    seqs: dict[int, int],
    known: WriterCache,
    *,
    room_id: int,
    user_id: int,
    nick: str,
    client_id: str,
    kind: int,
    body: str,
    target: int | None = None,
    reason: str | None = None,
    reply_to: int | None = None,
    thread: int | None = None,
) -> Entry:
    """Store an entry at the room's next seq, and move its author's read marker there.

    Every entry but a plain message gets a ``version`` (its own seq): a history page
    reads the details of such rows alone. ``seqs`` and ``known`` learn the room's seq,
    name and the new row; the room's ``last_seq`` and the marker are written once for the
    whole batch (``batch.flush_marks``).
    """
    name = known.names.get(room_id)
    last_seq = seqs.get(room_id)
    if name is None or last_seq is None:
        # the database's last_seq is current for a room this batch has not written yet
        name, stored = conn.execute(
            "SELECT name, last_seq FROM rooms WHERE id = ?", (room_id,)
        ).fetchone()
        last_seq = stored if last_seq is None else last_seq
    seq, ts = last_seq + 1, now_ts()
    cur = conn.execute(
        _INSERT,
        (room_id, seq, user_id, nick, client_id, body, ts, kind, target, reason, reply_to,
         thread, seq),
    )  # fmt: skip
    assert cur.lastrowid is not None
    seqs[room_id] = seq
    note_read(known, user_id, room_id, seq, kind == 0)
    known.names[room_id] = name
    known.last_id = max(known.last_id, cur.lastrowid)
    return Entry(name, seq, ts, cur.lastrowid)


def apply_change(
    conn: sqlite3.Connection, change: NewChange, seqs: dict[int, int], known: WriterCache
) -> StoredChange:
    """Store one edit or delete (or find the entry its key, or a first delete, stands for).

    Raises NotMember, NotFound or Forbidden before it writes anything; ``seqs`` and
    ``known`` learn the room's new seq and the new row only once everything is written.
    """
    found = by_key(conn, change.client_id, change.user_id)
    if found is not None:
        return found
    check_member(conn, change.user_id, change.room_id)
    target = conn.execute(
        "SELECT id, author_id, kind, deleted, body, ts FROM messages WHERE room_id = ? AND seq = ?",
        (change.room_id, change.target),
    ).fetchone()
    author = target is not None and target[1] == change.user_id
    # a server admin, the room's owner and its ops may delete anyone's message: the flag
    # and the role as they are in this transaction
    moderator = (
        change.kind == "delete" and target is not None and not author and _moderates(conn, change)
    )
    refused = access.change_refusal(
        change.kind,
        change.target,
        None if target is None else KINDS[target[2]],
        author=author,
        deleted=target is not None and bool(target[3]),
        moderator=moderator,
        age=0.0 if target is None else age_of(target[5]),
        edit_window=change.edit_window,
    )
    if refused is not None:
        raise (Forbidden if refused.code == "forbidden" else NotFound)(refused.message)
    message_id, author_id, _, deleted, old_body, _ = target
    if deleted:  # a delete of a deleted message: the first delete's seq and ts, this id
        first = conn.execute(_FIRST_DELETE, (change.room_id, change.target)).fetchone()
        return _stored(first[:8], change.client_id)

    edit = change.kind == "edit"
    body = change.body if edit else ""
    entry = append_entry(
        conn, seqs, known, room_id=change.room_id, user_id=change.user_id, nick=change.nick,
        client_id=change.client_id, kind=EDIT if edit else DELETE, body=body,
        target=change.target, reason=change.reason,
    )  # fmt: skip
    indexed = message_id <= known.indexed_upto
    if indexed:
        conn.execute(
            "INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', ?, ?)",
            (message_id, old_body),
        )
    if edit:
        conn.execute(
            "UPDATE messages SET body = ?, edited = ?, version = ? WHERE id = ?",
            (body, entry.ts, entry.seq, message_id),
        )
        if indexed:
            conn.execute("INSERT INTO messages_fts (rowid, body) VALUES (?, ?)", (message_id, body))
    else:
        conn.execute(
            "UPDATE messages SET body = '', deleted = 1, version = ? WHERE id = ?",
            (entry.seq, message_id),
        )
        # its reactions go, and the entries that made them keep no emoji
        conn.execute("DELETE FROM reactions WHERE message_id = ?", (message_id,))
        conn.execute(
            "UPDATE messages SET body = '', deleted = 1 WHERE room_id = ? AND target = ?"
            " AND kind IN (3, 4)",
            (change.room_id, change.target),
        )
    # the message's other edits carry its current text: none once it is deleted
    conn.execute(
        "UPDATE messages SET body = ?, deleted = ? WHERE room_id = ? AND target = ?"
        " AND kind = 1 AND id != ?",
        (body, int(not edit), change.room_id, change.target, entry.row_id),
    )
    if indexed:
        conn.execute("UPDATE search_indexed SET purge = 1")
    known.purge = known.purge or indexed
    whose = None
    if moderator:
        (whose,) = conn.execute("SELECT nick FROM users WHERE id = ?", (author_id,)).fetchone()
    return StoredChange(
        room=entry.room, seq=entry.seq, ts=entry.ts, client_id=change.client_id,
        nick=change.nick, kind=change.kind, target=change.target, body=body,
        reason=change.reason, new=True, moderated=whose,
    )  # fmt: skip


def _moderates(conn: sqlite3.Connection, change: NewChange) -> bool:
    """Whether the change's user may delete anyone's message in its room now: a server
    admin, or the room's owner or an op."""
    row = conn.execute(MODERATOR_SQL, (change.user_id, change.user_id, change.room_id)).fetchone()
    return row is not None and bool(row[0])


def _stored(row: Any, client_id: str) -> StoredChange:
    """The entry (room name, seq, ts, nick, kind, target, body, reason) a key stands for."""
    return stored_entry(*row, client_id=client_id)


def forget_erased_ids(conn: sqlite3.Connection, known: WriterCache) -> None:
    """After rows of ``messages`` were deleted (a prune, a removed room): the search index's
    mark, and the writer's newest id, come down to the highest id left.

    ``messages.id`` is not AUTOINCREMENT: SQLite gives a new row the highest id + 1, so once
    the highest ids are gone it gives them out again. A new message under the mark would
    count as indexed and never be (no search finds it), and an edit, delete or prune of it
    would take out of the index words it never held: FTS5's 'delete' with text the index
    does not hold corrupts it ("database disk image is malformed" from the next merge, then
    from every write).
    """
    (top,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()
    if top < known.indexed_upto:
        conn.execute("UPDATE search_indexed SET upto = ?", (top,))
        known.indexed_upto = top
    known.last_id = min(known.last_id, top)


def purge_search(conn: sqlite3.Connection, known: WriterCache, pages: int | None = None) -> bool:
    """Merge the search index's segments into one, leaving out every word a change took out
    of it; whether the purge is done (the mark cleared). Its cost grows with the whole index.

    With ``pages``, one step: FTS5's incremental 'merge' (negative: every segment at one
    level, as few as two merged) writes about that many pages, and the purge is done when a
    step finds nothing left to merge; the writer takes the steps between its batches, so no
    send waits for more than one. Without, all of it at once ('optimize': when the database
    opens or closes).
    """
    if not known.purge:
        return True
    if pages is not None:
        before = conn.total_changes
        conn.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('merge', ?)", (-pages,))
        if conn.total_changes - before >= 2:  # FTS5's sign that a step merged something
            return False
    else:
        conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')")
    conn.execute("UPDATE search_indexed SET purge = 0")
    known.purge = False
    return True
