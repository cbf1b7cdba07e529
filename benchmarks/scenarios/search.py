"""search-1m: a two-word search over a room of 1,000,000 messages, and over every room of a
user in 50 rooms, on SQLite (FTS5) and on PostgreSQL (GIN), against a websocket ping.

Both databases are filled straight into the server's own schema: SQLite by ``procs.fill_room``
(the FTS5 index built by the server's own ``index_search``), PostgreSQL by COPY into a fresh
migrated schema (its GIN index is the table's). Every message body holds its seq and eight
words drawn from a vocabulary of 64 (seeded): each word is in about one message in eight, a
pair of words in about one in sixty. Every search asks for a random pair of them (a fresh
pair per request), the default limit of 50 newest hits. The one-room searcher has joined
the room, as a protocol client searching a room it follows would (``chat-tui`` and the
browser search all of a user's rooms: the 50-room searcher's case).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from benchmarks.harness import procs
from benchmarks.harness.context import Context
from benchmarks.harness.stats import percentile
from benchmarks.harness.worker import Worker
from benchmarks.scenarios.postgres import database_url
from benchmarks.scenarios.scenario_nodes import Backing
from chat_server.protocol import now_ts

SCENARIO = "search-1m"
WORDS = (
    "amber bishop canyon dagger ember falcon glacier harbor island jasper kernel lantern"
    " meadow nectar orchid pepper quarry raven saddle timber umbrella velvet walnut yonder"
    " zephyr anchor blossom cobalt dynamo estuary fossil granite hollow ivory juniper kettle"
    " lagoon marble nimbus oyster pillar quiver ribbon summit thistle tundra upland vortex"
    " willow yarrow zenith acorn beacon cinder drift elm fjord grotto heron inlet jungle"
    " kiosk lotus kelp"
)
VOCABULARY = tuple(WORDS.split())
WORDS_PER_BODY = 8
ROOMS = 50  # the rooms of the user searching everywhere
SEARCH_INDEX = "messages_search"  # PostgreSQL's full-text index (the store's schema)


def body(seq: int) -> str:
    """Message ``seq``'s text: its seq and eight words of the vocabulary (the same every run)."""
    rng = random.Random(seq)
    return f"message {seq} " + " ".join(rng.choices(VOCABULARY, k=WORDS_PER_BODY))


def queries(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.sample(VOCABULARY, 2)) for _ in range(count)]


def sizes(ctx: Context) -> tuple[int, int]:
    """(messages in the big room, messages in each of the 50 rooms): a million each way."""
    return (20_000, 400) if ctx.quick else (1_000_000, 20_000)


def fill_sqlite(ctx: Context, big: int, each: int) -> Path:
    """bench0 in the room ``big``; bench1 in 50 rooms ``r0``..``r49``."""
    ctx.ensure_accounts(2)
    db = ctx.fresh_db("chat-search")
    owner, everywhere = procs.user_ids(db, 2)
    procs.fill_room(db, "big", big, [owner], body)
    for i in range(ROOMS):
        procs.fill_room(db, f"r{i}", each, [everywhere], body)
    return db


async def _fill_pg(
    backing: Backing, big: int, each: int, rooms: int, text: Callable[[int], str]
) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(backing.url, timeout=10)
    try:
        users = await conn.fetch("SELECT id FROM users ORDER BY id LIMIT 2")
        owner, everywhere = (int(r["id"]) for r in users)
        ts = now_ts()
        # the search index is built once after the rows (its own definition, read back from
        # the catalog): kept up row by row, the copy takes several times as long
        index = await conn.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = $2",
            backing.schema,
            SEARCH_INDEX,
        )
        await conn.execute(f"DROP INDEX {SEARCH_INDEX}")
        plan = [("big", big, owner)] + [(f"r{i}", each, everywhere) for i in range(rooms)]
        for name, count, member in plan:
            room = await conn.fetchval(
                "INSERT INTO rooms (name, last_seq) VALUES ($1, $2) RETURNING id", name, count
            )
            await conn.execute(
                "INSERT INTO memberships (user_id, room_id) VALUES ($1, $2)", member, room
            )
            step = 50_000
            for first in range(1, count + 1, step):
                rows = [
                    (room, seq, member, "bench", f"s{room}-{seq}", text(seq), ts)
                    for seq in range(first, min(first + step, count + 1))
                ]
                await conn.copy_records_to_table(
                    "messages",
                    records=rows,
                    columns=["room_id", "seq", "author_id", "nick", "client_id", "body", "ts"],
                    schema_name=backing.schema,
                )
        await conn.execute("SET maintenance_work_mem = '256MB'")
        await conn.execute(index)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


