"""Shared fixtures: a real server on port 0 over a real SQLite file, and a small client.

PostgreSQL and Redis tests read ``CHAT_TEST_DATABASE_URL`` and ``CHAT_TEST_REDIS_URL``;
without them they skip with a reason, unless ``CHAT_TEST_REQUIRE_SERVICES=1`` (CI), where
a missing service is a failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import selectors
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvloop
from websockets.asyncio.client import ClientConnection, connect

from chat_server.config import Settings
from chat_server.server import Running, start
from tests.limits import LENIENT_LOGIN_FLAGS, lenient_login_settings

TIMEOUT = 5.0


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


class Client:
    """A test client speaking protocol v1 over a real websocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.nick = ""
        self.token = ""

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            data = await self.ws.recv()
        assert isinstance(data, str), "the server must send text frames"
        frame: dict[str, Any] = json.loads(data)
        return frame

    async def recv_type(self, *types: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame of one of ``types``, skipping events the test did not ask for."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout=timeout)
                if frame["type"] in types:
                    return frame
                assert frame["type"] in ("presence", "typing", "read", "message"), frame

    async def request(self, frame: dict[str, Any], *types: str) -> dict[str, Any]:
        await self.send(frame)
        return await self.recv_type(*types, "error")

    async def no_frame(self, timeout: float = 0.3) -> None:
        with pytest.raises(TimeoutError):
            frame = await self.recv(timeout=timeout)
            raise AssertionError(f"unexpected frame {frame}")

    async def join(self, room: str, since: int | None = None) -> tuple[dict[str, Any], ...]:
        frame: dict[str, Any] = {"type": "join", "room": room}
        if since is not None:
            frame["since"] = since
        joined = await self.request(frame, "joined")
        assert joined["type"] == "joined", joined
        history = await self.recv_type("history")
        return joined, history

    async def say(self, room: str, body: str, msg_id: str) -> dict[str, Any]:
        ack = await self.request({"type": "send", "room": room, "body": body, "id": msg_id}, "ack")
        assert ack["type"] == "ack", ack
        return ack


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


@pytest.fixture
async def make_server(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Start servers with chosen settings (all on port 0 and a tmp SQLite file)."""
    running: list[Running] = []

    async def factory(**overrides: Any) -> ChatServerUnderTest:
        fields: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "db_path": tmp_path / "chat.db",
            **lenient_login_settings(),
            "revocation_check": 0.2,
        }
        fields.update(overrides)
        settings = Settings(**fields)
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

LISTENING = re.compile(r"listening on (wss?://\S+)")


@dataclasses.dataclass
class ServerProcess:
    proc: subprocess.Popen[str]
    url: str

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout)


def spawn_server(db: Path, *args: str, timeout: float = 20.0, port: int = 0) -> ServerProcess:
    """Run ``chat-server serve`` (on port 0 unless told) and wait for its ``listening on`` line."""
    command = ["serve", "--port", str(port), "--db", str(db), *LENIENT_LOGIN_FLAGS, *args]
    proc = subprocess.Popen(
        [sys.executable, "-m", "chat_server", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    if not selector.select(timeout):
        proc.kill()
        raise AssertionError("the server did not start in time")
    line = proc.stdout.readline()
    match = LISTENING.search(line)
    if match is None:
        proc.kill()
        raise AssertionError(f"unexpected first line {line!r}")
    return ServerProcess(proc, match[1])


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def factory(*args: str, db: Path | None = None, port: int = 0) -> ServerProcess:
        process = spawn_server(db or tmp_path / "chat.db", *args, port=port)
        started.append(process)
        return process

    yield factory
    for process in started:
        process.stop()
