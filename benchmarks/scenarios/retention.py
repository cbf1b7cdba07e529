"""retention-purge: the pruning of a room of 1,000,000 expired messages, against the same
room's traffic without it.

The room is written straight into a database of the server's own schema (``procs.fill_room``,
search index included). Two measurements, in the same run:

- ``prune``: the store itself (``SQLiteStore``, in this process, on a copy of the database)
  erases the room a ``PRUNE_BATCH`` at a time, as the server's task does: each ``prune`` is
  one transaction of the writer's, timed from its submission to its commit (``txn_*_ms``),
  paced as the server paces them, and ``entries_per_s`` over the whole purge.
- ``prune-pg``: the same on PostgreSQL (``CHAT_BENCH_DATABASE_URL``, a fresh schema), in a
  room of 200,000 (its full-text index makes a bigger one slow to build here).
- ``no-purge`` then ``purge``: the real server on the database. A probe (a send and a
  ``history before`` page every 20 ms, one at a time, on two connections, and websocket pings
  on a third) runs for a fixed window with the room kept forever (``no-purge``), then on a
  server started after the room's retention was set to one second: its pruning task starts
  at once, and the probe runs until the database's floor says the room is erased. The sends
  that overlap the purge are ``purge``'s ``send_p50_ms``/``send_p99_ms``/``send_max_ms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from benchmarks.harness import procs
from benchmarks.harness.context import Context
from benchmarks.harness.stats import percentile
from benchmarks.harness.worker import Worker
from benchmarks.scenarios.scenario_nodes import DATABASE_ENV, DEFAULT_DATABASE
from chat_server.config import Settings
from chat_server.store import SQLiteStore, Store
from chat_server.store.postgres.store import PostgresStore
from chat_server.text import format_ts, now_ts

SCENARIO = "retention-purge"
ROOM = "big"
PROBE_EVERY = 0.02  # a send, a page and a ping every 20 ms at most
PURGE_LIMIT_S = 900.0  # the longest a purge may take before the phase gives up
PAUSE = Settings().retention_pause
COLUMNS = ("room_id", "seq", "author_id", "nick", "client_id", "body", "ts")


def _floor(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        row = conn.execute("SELECT floor FROM rooms WHERE name = ?", (ROOM,)).fetchone()
        return int(row[0])


def _keep_for(db: Path, seconds: int | None) -> None:
    """The room's own retention, set in the database (what ``rooms retention`` does)."""
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE rooms SET retention_s = ? WHERE name = ?", (seconds, ROOM))


async def _prune_all(store: Store, room_id: int) -> tuple[list[float], float]:
    """Prune the room to its end through the store's writer, paced as the server's task
    (``retention.Pruner``) paces it; each prune's time (ms) and the whole purge's (s)."""
    before = format_ts(datetime.fromtimestamp(time.time() + 60, UTC))
    times: list[float] = []
    start = time.perf_counter()
    while True:
        began = time.perf_counter()
        taken = await store.prune(room_id, before)
        if taken == 0:
            break
        took = time.perf_counter() - began
        times.append(took * 1000)
        await asyncio.sleep(max(PAUSE, took))
    await store.sweep_done()
    return times, time.perf_counter() - start


async def _time_prunes(db: Path) -> tuple[list[float], float]:
    store = SQLiteStore(db)
    await store.open()
    try:
        room = await store.room_by_name(ROOM)
        assert room is not None
        return await _prune_all(store, room.id)
    finally:
        await store.close()


async def _time_prunes_pg(admin_url: str, size: int) -> tuple[list[float], float]:
    """The same on PostgreSQL, in a fresh schema (dropped after), the room's ``size``
    messages copied in (its full-text index filled by PostgreSQL as they go)."""
    schema = f"bench_{uuid.uuid4().hex[:16]}"
    url = f"{admin_url}{'&' if '?' in admin_url else '?'}search_path={schema}"
    admin = await asyncpg.connect(admin_url, timeout=10)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        store = PostgresStore(url, pool_size=2)
        await store.open()
        try:
            user = await store.create_user("bench0", "not a hash")
            room, _ = await store.join(user.id, ROOM, False)
            conn = await asyncpg.connect(url, timeout=10)
            try:
                ts = now_ts()
                for first in range(1, size + 1, 50_000):
                    rows = [
                        (room.id, seq, user.id, "bench0", f"h{seq}", procs.history_body(seq), ts)
                        for seq in range(first, min(first + 50_000, size + 1))
                    ]
                    await conn.copy_records_to_table("messages", records=rows, columns=COLUMNS)
                await conn.execute("UPDATE rooms SET last_seq = $1 WHERE id = $2", size, room.id)
                await conn.execute("ANALYZE messages")
            finally:
                await conn.close()
            return await _prune_all(store, room.id)
        finally:
            await store.close()
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


def _postgres_prunes(ctx: Context, size: int) -> None:
    """``prune-pg``: the store's prunes on PostgreSQL; skipped, with the reason in the log,
    when it does not answer."""
    url = os.environ.get(DATABASE_ENV, DEFAULT_DATABASE)
    try:
        times, took = asyncio.run(_time_prunes_pg(url, size))
    except (OSError, asyncpg.PostgresError) as exc:
        ctx.log(f"{SCENARIO}: prune-pg SKIPPED: {type(exc).__name__}: {exc}")
        return
    _record_prunes(ctx, "prune-pg", times, took, size)


