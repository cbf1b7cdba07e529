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
from collections.abc import Sequence
from typing import Any

from chat_server.errors import ProtocolError, StoreError
from chat_server.protocol import nick_key, now_ts
from chat_server.store.base import NewMessage, Room, Stored, User

# Rows per lookup statement: two parameters each, well under SQLite's limit of 32766.
_CHUNK = 400


@dataclasses.dataclass(frozen=True, slots=True)
class Sql:
    """A write that is a single statement; the result is the cursor's rowcount."""

    sql: str
    params: tuple[Any, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class CreateUser:
    nick: str
    password_hash: str


@dataclasses.dataclass(frozen=True, slots=True)
class RemoveUser:
    user_id: int


@dataclasses.dataclass(frozen=True, slots=True)
class Join:
    user_ids: tuple[int, ...]
    name: str
    is_dm: bool


@dataclasses.dataclass(frozen=True, slots=True)
class MarkRead:
    user_id: int
    room_id: int
    seq: int


@dataclasses.dataclass(slots=True)
class RoomCache:
    """What the writer knows of rooms between batches: the last seq and the name of each.

    Only the writer changes ``last_seq``, so once read it stays right; room names never
    change. Both are updated only after a commit, so a rolled-back batch leaves no trace.
    """

    last_seq: dict[int, int] = dataclasses.field(default_factory=dict)
    names: dict[int, str] = dataclasses.field(default_factory=dict)


# The idempotency lookup and the membership check: the keys as a VALUES table joined to
# the table's unique index, the keys table first (CROSS JOIN fixes the order). The form
# ``WHERE (a, b) IN (VALUES ...)`` scans the whole table instead.
DUPLICATES_SQL = (
    "WITH k(a, c) AS (VALUES {values})"
    " SELECT m.author_id, m.client_id, r.name, m.seq, m.ts, m.nick, m.body"
    " FROM k CROSS JOIN messages m ON m.author_id = k.a AND m.client_id = k.c"
    " JOIN rooms r ON r.id = m.room_id"
)
MEMBERS_SQL = (
    "WITH k(u, r) AS (VALUES {values})"
    " SELECT m.user_id, m.room_id"
    " FROM k CROSS JOIN memberships m ON m.user_id = k.u AND m.room_id = k.r"
)


def values_sql(template: str, rows: int) -> str:
    """``template`` with its VALUES list holding ``rows`` pairs of placeholders."""
    return template.format(values=",".join(["(?,?)"] * rows))


def apply_batch(conn: sqlite3.Connection, ops: Sequence[Any], rooms: RoomCache) -> list[Any]:
    """Run ``ops`` in one transaction; one result (or exception) per operation.

    Raises StoreError when the transaction as a whole failed (then nothing was written).
    """
    seqs: dict[int, int] = {}
    known: RoomCache = RoomCache()
    results: list[Any] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        i = 0
        while i < len(ops):
            if isinstance(ops[i], NewMessage):
                j = i
                while j < len(ops) and isinstance(ops[j], NewMessage):
                    j += 1
                results.extend(_append_run(conn, ops[i:j], seqs, rooms, known))
                i = j
                continue
            conn.execute("SAVEPOINT op")
            try:
                results.append(_apply_one(conn, ops[i]))
            except (ProtocolError, sqlite3.IntegrityError) as exc:
                conn.execute("ROLLBACK TO op")
                results.append(exc)
            conn.execute("RELEASE op")
            i += 1
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
    rooms.names.update(known.names)
    rooms.last_seq.update(known.last_seq)
    rooms.last_seq.update(seqs)
    return results


def _apply_one(conn: sqlite3.Connection, op: Any) -> Any:
    match op:
        case Sql(sql, params):
            return conn.execute(sql, params).rowcount
        case CreateUser(nick, password_hash):
            cur = conn.execute(
                "INSERT INTO users (nick, nick_key, password_hash, created_at) VALUES (?, ?, ?, ?)",
                (nick, nick_key(nick), password_hash, now_ts()),
            )
            assert cur.lastrowid is not None
            return User(id=cur.lastrowid, nick=nick, password_hash=password_hash)
        case RemoveUser(user_id):
            conn.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM memberships WHERE user_id = ?", (user_id,))
            conn.execute(
                "UPDATE users SET removed_at = ?, password_hash = NULL WHERE id = ?",
                (now_ts(), user_id),
            )
            return None
        case Join(user_ids, name, is_dm):
            conn.execute(
                "INSERT OR IGNORE INTO rooms (name, is_dm, created_at) VALUES (?, ?, ?)",
                (name, int(is_dm), now_ts()),
            )
            row = conn.execute("SELECT id, is_dm FROM rooms WHERE name = ?", (name,)).fetchone()
            assert row is not None
            room = Room(id=row[0], name=name, is_dm=bool(row[1]))
            created = False
            for user_id in user_ids:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO memberships (user_id, room_id, joined_at)"
                    " VALUES (?, ?, ?)",
                    (user_id, room.id, now_ts()),
                )
                created = created or cur.rowcount > 0
            return room, created
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


