"""Runs of edits and reactions on the SQLite writer: the checks of a whole run in one
statement, its writes in one statement per table, as a run of messages is written.

Alone, a change costs about ten statements and a savepoint (``changes.apply_change``,
``answers.apply_reaction``): its key, its author's membership, its target, the room, the
insert, the rewrites, each a step of its own. A run (the edits and reactions that
``batch_order`` puts between two runs of messages) reads up front everything its changes
are decided on: the entries their keys stand for, their authors' memberships, their
targets, the reactions on those; decides each change in order, in memory, by the same rules
(``access``) and seeing the changes before it in the run, as the single path would; then
writes what the accepted ones make. A refused change writes nothing, takes no seq, and
answers its own error. Should the database still refuse a write (an integrity error), the
run's savepoint is rolled back, nothing of it is left, and the caller applies its changes
one at a time, each with a savepoint of its own. Deletes (they erase; they are rare) and
replies stay on that single path.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from chat_server import access
from chat_server.errors import Forbidden, NotFound, NotMember, OverLimit
from chat_server.protocol import MAX_REACTIONS, now_ts
from chat_server.store.base import (
    EDIT,
    KINDS,
    REACT,
    UNREACT,
    NewChange,
    NewReaction,
    StoredChange,
    age_of,
    reacted,
    stored_entry,
)
from chat_server.store.sqlite.changes import note_read
from chat_server.store.sqlite.values import chunks, each_row

if TYPE_CHECKING:
    from chat_server.store.sqlite.batch import WriterCache

# One row per change (``i``: its place in the run): the entry its key stands for, if any;
# whether its author is a member of the room; its target; and whether the author's
# reaction with its emoji stands. Each join finds its row by a unique index.
CHECK_SQL = (
    "WITH k(i, a, c, r, t, e) AS (VALUES {values})"
    " SELECT k.i, m.id IS NOT NULL, rm.name, m.seq, m.ts, m.nick, m.kind, m.target, m.body,"
    " m.reason, EXISTS (SELECT 1 FROM memberships s WHERE s.user_id = k.a AND s.room_id = k.r),"
    " g.id, g.author_id, g.kind, g.deleted, g.body, g.ts, x.user_id IS NOT NULL"
    " FROM k LEFT JOIN messages m ON m.client_id = k.c AND m.author_id = k.a"
    " LEFT JOIN rooms rm ON rm.id = m.room_id"
    " LEFT JOIN messages g ON g.room_id = k.r AND g.seq = k.t"
    " LEFT JOIN reactions x ON x.message_id = g.id AND x.emoji = k.e AND x.user_id = k.a"
)
# The emoji on the messages the run's reactions target: how many people use each, and
# since when (the seq of its first use, which orders a message's reactions).
EMOJI_SQL = (
    "WITH v(i) AS (VALUES {values})"
    " SELECT x.message_id, x.emoji, COUNT(*), MIN(x.since) FROM v"
    " JOIN reactions x ON x.message_id = v.i GROUP BY x.message_id, x.emoji"
)
ENTRY_SQL = (
    "INSERT INTO messages (room_id, seq, author_id, nick, client_id, body, ts, kind, target,"
    " reason, version) VALUES {values}"
)
# The changed messages: an edit's text and time (NULL: unchanged), and the version.
TARGET_SQL = (
    "WITH v(i, b, e, n) AS (VALUES {values})"
    " UPDATE messages SET body = COALESCE(v.b, messages.body),"
    " edited = COALESCE(v.e, messages.edited), version = v.n FROM v WHERE messages.id = v.i"
)
# A message's earlier edits carry its current text (``changes.py``).
EDITS_SQL = (
    "WITH v(r, t, b) AS (VALUES {values})"
    " UPDATE messages SET body = v.b FROM v WHERE messages.room_id = v.r"
    " AND messages.target = v.t AND messages.kind = 1 AND messages.body != v.b"
)
SEARCH_OUT_SQL = "INSERT INTO messages_fts (messages_fts, rowid, body) VALUES {values}"
SEARCH_IN_SQL = "INSERT INTO messages_fts (rowid, body) VALUES {values}"
REACTIONS_SQL = (
    "INSERT INTO reactions (message_id, emoji, user_id, nick, seq, since) VALUES {values}"
)
UNREACT_SQL = "DELETE FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?"


def in_change_run(op: Any) -> bool:
    """An edit or a reaction: the writer stores runs of them in bulk."""
    return isinstance(op, NewReaction) or (isinstance(op, NewChange) and op.kind == "edit")


@dataclasses.dataclass(slots=True)
class _Target:
    """An entry of the room as the run changes it (``id`` None: an entry of the run)."""

    id: int | None
    author_id: int
    kind: int
    deleted: bool
    body: str
    ts: str
    indexed: str  # the text the search index holds for it, when it holds it
    edited: str | None = None  # the ts of the run's last edit of it
    version: int | None = None  # the seq of the run's last change to it


@dataclasses.dataclass(slots=True)
class _Run:
    """What a run read (its targets, the reactions on them) as its changes change it, and
    the rows they make, to write."""

    seqs: dict[int, int]  # the batch's (``batch.apply_batch``)
    cache: WriterCache
    known: WriterCache
    ts: str
    targets: dict[tuple[int, int], _Target] = dataclasses.field(default_factory=dict)
    # the reactions standing, (message, emoji, user), of those the run's reactions name
    standing: set[tuple[int, str, int]] = dataclasses.field(default_factory=set)
    emoji: dict[int, dict[str, list[int]]] = dataclasses.field(default_factory=dict)
    taken: dict[int, int] = dataclasses.field(default_factory=dict)  # room -> last seq
    entries: list[list[Any]] = dataclasses.field(default_factory=list)
    edits: list[tuple[list[Any], _Target]] = dataclasses.field(default_factory=list)
    changed: dict[int, _Target] = dataclasses.field(default_factory=dict)  # by message id
    # the reactions the run touched, (message, emoji, user) -> (nick, seq, since), or None
    # when taken back, and those of them that stood before it
    touched: dict[tuple[int, str, int], tuple[str, int, int] | None] = dataclasses.field(
        default_factory=dict
    )
    stood: set[tuple[int, str, int]] = dataclasses.field(default_factory=set)

    def last_seq(self, room_id: int) -> int:
        """The room's last seq in this transaction, the run's own entries included."""
        if room_id in self.taken:
            return self.taken[room_id]
        return self.known.next_seq(room_id, self.seqs, self.cache) - 1

    def name(self, room_id: int) -> str:
        return self.known.names.get(room_id) or self.cache.names[room_id]


def apply_change_run(
    conn: sqlite3.Connection,
    run: Sequence[NewChange | NewReaction],
    seqs: dict[int, int],
    cache: WriterCache,
    known: WriterCache,
) -> list[Any] | None:
    """Store a run of edits and reactions: one result (or refusal) per change, in order.

    None when the database refused one of the run's writes: then nothing of the run is
    written and ``seqs`` and ``known`` are as they were, for the caller to apply the
    changes one at a time. ``seqs`` and ``known`` as for ``batch._append_run``.
    """
    state = _Run(seqs, cache, known, now_ts())
    checks = _read(conn, run, state)
    # this run's new entries by key, with their targets: the same key again answers the
    # entry as it is stored (an edit's body: its message's text at that point)
    stored_here: dict[tuple[int, str], tuple[StoredChange, _Target]] = {}
    results: list[Any] = []
    for op, row in zip(run, checks, strict=True):
        key = (op.user_id, op.client_id)
        if key in stored_here:
            first, of = stored_here[key]
            body = of.body if first.kind == "edit" else first.body
            results.append(msgspec.structs.replace(first, new=False, body=body))
            continue
        if row[1]:  # the key stands for an entry stored before
            results.append(stored_entry(*row[2:10], client_id=op.client_id))
            continue
        if not row[10]:
            results.append(NotMember("you are not a member of this room"))
            continue
        target = state.targets.get((op.room_id, op.target))
        if isinstance(op, NewChange):
            result = _edit(state, op, target)
        else:
            result = _react(state, op, target)
        if isinstance(result, StoredChange) and result.new:
            assert target is not None
            stored_here[key] = (result, target)
            state.targets[(op.room_id, result.seq)] = _Target(
                None, op.user_id, EDIT if isinstance(op, NewChange) else REACT, False, "", "", ""
            )
        results.append(result)

    conn.execute("SAVEPOINT run")
    try:
        last_id, purge = _write(conn, state, known.indexed_upto)
    except sqlite3.IntegrityError:
        conn.execute("ROLLBACK TO run")
        conn.execute("RELEASE run")
        return None
    conn.execute("RELEASE run")
    seqs.update(state.taken)
    for entry in state.entries:
        note_read(known, entry[2], entry[0], entry[1], False)
    known.last_id = max(known.last_id, last_id)
    known.purge = known.purge or purge
    return results


def _read(
    conn: sqlite3.Connection, run: Sequence[NewChange | NewReaction], state: _Run
) -> list[Any]:
    """Everything the run's changes are decided on, in three statements at most: one
    ``CHECK_SQL`` row per change (in ``state``: their targets and the reactions of theirs
    that stand), the rooms' names and seqs, the emoji on the messages reactions target."""
    checks: list[Any] = [None] * len(run)
    keys = [
        (i, op.user_id, op.client_id, op.room_id, op.target,
         op.emoji if isinstance(op, NewReaction) else None)
        for i, op in enumerate(run)
    ]  # fmt: skip
    for row in each_row(conn, CHECK_SQL, keys):
        checks[row[0]] = row
    state.known.learn_rooms(conn, {op.room_id for op in run}, state.seqs, state.cache)
    for op, row in zip(run, checks, strict=True):
        if row[11] is None:
            continue
        if (op.room_id, op.target) not in state.targets:
            body = row[15]
            state.targets[(op.room_id, op.target)] = _Target(
                row[11], row[12], row[13], bool(row[14]), body, row[16], body
            )
        if isinstance(op, NewReaction):
            state.emoji[row[11]] = {}
            if row[17]:
                state.standing.add((row[11], op.emoji, op.user_id))
    if state.emoji:
        ids = [(i,) for i in state.emoji]
        for message_id, emoji, people, since in each_row(conn, EMOJI_SQL, ids):
            state.emoji[message_id][emoji] = [people, since]
    return checks