def _record_prunes(ctx: Context, system: str, times: list[float], took: float, size: int) -> None:
    for q in (50, 99):
        ctx.results.add(SCENARIO, system, f"txn_p{q}_ms", percentile(times, q))
    ctx.results.add(SCENARIO, system, "txn_max_ms", max(times))
    ctx.results.add(SCENARIO, system, "entries_per_s", size / took)
    ctx.log(
        f"{SCENARIO}: {system}: {len(times)} prunes of a room of {size:,} in {took:.1f}s;"
        f" p50 {percentile(times, 50):.1f} ms, max {max(times):.1f} ms"
    )


def _sends(got: dict[str, Any], window: tuple[int, int] | None) -> tuple[list[float], list[float]]:
    """The probe's send and ping times (ms) that overlap ``window`` (ns; all when None)."""

    def within(t: int, ms: float) -> bool:
        return window is None or (t < window[1] and t + int(ms * 1e6) > window[0])

    sends = [ms for t, ms in got["send"] if within(t, ms)]
    pings = [ms for t, ms in got["ping"] if within(t, ms)]
    return sends, pings


def _record(ctx: Context, system: str, sends: list[float], pings: list[float]) -> None:
    for q in (50, 99):
        ctx.results.add(SCENARIO, system, f"send_p{q}_ms", percentile(sends, q))
    ctx.results.add(SCENARIO, system, "send_max_ms", max(sends))
    if pings:
        ctx.results.add(SCENARIO, system, "ping_max_ms", max(pings))


def _connect(client: Worker, token: str) -> None:
    spec = {"room": ROOM, "token": token, "count": False}
    # pages, sends, pings (the probe's three connections)
    client.call("connect", clients=[{**spec, "tag": f"r{i}"} for i in range(3)])


def retention_purge(
    ctx: Context, size: int | None = None, *, postgres: bool = True, pg_size: int | None = None
) -> None:
    """Prune a room of ``size`` expired messages; the probe with and without the purge (and,
    with ``postgres``, the prunes of a room of ``pg_size`` on PostgreSQL)."""
    size = size or (20_000 if ctx.quick else 1_000_000)
    pg_size = pg_size or (5_000 if ctx.quick else 200_000)
    window = 1.5 if ctx.quick else 10.0  # the no-purge probe's length
    tokens = ctx.ensure_accounts(1)
    template = ctx.fresh_db("chat-retention")
    start = time.monotonic()
    procs.fill_room(template, ROOM, size, procs.user_ids(template, 1))
    ctx.log(f"{SCENARIO}: room of {size:,} messages built in {time.monotonic() - start:.1f}s")
    for rep in range(ctx.reps):
        copy = ctx.workdir / f"retention-prune-{rep}.db"
        procs.fresh_copy(template, copy)
        times, took = asyncio.run(_time_prunes(copy))
        _record_prunes(ctx, "prune", times, took, size)
        if postgres:
            _postgres_prunes(ctx, pg_size)
        for suffix in ("", "-wal", "-shm"):
            Path(str(copy) + suffix).unlink(missing_ok=True)

        db = ctx.workdir / f"retention-serve-{rep}.db"
        procs.fresh_copy(template, db)
        with (
            ctx.server(SCENARIO, "chat", db) as server,
            ctx.workers(SCENARIO, "chat", server.port, "client") as (client,),
        ):
            _connect(client, tokens[0])
            client.call("probe_start", room=ROOM, top=size, seed=rep, seconds=window + 5,
                        every=PROBE_EVERY)  # fmt: skip
            time.sleep(window)
            got = client.call("probe_stop", timeout=60)
        _record(ctx, "no-purge", *_sends(got, None))

        _keep_for(db, 1)  # every message of the room is older than a second
        with (
            ctx.server(SCENARIO, "chat", db) as server,  # its task prunes at once
            ctx.workers(SCENARIO, "chat", server.port, "client") as (client,),
        ):
            _connect(client, tokens[0])
            began = time.monotonic_ns()
            client.call("probe_start", room=ROOM, top=size, seed=rep, seconds=PURGE_LIMIT_S,
                        every=PROBE_EVERY)  # fmt: skip
            deadline = time.monotonic() + PURGE_LIMIT_S
            while _floor(db) <= size and time.monotonic() < deadline:
                time.sleep(0.05)
            ended = time.monotonic_ns()
            got = client.call("probe_stop", timeout=60)
        if _floor(db) <= size:
            ctx.log(f"{SCENARIO}: the server's purge did not finish; not counted")
            continue
        sends, pings = _sends(got, (began, ended))
        ctx.log(
            f"{SCENARIO}: the server's purge took {(ended - began) / 1e9:.1f}s from the probe's"
            f" start; {len(sends)} sends during it, max {max(sends, default=0):.0f} ms"
        )
        if sends:
            _record(ctx, "purge", sends, pings)