def _append_run(
    conn: sqlite3.Connection,
    run: Sequence[NewMessage],
    seqs: dict[int, int],
    rooms: RoomCache,
    known: RoomCache,
) -> list[Any]:
    """Store a run of messages: idempotency, membership, seqs, one insert per table.

    ``seqs`` holds this transaction's new last seq per room; ``known`` collects the rooms
    read from the database in it (both reach ``rooms`` after the commit).
    """
    existing: dict[tuple[int, str], Stored] = {}
    keys = [(m.user_id, m.client_id) for m in run]
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        params = [v for key in chunk for v in key]
        for row in conn.execute(values_sql(DUPLICATES_SQL, len(chunk)), params):
            existing[(row[0], row[1])] = Stored(
                room=row[2], seq=row[3], ts=row[4], client_id=row[1], nick=row[5],
                body=row[6], new=False,
            )  # fmt: skip
    member: set[tuple[int, int]] = set()
    pairs = sorted({(m.user_id, m.room_id) for m in run})
    for start in range(0, len(pairs), _CHUNK):
        chunk_pairs = pairs[start : start + _CHUNK]
        params = [v for pair in chunk_pairs for v in pair]
        member.update(conn.execute(values_sql(MEMBERS_SQL, len(chunk_pairs)), params))
    unknown = tuple({m.room_id for m in run} - rooms.names.keys() - known.names.keys())
    if unknown:
        marks = ",".join("?" * len(unknown))
        for room_id, last_seq, name in conn.execute(
            f"SELECT id, last_seq, name FROM rooms WHERE id IN ({marks})", unknown
        ):
            known.last_seq[room_id] = last_seq
            known.names[room_id] = name

    ts = now_ts()
    results: list[Any] = []
    rows: list[tuple[Any, ...]] = []
    reads: dict[tuple[int, int], int] = {}
    for message in run:
        key = (message.user_id, message.client_id)
        found = existing.get(key)
        if found is not None:
            results.append(found)
            continue
        room_id = message.room_id
        if (message.user_id, room_id) not in member:
            results.append(ProtocolError("not_member", "you are not a member of this room"))
            continue
        if room_id in seqs:
            seq = seqs[room_id] + 1
        elif room_id in known.last_seq:
            seq = known.last_seq[room_id] + 1
        else:
            seq = rooms.last_seq.get(room_id, 0) + 1
        seqs[room_id] = seq
        name = known.names.get(room_id) or rooms.names[room_id]
        stored = Stored(
            room=name, seq=seq, ts=ts, client_id=message.client_id, nick=message.nick,
            body=message.body, new=True,
        )  # fmt: skip
        existing[key] = dataclasses.replace(stored, new=False)
        results.append(stored)
        rows.append(
            (room_id, seq, message.user_id, message.nick, message.client_id, message.body, ts)
        )
        reads[(message.user_id, room_id)] = seq
    if rows:
        conn.executemany(
            "INSERT INTO messages (room_id, seq, author_id, nick, client_id, body, ts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "UPDATE rooms SET last_seq = ? WHERE id = ?",
            [(seq, room_id) for room_id, seq in seqs.items()],
        )
        conn.executemany(
            "UPDATE memberships SET read_seq = MAX(read_seq, ?) WHERE user_id = ? AND room_id = ?",
            [(seq, user_id, room_id) for (user_id, room_id), seq in reads.items()],
        )
    return results
