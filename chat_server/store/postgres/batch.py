"""A batch of messages in one PostgreSQL transaction, under the rooms' row locks.

Several nodes write at once, so nothing about a room is cached between batches: the batch
first locks the counter rows of its rooms (``SELECT ... FOR UPDATE`` in id order, so two
nodes never deadlock on them) and takes the rooms' next seqs from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from chat_server.errors import NotMember
from chat_server.protocol import now_ts
from chat_server.store.base import NewMessage, Stored
from chat_server.store.postgres.schema import Conn


async def append_run(conn: Conn, run: Sequence[NewMessage]) -> list[Any]:
    """Idempotency, membership and seqs for a run of messages, under the rooms' row locks."""
    room_ids = sorted({m.room_id for m in run})
    rooms = {
        row[0]: (row[1], int(row[2]))
        for row in await conn.fetch(
            "SELECT id, name, last_seq FROM rooms WHERE id = ANY($1::bigint[])"
            " ORDER BY id FOR UPDATE",
            room_ids,
        )
    }
    # Read after the locks: whatever another node committed for these rooms is visible.
    # One index lookup per key whatever plan PostgreSQL caches for the statement: as a
    # plain join, the generic plan made while the table was small hashes all of it, a
    # sequential scan per batch until an ANALYZE replans it (OFFSET 0 keeps the lookup a
    # subquery of its own, run per key).
    existing: dict[tuple[int, str], Stored] = {}
    for row in await conn.fetch(
        "SELECT m.author_id, m.client_id, r.name, m.seq, m.ts, m.nick, m.body"
        " FROM unnest($1::bigint[], $2::text[]) AS k(author_id, client_id)"
        " CROSS JOIN LATERAL (SELECT * FROM messages WHERE author_id = k.author_id"
        " AND client_id = k.client_id OFFSET 0) AS m JOIN rooms r ON r.id = m.room_id",
        [m.user_id for m in run],
        [m.client_id for m in run],
    ):
        existing[(row[0], row[1])] = Stored(
            room=row[2], seq=row[3], ts=row[4], client_id=row[1], nick=row[5], body=row[6],
            new=False,
        )  # fmt: skip
    member = {
        (row[0], row[1])
        for row in await conn.fetch(
            "SELECT m.user_id, m.room_id FROM memberships m"
            " JOIN unnest($1::bigint[], $2::bigint[]) AS k(user_id, room_id)"
            " ON m.user_id = k.user_id AND m.room_id = k.room_id",
            [m.user_id for m in run],
            [m.room_id for m in run],
        )
    }

    ts = now_ts()
    seqs: dict[int, int] = {}
    reads: dict[tuple[int, int], int] = {}
    results: list[Any] = []
    rows: list[tuple[int, int, int, str, str, str]] = []
    for message in run:
        key = (message.user_id, message.client_id)
        if key in existing:
            results.append(msgspec.structs.replace(existing[key], new=False))
            continue
        if message.room_id not in rooms or (message.user_id, message.room_id) not in member:
            results.append(NotMember("you are not a member of this room"))
            continue
        name, last = rooms[message.room_id]
        seq = seqs.get(message.room_id, last) + 1
        seqs[message.room_id] = seq
        stored = Stored(
            room=name, seq=seq, ts=ts, client_id=message.client_id, nick=message.nick,
            body=message.body, new=True,
        )  # fmt: skip
        existing[key] = stored
        results.append(stored)
        rows.append(
            (message.room_id, seq, message.user_id, message.nick, message.client_id, message.body)
        )
        reads[(message.user_id, message.room_id)] = seq
    if rows:
        columns = list(zip(*rows, strict=True))
        await conn.execute(
            "INSERT INTO messages (room_id, seq, author_id, nick, client_id, body, ts)"
            " SELECT r, s, a, n, c, b, $7 FROM unnest($1::bigint[], $2::bigint[],"
            " $3::bigint[], $4::text[], $5::text[], $6::text[]) AS x(r, s, a, n, c, b)",
            *(list(column) for column in columns),
            ts,
        )
        await conn.execute(
            "UPDATE rooms SET last_seq = c.seq"
            " FROM unnest($1::bigint[], $2::bigint[]) AS c(id, seq) WHERE rooms.id = c.id",
            list(seqs),
            list(seqs.values()),
        )
        # the senders' markers move to their messages, and their memberships note that
        # they wrote (their presence shows in a direct conversation from then on)
        await conn.execute(
            "UPDATE memberships m SET read_seq = GREATEST(m.read_seq, c.seq), wrote = TRUE"
            " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS c(user_id, room_id, seq)"
            " WHERE m.user_id = c.user_id AND m.room_id = c.room_id",
            [user_id for user_id, _ in reads],
            [room_id for _, room_id in reads],
            list(reads.values()),
        )
    return results
