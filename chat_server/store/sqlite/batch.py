"""The SQLite writer's transactions: one group-commit batch applied in one call.

Everything here is plain ``sqlite3`` and runs on the writer's own thread, so a batch
costs one hop from the event loop to that thread and back, whatever it holds (one
``await`` per statement would cost a hop each). The caller owns the connection and the
thread; nothing here touches the event loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec

from chat_server.errors import (
    Conflict,
    Forbidden,
    Inapplicable,
    NotFound,
    NotMember,
    OverLimit,
    StoreError,
)
from chat_server.protocol import nick_key, now_ts
from chat_server.store.base import (
    CREATION_WINDOW,
    NewChange,
    NewMessage,
    NewReaction,
    Room,
    RoomQuota,
    Stored,
    User,
    invite_refused,
    is_plain,
    too_many_blocks,
)
from chat_server.store.rooms import CreateRoom, LeaveRoom, RoomCommand
from chat_server.store.sqlite.answers import apply_reaction, apply_reply
from chat_server.store.sqlite.change_runs import apply_change_run, in_change_run
from chat_server.store.sqlite.changes import apply_change, note_read, purge_search
from chat_server.store.sqlite.prune import Prune, SweepDone, prune, sweep_done
from chat_server.store.sqlite.room_admin import RemoveRoom, remove_room
from chat_server.store.sqlite.rooms import (
    admit,
    apply_command,
    create_room,
    depart,
    remove_owner,
)
from chat_server.store.sqlite.values import chunks, each_row


@dataclasses.dataclass(frozen=True, slots=True)
class Sql:
    """A write that is a single statement; the result is the cursor's rowcount."""

    sql: str
    params: tuple[Any, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class CreateUser:
    """A new account; with ``invite`` (a code's hash), one use of it taken and its rooms
    joined, or ``invite_refused`` and nothing written."""

    nick: str
    password_hash: str
    invite: bytes | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RemoveUser:
    user_id: int


@dataclasses.dataclass(frozen=True, slots=True)
class Join:
    user_ids: tuple[int, ...]
    name: str
    is_dm: bool
    quota: RoomQuota | None = None  # checked for the first user (the one joining)
    create: bool = True  # False: a missing room is NotFound


@dataclasses.dataclass(frozen=True, slots=True)
class Block:
    """A block, refused (OverLimit) when it would be one past ``max_blocks`` of the user's."""

    user_id: int
    blocked_id: int
    max_blocks: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class MarkRead:
    user_id: int
    room_id: int
    seq: int


@dataclasses.dataclass(frozen=True, slots=True)
class IndexSearch:
    """Add to the search index the messages it lacks (those after ``search_indexed``): up
    to the id ``upto`` (the writer's own passes leave the newest out), or all of them."""

    upto: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class PurgeSearch:
    """Merge the search index, so that the words changes took out leave its segments: all
    at once, or one step of about ``pages`` pages (``changes.purge_search``)."""

    pages: int | None = None


@dataclasses.dataclass(slots=True)
class WriterCache:
    """What the writer knows between batches: each room's last seq and name, the newest
    message id, and how far the search index reaches.

    Only the writer changes these, so once read they stay right; room names never change.
    All are updated only after a commit, so a rolled-back batch leaves no trace.
    """

    last_seq: dict[int, int] = dataclasses.field(default_factory=dict)
    names: dict[int, str] = dataclasses.field(default_factory=dict)
    last_id: int = 0
    indexed_upto: int = 0
    purge: bool = False  # the search index holds words a change took out (changes.py)
    # A batch's own copy only: the read markers its entries move, (user, room) -> (seq,
    # wrote), and whether they and the batch's seqs still wait to be written
    # (``flush_marks``, once for all the batch's entries, not once per entry).
    reads: dict[tuple[int, int], tuple[int, bool]] = dataclasses.field(default_factory=dict)
    unflushed: bool = False

    @property
    def unindexed(self) -> int:
        """Messages committed but not yet in the search index (an id is given again only
        once every higher one is erased, and the mark comes down then: ``forget_erased_ids``)."""
        return self.last_id - self.indexed_upto

    def load(self, conn: sqlite3.Connection) -> None:
        """Read the newest message id and the search index's mark from the database."""
        self.last_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0]
        self.indexed_upto, purge = conn.execute("SELECT upto, purge FROM search_indexed").fetchone()
        self.purge = bool(purge)

    def learn_rooms(
        self,
        conn: sqlite3.Connection,
        room_ids: Iterable[int],
        seqs: dict[int, int],
        cache: WriterCache,
    ) -> None:
        """Read the name and last seq of each room whose name or seq neither ``cache``
        nor this batch knows yet (``self``: the batch's own copy; ``seqs``: the last seq
        it took in each room)."""
        unknown = tuple(
            room_id
            for room_id in room_ids
            if not (room_id in cache.names or room_id in self.names)
            or not (room_id in seqs or room_id in self.last_seq or room_id in cache.last_seq)
        )
        if unknown:
            marks = ",".join("?" * len(unknown))
            for room_id, last_seq, name in conn.execute(
                f"SELECT id, last_seq, name FROM rooms WHERE id IN ({marks})", unknown
            ):
                self.last_seq[room_id] = last_seq
                self.names[room_id] = name

    def next_seq(self, room_id: int, seqs: dict[int, int], cache: WriterCache) -> int:
        """The room's next seq in this batch (``seqs``: the last seq it took in each room)."""
        if room_id in seqs:
            return seqs[room_id] + 1
        if room_id in self.last_seq:
            return self.last_seq[room_id] + 1
        return cache.last_seq.get(room_id, 0) + 1


