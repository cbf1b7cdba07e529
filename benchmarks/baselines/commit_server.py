"""The persist baseline: each message committed in its own SQLite transaction, then acked.

It speaks chat's wire shape for what the persist scenario uses (``hello`` -> ``welcome``,
``join`` -> ``joined`` + ``history``, ``send`` -> ``ack`` then ``message``), with one
aiosqlite connection in WAL mode and ``synchronous=FULL`` like chat, but no group commit:
the plain "one commit per message" loop chat's writer is measured against.
Run: ``python -m benchmarks.baselines.commit_server --db PATH``.

With ``--database-url postgresql://...`` (``pg-per-commit``) it stores in PostgreSQL instead:
an asyncpg pool of 10 connections (asyncpg's default size), each message its own transaction
and commit (``synchronous_commit`` as the server has it) before its ack, sends of different
connections committing concurrently, as a plain asyncpg server would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from datetime import UTC, datetime

import aiosqlite
from websockets.asyncio.server import ServerConnection, serve


def _dump(frame: dict[str, object]) -> str:
    return json.dumps(frame, separators=(",", ":"))


def _ts() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


TABLE = (
    "CREATE TABLE IF NOT EXISTS messages (room TEXT NOT NULL, seq INTEGER NOT NULL,"
    " nick TEXT NOT NULL, client_id TEXT NOT NULL, body TEXT NOT NULL, ts TEXT NOT NULL,"
    " PRIMARY KEY (room, seq))"
)
Row = tuple[str, int, str, str, str, str]


class SQLiteRows:
    """One aiosqlite connection, WAL, synchronous=FULL; one writer at a time."""

    async def open(self, db_path: str) -> SQLiteRows:
        self.db = await aiosqlite.connect(db_path, isolation_level=None)
        await self.db.execute("PRAGMA journal_mode=WAL")
        await self.db.execute("PRAGMA synchronous=FULL")
        await self.db.execute(TABLE)
        self.lock = asyncio.Lock()
        return self

    async def insert(self, row: Row) -> None:
        async with self.lock:  # one message, one transaction, one commit
            await self.db.execute("BEGIN")
            await self.db.execute("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)", row)
            await self.db.execute("COMMIT")

    async def close(self) -> None:
        await self.db.close()


class PostgresRows:
    """An asyncpg pool: each message its own transaction, concurrent commits."""

    async def open(self, url: str) -> PostgresRows:
        import asyncpg  # type: ignore[import-untyped]

        self.pool = await asyncpg.create_pool(url, min_size=10, max_size=10)
        await self.pool.execute(TABLE)
        return self

    async def insert(self, row: Row) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO messages VALUES ($1, $2, $3, $4, $5, $6)", *row)

    async def close(self) -> None:
        await self.pool.close()


async def main(host: str, port: int, db_path: str, database_url: str) -> None:
    db: SQLiteRows | PostgresRows
    if database_url:
        db = await PostgresRows().open(database_url)
    else:
        db = await SQLiteRows().open(db_path)
    seqs: dict[str, int] = {}
    rooms: dict[str, set[ServerConnection]] = {}

    async def handler(ws: ServerConnection) -> None:
        joined: set[str] = set()
        try:
            async for data in ws:
                frame = json.loads(data)
                kind = frame.get("type")
                if kind == "hello":
                    await ws.send(_dump({"type": "welcome", "nick": "bench"}))
                elif kind == "join":
                    room = frame["room"]
                    rooms.setdefault(room, set()).add(ws)
                    joined.add(room)
                    await ws.send(_dump({"type": "joined", "room": room}))
                    await ws.send(_dump({"type": "history", "room": room, "messages": []}))
                elif kind == "send":
                    room = frame["room"]
                    seq = seqs[room] = seqs.get(room, 0) + 1
                    ts = _ts()
                    await db.insert((room, seq, "bench", frame["id"], frame["body"], ts))
                    ack = {"type": "ack", "id": frame["id"], "room": room, "seq": seq, "ts": ts}
                    await ws.send(_dump(ack))
                    event = {
                        "type": "message",
                        "room": room,
                        "seq": seq,
                        "nick": "bench",
                        "body": frame["body"],
                        "ts": ts,
                        "id": frame["id"],
                    }
                    text = _dump(event)
                    for member in list(rooms.get(room, ())):
                        await member.send(text)
        finally:
            for room in joined:
                rooms[room].discard(ws)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with serve(handler, host, port, compression=None) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"listening on ws://{host}:{bound}/ws", flush=True)
        await stop.wait()
    await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    store = parser.add_mutually_exclusive_group(required=True)
    store.add_argument("--db", default="")
    store.add_argument("--database-url", default="")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(args.host, args.port, args.db, args.database_url))
    except ImportError:  # pragma: no cover
        asyncio.run(main(args.host, args.port, args.db, args.database_url))