@contextlib.contextmanager
def pg_backing(
    ctx: Context,
    big: int,
    each: int,
    url: str,
    *,
    rooms: int = ROOMS,
    text: Callable[[int], str] = body,
) -> Iterator[tuple[Backing, list[str]]]:
    """A fresh migrated schema holding the same rooms as ``fill_sqlite`` (``rooms`` of the
    small ones, bodies by ``text``), and the tokens of its two accounts; dropped on exit."""
    backing = Backing(url, "")
    try:
        tokens = backing.create(2)
        asyncio.run(_fill_pg(backing, big, each, rooms, text))
        yield backing, tokens
    finally:
        backing.drop()


T = TypeVar("T")


def _timed(ctx: Context, what: str, fill: Callable[[], T]) -> T:
    start = time.monotonic()
    made = fill()
    ctx.log(f"{SCENARIO}: {what} filled in {time.monotonic() - start:.1f}s")
    return made


def search_1m(ctx: Context, url: str | None = None, count: int | None = None) -> None:
    """search-1m: searches in one big room and in all of a user's 50 rooms, one at a time,
    on chat over SQLite and over PostgreSQL (when it answers), and pings."""
    big, each = sizes(ctx)
    count = count or (100 if ctx.quick else 500)
    tokens = {"sqlite": ctx.ensure_accounts(2)}
    sizes_text = f"{big:,} + {ROOMS} x {each:,} messages"
    db = _timed(ctx, f"SQLite: {sizes_text}", lambda: fill_sqlite(ctx, big, each))
    pg = database_url(ctx, SCENARIO, url)
    with contextlib.ExitStack() as stack:
        servers = {"sqlite": stack.enter_context(ctx.server(SCENARIO, "chat", db))}
        if pg is not None:
            backing, tokens["pg"] = _timed(
                ctx,
                f"PostgreSQL: {sizes_text}",
                lambda: stack.enter_context(pg_backing(ctx, big, each, pg)),
            )
            servers["pg"] = stack.enter_context(
                ctx.server(SCENARIO, "chat-pg", None, database_url=backing.url)
            )
        clients: dict[str, tuple[Worker, Worker]] = {}
        for store, server in servers.items():
            room_user, all_user = stack.enter_context(
                ctx.workers(SCENARIO, "chat", server.port, "room-searcher", "all-searcher")
            )
            # the room's searcher has joined it (a client searching a room it follows)
            for user, token, room in zip(
                (room_user, all_user), tokens[store], ("big", ""), strict=True
            ):
                user.call("connect", clients=[{"room": room, "token": token, "count": False}])
            room_user.call("search", queries=queries(10, 0), room="big")  # warm-up
            all_user.call("search", queries=queries(10, 0))
            clients[store] = (room_user, all_user)
        for rep in range(ctx.reps):
            asked = queries(count, rep + 1)
            for store, (room_user, all_user) in clients.items():
                for system, done in (
                    (f"{store}-room", room_user.call("search", queries=asked, room="big")),
                    (f"{store}-{ROOMS}rooms", all_user.call("search", queries=asked)),
                ):
                    ctx.results.add(SCENARIO, system, "p50_ms", percentile(done["ms"], 50))
                    ctx.results.add(SCENARIO, system, "p99_ms", percentile(done["ms"], 99))
                    ctx.results.add(SCENARIO, system, "hits", statistics.median(done["hits"]))
            pings = clients["sqlite"][0].call("pings", count=count)["ms"]
            ctx.results.add(SCENARIO, "ping", "p50_ms", percentile(pings, 50))
            ctx.results.add(SCENARIO, "ping", "p99_ms", percentile(pings, 99))