# Every statement of a run of messages takes all its rows at once, as a VALUES table: one
# step each, so the writer thread leaves and retakes the GIL a few times per batch instead
# of once per row (while the event loop runs Python, each retake can wait out the switch
# interval, and costs a context switch). One lookup finds both what a run must not store:
# keys already stored (the message they stand for) and senders who are not members of the
# room; it joins the keys table to the unique indexes, keys first (a LEFT JOIN keeps that
# order); the form ``WHERE (a, b) IN (VALUES ...)`` scans the whole table.
CHECK_SQL = (
    "WITH k(a, c, r) AS (VALUES {values})"
    " SELECT k.a, k.c, k.r, m.id IS NOT NULL, rm.name, m.seq, m.ts, m.nick, m.body"
    " FROM k LEFT JOIN messages m ON m.client_id = k.c AND m.author_id = k.a"
    " LEFT JOIN rooms rm ON rm.id = m.room_id"
    " WHERE m.id IS NOT NULL OR NOT EXISTS"
    " (SELECT 1 FROM memberships s WHERE s.user_id = k.a AND s.room_id = k.r)"
)
SEARCH_SQL = (
    "INSERT INTO messages_fts (rowid, body) SELECT id, body FROM messages WHERE id > ? AND id <= ?"
    " AND kind = 0 AND deleted = 0"
)
INSERT_SQL = (
    "INSERT INTO messages (room_id, seq, author_id, nick, client_id, body, ts) VALUES {values}"
)
LAST_SEQ_SQL = (
    "WITH v(id, seq) AS (VALUES {values})"
    " UPDATE rooms SET last_seq = v.seq FROM v WHERE rooms.id = v.id"
)
# A sender's marker moves to their entry, and their membership notes whether they wrote a
# message (``wrote``: their presence shows in a direct conversation from then on).
READ_SEQ_SQL = (
    "WITH v(u, r, seq, w) AS (VALUES {values})"
    " UPDATE memberships SET read_seq = MAX(read_seq, v.seq), wrote = wrote OR v.w FROM v"
    " WHERE memberships.user_id = v.u AND memberships.room_id = v.r"
)


def flush_marks(conn: sqlite3.Connection, seqs: dict[int, int], known: WriterCache) -> None:
    """Write the rooms' last seqs and the authors' read markers the batch moved so far."""
    if not known.unflushed:
        return
    list(chunks(conn, LAST_SEQ_SQL, list(seqs.items())))
    marks = [(u, r, seq, int(wrote)) for (u, r), (seq, wrote) in known.reads.items()]
    list(chunks(conn, READ_SEQ_SQL, marks))
    known.reads.clear()
    known.unflushed = False


