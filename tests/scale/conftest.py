"""Fixtures of the scale-out tests: a fresh PostgreSQL schema, Redis, and node processes.

Every test gets its own schema and its own Redis key prefix, so tests running side by side
(or a developer's own servers on the same Redis) never see each other's events.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.scale.cluster import Cluster, PostgresSchema, PrivateRedis


@pytest.fixture
async def schema(database_url: str) -> AsyncIterator[PostgresSchema]:
    fresh = PostgresSchema(database_url)
    await fresh.create()
    try:
        yield fresh
    finally:
        await fresh.drop()


@pytest.fixture
async def cluster(tmp_path: Path, schema: PostgresSchema, redis_url: str) -> AsyncIterator[Cluster]:
    nodes = Cluster(tmp_path, schema.url, redis_url)
    try:
        yield nodes
    finally:
        nodes.stop_all()
        await nodes.cleanup_redis()
    # A node that logs a traceback has a bug, even when every client saw the right thing.
    for index in range(len(nodes.nodes)):
        if "Traceback" in nodes.log(index):
            pytest.fail(f"node {index} logged a traceback:\n{nodes.log(index)[-4000:]}")


@pytest.fixture
def private_redis(tmp_path: Path, redis_url: str) -> Iterator[PrivateRedis]:
    """A redis-server of the test's own (where the shared Redis runs, the binary is there)."""
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (a test that restarts Redis needs it)"
        if os.environ.get("CHAT_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