def _entry(
    state: _Run, op: NewChange | NewReaction, seq: int, kind: int, body: str, target: _Target
) -> list[Any]:
    """Note a new entry at ``seq`` and its change to ``target``."""
    state.taken[op.room_id] = seq
    reason = op.reason if isinstance(op, NewChange) else None
    entry = [op.room_id, seq, op.user_id, op.nick, op.client_id, body, state.ts, kind,
             op.target, reason, seq]  # fmt: skip
    state.entries.append(entry)
    target.version = seq
    assert target.id is not None
    state.changed[target.id] = target
    return entry


def _edit(state: _Run, op: NewChange, target: _Target | None) -> StoredChange | Exception:
    """An edit, as ``changes.apply_change`` decides it."""
    refused = access.change_refusal(
        "edit",
        op.target,
        None if target is None else KINDS[target.kind],
        author=target is not None and target.author_id == op.user_id,
        deleted=target is not None and target.deleted,
        age=0.0 if target is None or op.edit_window is None else age_of(target.ts),
        edit_window=op.edit_window,
    )
    if refused is not None:
        return (Forbidden if refused.code == "forbidden" else NotFound)(refused.message)
    assert target is not None
    seq = state.last_seq(op.room_id) + 1
    entry = _entry(state, op, seq, EDIT, op.body, target)
    state.edits.append((entry, target))
    target.body, target.edited = op.body, state.ts
    return StoredChange(
        room=state.name(op.room_id), seq=seq, ts=state.ts, client_id=op.client_id,
        nick=op.nick, kind="edit", target=op.target, body=op.body, reason=op.reason, new=True,
    )  # fmt: skip


