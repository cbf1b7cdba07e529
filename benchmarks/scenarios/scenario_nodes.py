"""fanout-2nodes: one room's fan-out through two chat nodes against one, on PostgreSQL + Redis.

Both systems run the scale-out stack (``--database-url postgresql://...`` with a fresh schema of
their own, ``--redis-url`` with a key prefix of their own), so the only difference is where the
subscribers sit: ``chat-1node`` has them all on one node, ``chat-2nodes`` deals them over two
nodes with the publisher on the first, and every message of the second node crosses Redis.
Every node is pinned to the server core with PostgreSQL and Redis unpinned beside them: on a
2-core machine this measures what the Redis hop costs, not a speed-up from a second machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import asyncpg  # type: ignore[import-untyped]
import redis

from benchmarks.harness import procs
from benchmarks.harness.context import Context, Rig
from benchmarks.scenarios.traffic import fanout_on
from chat_server.auth import new_token, token_hash

SCENARIO = "fanout-2nodes"
SYSTEMS = {"chat-1node": 1, "chat-2nodes": 2}  # system -> nodes
DATABASE_ENV = "CHAT_BENCH_DATABASE_URL"
REDIS_ENV = "CHAT_BENCH_REDIS_URL"
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
SUBSCRIBERS = 100
# messages the publisher keeps in flight: an ack waits for PostgreSQL's commit (tens of ms on
# this busy machine), so fanout-100's 32 would measure that latency rather than the fan-out
WINDOW = 256
# the latency phase's offered rate (10,000 deliveries/s at 100 subscribers), fixed: the 1-node
# saturation figure swings 2x from run to run on this shared machine, and at half of it a noisy
# window queues for seconds, which would hide what the Redis hop adds
LATENCY_RATE = 100.0
NOTE = (
    "every node shares the server core with PostgreSQL and Redis (2 cores here): the 2-node"
    " figure is the cost of the Redis hop, not a scale-out speed-up"
)


class Backing:
    """A fresh PostgreSQL schema and Redis key prefix for one system, with its accounts."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.admin_url = database_url
        self.redis_url = redis_url
        self.schema = f"bench_{uuid.uuid4().hex[:16]}"
        joiner = "&" if "?" in database_url else "?"
        self.url = f"{database_url}{joiner}search_path={self.schema}"
        self.prefix = f"chat-bench-{uuid.uuid4().hex[:12]}"

    def options(self) -> dict[str, str]:
        """The node flags (see :meth:`procs.Server.command`)."""
        return {"database_url": self.url, "redis_url": self.redis_url, "redis_prefix": self.prefix}

    def create_schema(self) -> None:
        """Only the empty schema (a baseline server makes its own table)."""
        asyncio.run(self._admin(f"CREATE SCHEMA {self.schema}"))

    def create(self, users: int) -> list[str]:
        """Create the schema, migrate it with ``chat-server db migrate``, and add ``users``
        accounts bench0.. with a token each (direct inserts: an argon2 hash per account would
        cost minutes); returns the tokens."""
        self.create_schema()
        subprocess.run(
            [*procs.tool("chat-server"), "db", "migrate", "--database-url", self.url],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
        tokens = [new_token() for _ in range(users)]
        asyncio.run(self._accounts(tokens))
        return tokens

    def drop(self) -> None:
        """Drop the schema and every key under the prefix."""
        asyncio.run(self._admin(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE"))
        if not self.redis_url:
            return
        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(match=f"{self.prefix}:*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()

    async def _admin(self, statement: str) -> None:
        conn = await asyncpg.connect(self.admin_url, timeout=10)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    async def _accounts(self, tokens: list[str]) -> None:
        conn = await asyncpg.connect(self.url, timeout=10)
        try:
            async with conn.transaction():
                ids = await conn.fetch(
                    "INSERT INTO users (nick, nick_key) SELECT 'bench' || i, 'bench' || i"
                    " FROM generate_series(0, $1::int - 1) AS i RETURNING id",
                    len(tokens),
                )
                await conn.executemany(
                    "INSERT INTO tokens (hash, user_id) VALUES ($1, $2)",
                    [(token_hash(t), row["id"]) for t, row in zip(tokens, ids, strict=True)],
                )
        finally:
            await conn.close()


def unreachable(database_url: str, redis_url: str) -> str | None:
    """Why PostgreSQL or Redis (when given) cannot be used (None: they answer)."""
    try:
        asyncio.run(Backing(database_url, redis_url)._admin("SELECT 1"))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return f"no PostgreSQL at {database_url} ({type(exc).__name__}: {exc}; set {DATABASE_ENV})"
    if not redis_url:
        return None
    client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"no Redis at {redis_url} ({type(exc).__name__}: {exc}; set {REDIS_ENV})"
    finally:
        client.close()
    return None


@contextlib.contextmanager
def _backings(ctx: Context, database_url: str, redis_url: str, users: int) -> Iterator[
    dict[str, tuple[Backing, list[str]]]
]:  # fmt: skip
    """One fresh schema + prefix (and its accounts) per system, dropped on exit."""
    made: dict[str, tuple[Backing, list[str]]] = {}
    try:
        for system in SYSTEMS:
            backing = Backing(database_url, redis_url)
            start = time.monotonic()
            made[system] = (backing, backing.create(users))
            ctx.log(
                f"{SCENARIO}: {system}: schema {backing.schema}, Redis prefix {backing.prefix},"
                f" {users} accounts in {time.monotonic() - start:.1f}s"
            )
        yield made
    finally:
        for backing, _ in made.values():
            try:
                backing.drop()
            except Exception as exc:  # one failed drop must not leave the other schema behind
                ctx.log(f"{SCENARIO}: could not drop {backing.schema}: {exc}")


def fanout_nodes(
    ctx: Context,
    n: int = 100,
    latency_rate: float | None = None,
    window: int | None = None,
    database_url: str = DEFAULT_DATABASE,
    redis_url: str = DEFAULT_REDIS,
) -> list[Backing]:
    """fanout-2nodes: n subscribers in one room, one publisher; saturation, then latency at
    ``latency_rate`` (by default half of chat-1node's saturation rate), repetitions
    interleaved.

    Returns the schemas and prefixes it used (dropped by then).
    """
    ctx.log(f"{SCENARIO}: {NOTE}")
    with (
        _backings(ctx, database_url, redis_url, n + 1) as backings,
        contextlib.ExitStack() as stack,
    ):
        rigs: list[Rig] = []
        for system, count in SYSTEMS.items():
            options = backings[system][0].options()
            nodes = stack.enter_context(ctx.nodes(SCENARIO, count, **options))
            subs, pub = stack.enter_context(
                ctx.workers(
                    SCENARIO, system, nodes[0].port, "subscribers", "publisher", dialect="chat"
                )
            )
            rigs.append(Rig(system, nodes[0], subs, pub, tuple(nodes[1:])))
        tokens = {system: backing[1] for system, backing in backings.items()}
        fanout_on(ctx, SCENARIO, rigs, tokens, n, latency_rate, window)
    return [backing for backing, _ in backings.values()]


def scenario(ctx: Context) -> None:
    """The harness's entry (100 subscribers), skipped with a reason when PostgreSQL or Redis
    is not there."""
    database_url = os.environ.get(DATABASE_ENV, DEFAULT_DATABASE)
    redis_url = os.environ.get(REDIS_ENV, DEFAULT_REDIS)
    reason = unreachable(database_url, redis_url)
    if reason is not None:
        ctx.log(f"{SCENARIO}: SKIPPED: {reason}")
        return
    fanout_nodes(
        ctx,
        SUBSCRIBERS,
        latency_rate=LATENCY_RATE,
        window=WINDOW,
        database_url=database_url,
        redis_url=redis_url,
    )
