"""Fixtures for the client library and the scripting commands: restartable servers, a relay."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from chat_server.config import Settings
from chat_server.server import Running, start
from chat_tui.client import ChatClient
from chat_tui.client.sequencing import Backoff
from tests.limits import lenient_login_settings

FAST_BACKOFF = Backoff(base=0.05, factor=2.0, cap=0.5)


@dataclasses.dataclass
class RestartableServer:
    """An in-process chat-server that can stop and come back on the same port and database."""

    db_path: Path
    overrides: dict[str, Any]
    port: int = 0
    running: Running | None = None

    async def start(self) -> None:
        settings = Settings(
            host="127.0.0.1",
            port=self.port,
            db_path=self.db_path,
            revocation_check=0.2,
            **{**lenient_login_settings(), **self.overrides},
        )
        self.running = await start(settings)
        self.port = self.running.port

    async def stop(self) -> None:
        if self.running is not None:
            running, self.running = self.running, None
            await running.stop()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def account(self, nick: str, password: str = "secret-pw") -> str:
        """Create (or log in) ``nick`` and return a token for it."""
        async with connect(self.url) as ws:
            await ws.send(json.dumps({"type": "hello", "nick": nick, "password": password}))
            welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        token: str = welcome["token"]
        return token

    def client(self, token: str, **kwargs: Any) -> ChatClient:
        kwargs.setdefault("backoff", FAST_BACKOFF)
        return ChatClient(self.url, token=token, **kwargs)


ServerMaker = Callable[..., Any]


@pytest.fixture
async def make_chat(tmp_path: Path) -> AsyncIterator[ServerMaker]:
    made: list[RestartableServer] = []

    async def factory(**overrides: Any) -> RestartableServer:
        server = RestartableServer(tmp_path / f"chat{len(made)}.db", overrides)
        await server.start()
        made.append(server)
        return server

    yield factory
    for server in made:
        await server.stop()


@pytest.fixture
async def chat(make_chat: ServerMaker) -> RestartableServer:
    server: RestartableServer = await make_chat()
    return server


# --- a relay that loses frames, as a flaky network or a lost pub/sub event would ------------

Verdict = str  # "pass", "drop", or "close"


class Relay:
    """A websocket relay between client and server; ``judge`` decides the fate of each
    server frame on its way to the client."""

    def __init__(self, upstream: str, judge: Callable[[dict[str, Any]], Verdict]) -> None:
        self.upstream = upstream
        self.judge = judge
        self.server: Server | None = None

    async def __aenter__(self) -> Relay:
        self.server = await serve(self._handle, "127.0.0.1", 0, compression=None)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/ws"

    async def _handle(self, client: ServerConnection) -> None:
        async with connect(self.upstream, compression=None, max_size=None) as upstream:

            async def up() -> None:
                async for data in client:
                    await upstream.send(data)

            async def down() -> None:
                async for data in upstream:
                    verdict = self.judge(json.loads(data))
                    if verdict == "close":
                        await client.close()
                        return
                    if verdict == "pass":
                        await client.send(data)

            tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
            with contextlib.suppress(ConnectionClosed):
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