def _react(state: _Run, op: NewReaction, target: _Target | None) -> StoredChange | Exception:
    """A reaction or its removal, as ``answers.apply_reaction`` decides it."""
    refused = access.answer_refusal(
        op.target,
        None if target is None else KINDS[target.kind],
        deleted=target is not None and target.deleted,
    )
    if refused is not None:
        return NotFound(refused.message)
    assert target is not None and target.id is not None
    name = state.name(op.room_id)
    mine = (target.id, op.emoji, op.user_id)
    if (mine in state.standing) != op.remove:  # nothing to change: acked, nothing stored
        return reacted(op, name, state.last_seq(op.room_id), state.ts, new=False)
    used = state.emoji[target.id]
    if not op.remove:
        live = {e for e, (people, _) in used.items() if people > 0}
        if len(live) >= MAX_REACTIONS and op.emoji not in live:
            return OverLimit(f"a message holds at most {MAX_REACTIONS} different reactions")
    seq = state.last_seq(op.room_id) + 1
    _entry(state, op, seq, UNREACT if op.remove else REACT, op.emoji, target)
    if mine not in state.touched and mine in state.standing:
        state.stood.add(mine)
    count = used.setdefault(op.emoji, [0, seq])
    if op.remove:
        state.standing.discard(mine)
        count[0] -= 1
        state.touched[mine] = None
    else:
        state.standing.add(mine)
        if count[0] <= 0:  # a first use again: the emoji moves last
            count[1] = seq
        count[0] += 1
        state.touched[mine] = (op.nick, seq, count[1])
    return reacted(op, name, seq, state.ts, new=True)


def _write(conn: sqlite3.Connection, state: _Run, indexed_upto: int) -> tuple[int, bool]:
    """Write what the run decided: the id of the last entry inserted (0: none), and
    whether the search index lost words (a purge is due)."""
    if not state.entries:
        return 0, False
    for entry, target in state.edits:  # every edit of a message carries its current text
        entry[5] = target.body
    last_id = 0
    for cursor in chunks(conn, ENTRY_SQL, [tuple(entry) for entry in state.entries]):
        assert cursor.lastrowid is not None
        last_id = cursor.lastrowid
    changed = [
        (i, t.body if t.edited else None, t.edited, t.version) for i, t in state.changed.items()
    ]
    list(chunks(conn, TARGET_SQL, changed))
    texts = {(e[0], e[8]): e[5] for e, _ in state.edits}
    if texts:
        list(chunks(conn, EDITS_SQL, [(*where, body) for where, body in texts.items()]))
    indexed = [(i, t) for i, t in state.changed.items() if t.edited and i <= indexed_upto]
    if indexed:
        list(chunks(conn, SEARCH_OUT_SQL, [("delete", i, t.indexed) for i, t in indexed]))
        list(chunks(conn, SEARCH_IN_SQL, [(i, t.body) for i, t in indexed]))
        conn.execute("UPDATE search_indexed SET purge = 1")
    if state.stood:
        conn.executemany(UNREACT_SQL, list(state.stood))
    added = [(*mine, *now) for mine, now in state.touched.items() if now is not None]
    if added:
        list(chunks(conn, REACTIONS_SQL, added))
    return last_id, bool(indexed)