def apply_batch(conn: sqlite3.Connection, ops: Sequence[Any], cache: WriterCache) -> list[Any]:
    """Run ``ops`` in one transaction; one result (or exception) per operation.

    Raises StoreError when the transaction as a whole failed (then nothing was written).
    """
    seqs: dict[int, int] = {}
    known = WriterCache(last_id=cache.last_id, indexed_upto=cache.indexed_upto, purge=cache.purge)
    results: list[Any] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        i = 0
        while i < len(ops):
            op = ops[i]
            bulk = is_plain if is_plain(op) else in_change_run if in_change_run(op) else None
            if bulk is not None:
                j = i + 1
                while j < len(ops) and bulk(ops[j]):
                    j += 1
                if bulk is is_plain:
                    results.extend(_append_run(conn, ops[i:j], seqs, cache, known))
                else:
                    done = apply_change_run(conn, ops[i:j], seqs, cache, known)
                    if done is None:  # the database refused a write: each change alone
                        done = [_apply_alone(conn, change, seqs, known) for change in ops[i:j]]
                    results.extend(done)
                i = j
                continue
            if not isinstance(op, NewChange | NewReaction | NewMessage):
                flush_marks(conn, seqs, known)  # it may read them (a join: the last seq)
            results.append(_apply_alone(conn, op, seqs, known))
            i += 1
        flush_marks(conn, seqs, known)
        conn.execute("COMMIT")
    except BaseException as exc:
        # Whatever went wrong, the writer connection must leave the transaction, or
        # every later batch fails.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"database write failed: {exc}") from exc
        raise
    cache.names.update(known.names)
    cache.last_seq.update(known.last_seq)
    cache.last_seq.update(seqs)
    cache.last_id = known.last_id
    cache.indexed_upto = known.indexed_upto
    cache.purge = known.purge
    return results


def _apply_alone(
    conn: sqlite3.Connection, op: Any, seqs: dict[int, int], known: WriterCache
) -> Any:
    """Apply one write in a savepoint of its own: refused (its exception is the result),
    it leaves no trace, and the seqs and marks it took are not taken after all."""
    marks = (dict(seqs), dict(known.reads), known.unflushed)
    conn.execute("SAVEPOINT op")
    try:
        result = _apply_one(conn, op, seqs, known)
    except (
        NotMember, NotFound, Forbidden, OverLimit, Conflict, Inapplicable, sqlite3.IntegrityError,
    ) as exc:  # fmt: skip
        conn.execute("ROLLBACK TO op")
        seqs.clear()
        seqs.update(marks[0])
        known.reads, known.unflushed = marks[1], marks[2]
        result = Conflict(str(exc)) if isinstance(exc, sqlite3.IntegrityError) else exc
    conn.execute("RELEASE op")
    return result


def index_search(conn: sqlite3.Connection, known: WriterCache, upto: int | None = None) -> int:
    """Add the messages after the search index's mark (up to the id ``upto``, or all) to
    it, in one statement.

    A trigger would add each message in its own commit, and every commit then writes the
    index's new segment and merges; in bulk the cost per message is a fraction of that.
    Returns how many messages were added.
    """
    mark = known.indexed_upto
    top = known.last_id if upto is None else min(upto, known.last_id)
    if top <= mark:
        return 0
    conn.execute(SEARCH_SQL, (mark, top))
    conn.execute("UPDATE search_indexed SET upto = ?", (top,))
    known.indexed_upto = top
    return top - mark


