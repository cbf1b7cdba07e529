"""Shared fixtures: a real server on port 0 over a real SQLite file (in this process, or the
``chat-server serve`` command in a subprocess: ``tests/support/servers.py``), and a small client
(``tests/support/raw.py``).

PostgreSQL and Redis tests read ``CHAT_TEST_DATABASE_URL`` and ``CHAT_TEST_REDIS_URL``;
without them they skip with a reason, unless ``CHAT_TEST_REQUIRE_SERVICES=1`` (CI), where
a missing service is a failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvloop
from websockets.asyncio.client import connect

from chat_server.config import Settings
from chat_server.server import Running, start
from tests.limits import lenient_login_settings
from tests.support.raw import CLIENT_TIMEOUT
from tests.support.raw import Client as Client
from tests.support.servers import LISTENING as LISTENING
from tests.support.servers import START_TIMEOUT, spawn, stop_all
from tests.support.servers import ServerProcess as ServerProcess

TIMEOUT = CLIENT_TIMEOUT  # how long a :class:`Client` waits for a frame

SERVER_TESTS = Path(__file__).parent / "server"


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The server's own tests run on uvloop, as ``chat-server serve`` does (runtime.run);
    the others drive clients, which run on asyncio's loop in production (Textual's, or
    ``asyncio.run`` in the scripting commands)."""
    if item.path.is_relative_to(SERVER_TESTS):
        return {"uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}


def _service_url(name: str) -> str:
    url = os.environ.get(name)
    if not url:
        message = f"{name} is not set (a PostgreSQL/Redis test needs it)"
        if os.environ.get("CHAT_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def database_url() -> str:
    return _service_url("CHAT_TEST_DATABASE_URL")


@pytest.fixture
def redis_url() -> str:
    return _service_url("CHAT_TEST_REDIS_URL")


@dataclasses.dataclass
class ChatServerUnderTest:
    running: Running
    settings: Settings

    @property
    def url(self) -> str:
        return self.running.url

    @asynccontextmanager
    async def client(self, **kwargs: Any) -> AsyncIterator[Client]:
        """A connected client; it keeps reading (unbounded queue) unless told otherwise."""
        kwargs.setdefault("max_queue", None)
        kwargs.setdefault("close_timeout", 2)
        async with connect(self.url, **kwargs) as ws:
            yield Client(ws)

    @asynccontextmanager
    async def login(self, nick: str, password: str = "secret-pw") -> AsyncIterator[Client]:
        """A connected client after a password hello (creates the account)."""
        async with self.client() as client:
            welcome = await client.request(
                {"type": "hello", "nick": nick, "password": password}, "welcome"
            )
            assert welcome["type"] == "welcome", welcome
            client.nick, client.token = welcome["nick"], welcome["token"]
            yield client

    @asynccontextmanager
    async def resume(self, token: str) -> AsyncIterator[Client]:
        async with self.client() as client:
            welcome = await client.request({"type": "hello", "token": token}, "welcome")
            assert welcome["type"] == "welcome", welcome
            client.nick, client.token = welcome["nick"], token
            yield client


ServerFactory = Callable[..., Any]


def in_process_settings(**overrides: Any) -> Settings:
    """An in-process server's settings: port 0, lenient login limits (every test user comes
    from 127.0.0.1), a quick revocation check (``db_path`` is the caller's to give)."""
    fields: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        **lenient_login_settings(),
        "revocation_check": 0.2,
    }
    fields.update(overrides)
    return Settings(**fields)


@pytest.fixture
async def make_server(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Start servers with chosen settings (all on port 0 and a tmp SQLite file)."""
    running: list[Running] = []

    async def factory(**overrides: Any) -> ChatServerUnderTest:
        overrides.setdefault("db_path", tmp_path / "chat.db")
        settings = in_process_settings(**overrides)
        server = await start(settings)
        running.append(server)
        return ChatServerUnderTest(server, settings)

    yield factory
    for server in reversed(running):
        await server.stop()


@pytest.fixture
async def server(make_server: ServerFactory) -> ChatServerUnderTest:
    result: ChatServerUnderTest = await make_server()
    return result


# --- the real command in a subprocess ------------------------------------------------------


def spawn_server(
    db: Path, *args: str, timeout: float = START_TIMEOUT, port: int = 0
) -> ServerProcess:
    """Run ``chat-server serve`` (on port 0 unless told) and wait for its ``listening on`` line."""
    return spawn(db, *args, port=port, timeout=timeout)


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``chat-server serve ARGS`` subprocesses (on ``tmp_path``'s chat.db unless told);
    every one is stopped afterwards."""
    started: list[ServerProcess] = []

    def factory(*args: str, db: Path | None = None, port: int = 0) -> ServerProcess:
        process = spawn_server(db or tmp_path / "chat.db", *args, port=port)
        started.append(process)
        return process

    yield factory
    stop_all(started)
