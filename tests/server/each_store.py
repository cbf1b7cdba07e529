"""An in-process server on each store, for tests that run on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chat_server.server import start
from tests.conftest import ChatServerUnderTest, ServerFactory, in_process_settings
from tests.scale.cluster import PostgresSchema

STORES = ["sqlite", "postgres"]


@contextlib.asynccontextmanager
async def on_store(
    request: pytest.FixtureRequest, make_server: ServerFactory, **overrides: Any
) -> AsyncIterator[ChatServerUnderTest]:
    """The server of ``request.param`` (one of STORES), with the Settings ``overrides``;
    PostgreSQL in a schema of its own."""
    if request.param == "sqlite":
        yield await make_server(**overrides)
        return
    schema = PostgresSchema(request.getfixturevalue("database_url"))
    await schema.create()
    tmp_path: Path = request.getfixturevalue("tmp_path")
    # started here, not by make_server (whose teardown comes after this one's): the server
    # must be stopped before its schema is dropped, or the drop deadlocks with its queries
    running = await start(
        in_process_settings(db_path=tmp_path / "unused.db", database_url=schema.url, **overrides)
    )
    try:
        yield ChatServerUnderTest(running, running.ctx.settings)
    finally:
        await running.stop()
        await schema.drop()