def _apply_one(conn: sqlite3.Connection, op: Any, seqs: dict[int, int], known: WriterCache) -> Any:
    match op:
        case NewChange():
            return apply_change(conn, op, seqs, known)
        case NewReaction():
            return apply_reaction(conn, op, seqs, known)
        case NewMessage():
            return apply_reply(conn, op, seqs, known)
        case RoomCommand():
            return apply_command(conn, op, seqs, known)
        case CreateRoom(user_id=user_id, quota=quota):
            if quota is not None:
                check_quota(conn, user_id, None, quota)
            return create_room(conn, op, seqs, known)
        case LeaveRoom(user_id, room_id):
            return depart(conn, user_id, room_id, seqs, known)
        case IndexSearch(upto):
            return index_search(conn, known, upto)
        case RemoveRoom(name):
            return remove_room(conn, name, known)
        case Prune():
            return prune(conn, op, known)
        case SweepDone():
            return sweep_done(conn, known)
        case PurgeSearch(pages):
            return purge_search(conn, known, pages)
        case Sql(sql, params):
            return conn.execute(sql, params).rowcount
        case CreateUser(nick, password_hash, invite):
            rooms = take_invite(conn, invite) if invite is not None else []
            cur = conn.execute(
                "INSERT INTO users (nick, nick_key, password_hash, created_at) VALUES (?, ?, ?, ?)",
                (nick, nick_key(nick), password_hash, now_ts()),
            )
            assert cur.lastrowid is not None
            for name in rooms:  # a room the code names that is missing: this account owns it
                made = conn.execute(
                    "INSERT OR IGNORE INTO rooms (name, created_at, created_by) VALUES (?, ?, ?)",
                    (name, now_ts(), cur.lastrowid),
                ).rowcount
                conn.execute(
                    "INSERT OR IGNORE INTO memberships (user_id, room_id, joined_at, role)"
                    " SELECT ?, id, ?, ? FROM rooms WHERE name = ?",
                    (cur.lastrowid, now_ts(), "owner" if made else "member", name),
                )
            return User(id=cur.lastrowid, nick=nick, password_hash=password_hash)
        case RemoveUser(user_id):
            remove_owner(conn, seqs, known, user_id)  # (rooms it owned go on to others)
            conn.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM memberships WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM blocks WHERE user_id = ? OR blocked_id = ?", (user_id,) * 2)
            conn.execute("DELETE FROM room_invites WHERE user_id = ?", (user_id,))
            conn.execute(
                "UPDATE users SET removed_at = ?, password_hash = NULL WHERE id = ?",
                (now_ts(), user_id),
            )
            return None
        case Join(user_ids, name, is_dm, quota, create):
            created_at = now_ts()
            row = conn.execute(
                "SELECT id, is_dm, private FROM rooms WHERE name = ?", (name,)
            ).fetchone()
            if row is not None:  # banned, or a private room's stranger: refused
                admit(conn, user_ids[0], row[0], bool(row[1]), bool(row[2]))
            if quota is not None:
                check_quota(conn, user_ids[0], None if row is None else row[0], quota)
            role = "member"
            if row is None:
                if not create:
                    raise NotFound(f"no room {name}")
                cur = conn.execute(
                    "INSERT INTO rooms (name, is_dm, created_at, created_by) VALUES (?, ?, ?, ?)",
                    (name, int(is_dm), created_at, None if is_dm else user_ids[0]),
                )
                row = (cur.lastrowid, int(is_dm), 0)
                role = "member" if is_dm else "owner"  # its creator owns a room
            room = Room(id=row[0], name=name, is_dm=bool(row[1]), private=bool(row[2]))
            created = False
            for user_id in user_ids:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO memberships (user_id, room_id, joined_at, role)"
                    " VALUES (?, ?, ?, ?)",
                    (user_id, room.id, now_ts(), role),
                )
                created = created or cur.rowcount > 0
            return room, created
        case Block(user_id, blocked_id, max_blocks):
            pair = (user_id, blocked_id)
            if conn.execute(
                "SELECT 1 FROM blocks WHERE user_id = ? AND blocked_id = ?", pair
            ).fetchone():
                return False
            if max_blocks is not None:
                count = conn.execute("SELECT COUNT(*) FROM blocks WHERE user_id = ?", (user_id,))
                if count.fetchone()[0] >= max_blocks:
                    raise too_many_blocks(max_blocks)
            conn.execute(
                "INSERT INTO blocks (user_id, blocked_id, created_at) VALUES (?, ?, ?)",
                (*pair, now_ts()),
            )
            return True
        case MarkRead(user_id, room_id, seq):
            cur = conn.execute(
                "UPDATE memberships SET read_seq ="
                " MIN(?, (SELECT last_seq FROM rooms WHERE id = ?))"
                " WHERE user_id = ? AND room_id = ?"
                " AND read_seq < MIN(?, (SELECT last_seq FROM rooms WHERE id = ?))",
                (seq, room_id, user_id, room_id, seq, room_id),
            )
            if cur.rowcount == 0:
                return None
            row = conn.execute(
                "SELECT read_seq FROM memberships WHERE user_id = ? AND room_id = ?",
                (user_id, room_id),
            ).fetchone()
            return int(row[0]) if row else None
    raise TypeError(f"unknown write {op!r}")


