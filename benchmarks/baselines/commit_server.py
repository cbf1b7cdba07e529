"""The persist baseline: each message committed in its own SQLite transaction, then acked.

It speaks chat's wire shape for what the persist scenario uses (``hello`` -> ``welcome``,
``join`` -> ``joined`` + ``history``, ``send`` -> ``ack`` then ``message``), with one
aiosqlite connection in WAL mode and ``synchronous=FULL`` like chat, but no group commit:
the plain "one commit per message" loop chat's writer is measured against.
Run: ``python -m benchmarks.baselines.commit_server --db PATH``.
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


async def main(host: str, port: int, db_path: str) -> None:
    db = await aiosqlite.connect(db_path, isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=FULL")
    await db.execute(
        "CREATE TABLE IF NOT EXISTS messages (room TEXT NOT NULL, seq INTEGER NOT NULL,"
        " nick TEXT NOT NULL, client_id TEXT NOT NULL, body TEXT NOT NULL, ts TEXT NOT NULL,"
        " PRIMARY KEY (room, seq))"
    )
    lock = asyncio.Lock()
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
                    async with lock:  # one message, one transaction, one commit
                        seq = seqs.get(room, 0) + 1
                        ts = _ts()
                        await db.execute("BEGIN")
                        await db.execute(
                            "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)",
                            (room, seq, "bench", frame["id"], frame["body"], ts),
                        )
                        await db.execute("COMMIT")
                        seqs[room] = seq
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
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(args.host, args.port, args.db))
    except ImportError:  # pragma: no cover
        asyncio.run(main(args.host, args.port, args.db))