def take_invite(conn: sqlite3.Connection, code_hash: bytes) -> list[str]:
    """Take one use of the invite code; its rooms. ``invite_refused`` when it has none left,
    has expired or is unknown."""
    row = conn.execute(
        "UPDATE invites SET used = used + 1 WHERE hash = ? AND used < uses"
        " AND (expires_at IS NULL OR expires_at > ?) RETURNING rooms",
        (code_hash, time.time()),
    ).fetchone()
    if row is None:
        raise invite_refused()
    return str(row[0]).split()


def check_quota(
    conn: sqlite3.Connection, user_id: int, room_id: int | None, quota: RoomQuota
) -> None:
    """Raise OverLimit when the user joining the room (``room_id`` None: a new one) would
    pass ``quota``; a room the user is in already passes."""
    if (
        room_id is not None
        and conn.execute(
            "SELECT 1 FROM memberships WHERE user_id = ? AND room_id = ?", (user_id, room_id)
        ).fetchone()
    ):
        return
    count = conn.execute("SELECT COUNT(*) FROM memberships WHERE user_id = ?", (user_id,))
    if count.fetchone()[0] >= quota.max_rooms:
        raise quota.full()
    if room_id is not None:
        return
    # the oldest of the user's last ``created_per_hour`` rooms: in the window, it is one too many
    row = conn.execute(
        "SELECT created_at FROM rooms WHERE created_by = ?"
        " ORDER BY created_at DESC LIMIT 1 OFFSET ?",
        (user_id, quota.created_per_hour - 1),
    ).fetchone()
    if row is not None:
        wait = datetime.fromisoformat(row[0]).timestamp() + CREATION_WINDOW - time.time()
        if wait > 0:
            raise quota.too_fast(wait)


def _append_run(
    conn: sqlite3.Connection,
    run: Sequence[NewMessage],
    seqs: dict[int, int],
    cache: WriterCache,
    known: WriterCache,
) -> list[Any]:
    """Store a run of messages: idempotency, membership, seqs, one insert per table.

    ``seqs`` holds this transaction's new last seq per room; ``known`` collects the rooms
    read from the database in it and the newest message id (all reach ``cache`` after the
    commit).
    """
    existing: dict[tuple[int, str], Stored] = {}
    outsiders: set[tuple[int, int]] = set()
    keys = list(dict.fromkeys((m.user_id, m.client_id, m.room_id) for m in run))
    for author, key, room_id, stored, *found in each_row(conn, CHECK_SQL, keys):
        if stored:
            name, seq, ts, nick, body = found
            existing[(author, key)] = Stored(
                room=name, seq=seq, ts=ts, client_id=key, nick=nick, body=body, new=False
            )
        else:
            outsiders.add((author, room_id))
    known.learn_rooms(conn, {m.room_id for m in run}, seqs, cache)

    ts = now_ts()
    results: list[Any] = []
    rows: list[tuple[Any, ...]] = []
    stored_here: dict[tuple[int, str], Stored] = {}  # this run's new messages, by key
    for message in run:
        key = (message.user_id, message.client_id)
        found = existing.get(key)
        if found is None and key in stored_here:  # the same send twice in one run
            found = existing[key] = msgspec.structs.replace(stored_here[key], new=False)
        if found is not None:
            results.append(found)
            continue
        room_id = message.room_id
        if (message.user_id, room_id) in outsiders:
            results.append(NotMember("you are not a member of this room"))
            continue
        seq = seqs[room_id] = known.next_seq(room_id, seqs, cache)
        name = known.names.get(room_id) or cache.names[room_id]
        stored = Stored(
            room=name, seq=seq, ts=ts, client_id=message.client_id, nick=message.nick,
            body=message.body, new=True,
        )  # fmt: skip
        stored_here[key] = stored
        results.append(stored)
        rows.append(
            (room_id, seq, message.user_id, message.nick, message.client_id, message.body, ts)
        )
        note_read(known, message.user_id, room_id, seq, True)
    if rows:
        for cursor in chunks(conn, INSERT_SQL, rows):
            assert cursor.lastrowid is not None
            known.last_id = cursor.lastrowid
    return results
