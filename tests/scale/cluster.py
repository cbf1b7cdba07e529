"""A test rig for several chat-server nodes: a fresh PostgreSQL schema, Redis, node processes,
and clients that keep each room's timeline the way the protocol tells clients to (gaps filled
from ``history after``, duplicates dropped by seq).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import LISTENING, ServerProcess
from tests.limits import LENIENT_LOGIN_FLAGS

WAIT = 15.0  # generous: the machine is shared and busy
Frame = dict[str, Any]


# --- services -------------------------------------------------------------------------------


class PostgresSchema:
    """A fresh schema in the test database; ``url`` points a server or store at it."""

    def __init__(self, database_url: str) -> None:
        self.admin_url = database_url
        self.name = f"test_{uuid.uuid4().hex[:16]}"
        joiner = "&" if "?" in database_url else "?"
        self.url = f"{database_url}{joiner}search_path={self.name}"

    async def _run(self, statement: str) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    async def create(self) -> None:
        await self._run(f"CREATE SCHEMA {self.name}")

    async def drop(self) -> None:
        await self._run(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRedis:
    """A redis-server of the test's own on a free port (never the machine's shared one)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise AssertionError("the private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(WAIT)
        self.proc = None


# --- nodes ----------------------------------------------------------------------------------


class Cluster:
    """``chat-server serve`` processes sharing one database and one Redis channel prefix."""

    def __init__(self, tmp_path: Path, database_url: str, redis_url: str) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.redis_url = redis_url
        self.prefix = f"chat-test-{uuid.uuid4().hex[:12]}"
        self.nodes: list[ServerProcess] = []

    def start_node(
        self, *extra: str, redis_url: str | None = None, presence_ttl: float = 10.0
    ) -> ServerProcess:
        """A node; a short ``presence_ttl`` makes a dead node's users go offline quickly."""
        index = len(self.nodes)
        log = (self.tmp_path / f"node{index}.log").open("w")
        args = [
            sys.executable, "-m", "chat_server", "serve", "--port", "0",
            "--database-url", self.database_url, "--redis-url", redis_url or self.redis_url,
            "--redis-prefix", self.prefix, "--presence-ttl", str(presence_ttl),
            "--rate", "1000", "--burst", "1000", *LENIENT_LOGIN_FLAGS, *extra,
        ]  # fmt: skip
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        log.close()
        assert proc.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ)
        ready = selector.select(30.0)
        line = proc.stdout.readline() if ready else ""
        match = LISTENING.search(line)
        if match is None:
            proc.kill()
            raise AssertionError(f"node {index} did not start: {line!r}\n{self.log(index)}")
        node = ServerProcess(proc, match[1])
        self.nodes.append(node)
        return node

    def log(self, index: int) -> str:
        return (self.tmp_path / f"node{index}.log").read_text()

    def stop_all(self) -> None:
        for node in self.nodes:
            node.stop()

    async def publish_raw(self, *payloads: bytes) -> None:
        """Publish arbitrary bytes on the nodes' event channel."""
        import redis.asyncio as redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            for payload in payloads:
                await client.publish(f"{self.prefix}:events", payload)
        finally:
            await client.aclose()

    async def cleanup_redis(self) -> None:
        import redis.asyncio as redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{self.prefix}:*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


def healthz(url: str) -> Frame:
    """GET /healthz of the node serving ``url`` (ws://HOST:PORT/ws)."""
    http = url.replace("ws://", "http://").removesuffix("/ws") + "/healthz"
    with urllib.request.urlopen(http, timeout=5) as response:
        status: Frame = json.loads(response.read())
        return status


async def wait_health(url: str, status: str) -> None:
    deadline = time.monotonic() + WAIT
    while (await asyncio.to_thread(healthz, url))["status"] != status:
        assert time.monotonic() < deadline, f"{url} never became {status}"
        await asyncio.sleep(0.1)


def kill(node: ServerProcess) -> None:
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait(WAIT)


# --- clients --------------------------------------------------------------------------------


class View:
    """One room as a client sees it: messages by seq, plus how often each arrived live."""

    def __init__(self) -> None:
        self.messages: dict[int, Frame] = {}
        self.live: collections.Counter[int] = collections.Counter()
        self.live_order: list[int] = []
        self.filling = False

    @property
    def contiguous(self) -> int:
        """The last seq with no gap before it."""
        seq = 0
        while seq + 1 in self.messages:
            seq += 1
        return seq

    def ordered(self) -> list[Frame]:
        return [self.messages[seq] for seq in sorted(self.messages)]


_refs = itertools.count()


class Member:
    """A logged-in client; a reader task files every frame as it arrives."""

    def __init__(self, ws: ClientConnection, views: dict[str, View] | None = None) -> None:
        self.ws = ws
        self.nick = ""
        self.token = ""
        self.views: dict[str, View] = views if views is not None else {}
        self.presence: list[tuple[str, str, str]] = []
        self.reads: list[tuple[str, int]] = []
        self.frames: list[Frame] = []
        self._pending: dict[str, asyncio.Queue[Frame]] = {}
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, url: str, nick: str = "", *, token: str = "", views: dict[str, View] | None = None
    ) -> Member:
        ws = await connect(url, max_queue=None, open_timeout=WAIT, close_timeout=2)
        member = cls(ws, views)
        member._reader = asyncio.create_task(member._read())
        hello: Frame = {"type": "hello", "token": token} if token else {
            "type": "hello", "nick": nick, "password": "secret-pw"
        }  # fmt: skip
        welcome = await member.request(hello)
        assert welcome["type"] == "welcome", welcome
        member.nick, member.token = welcome["nick"], welcome["token"]
        return member

    def view(self, room: str) -> View:
        return self.views.setdefault(room, View())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for data in self.ws:
                frame: Frame = json.loads(data)
                self.frames.append(frame)
                await self._file(frame)
                async with self._changed:
                    self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    async def _file(self, frame: Frame) -> None:
        kind, ref = frame["type"], frame.get("ref")
        if kind == "message":
            view = self.view(frame["room"])
            view.live[frame["seq"]] += 1
            view.live_order.append(frame["seq"])
            view.messages.setdefault(frame["seq"], frame)
            await self._fill(frame["room"])
        elif kind == "presence":
            self.presence.append((frame["room"], frame["nick"], frame["status"]))
        elif kind == "read":
            self.reads.append((frame["room"], frame["seq"]))
        elif kind == "history":
            view = self.view(frame["room"])
            for message in frame["messages"]:
                view.messages.setdefault(message["seq"], {"type": "message", **message})
            if isinstance(ref, str) and ref.startswith("fill"):
                view.filling = False
                await self._fill(frame["room"], more=frame["more"])
        if ref in self._pending:
            self._pending[ref].put_nowait(frame)

    async def _fill(self, room: str, more: bool = False) -> None:
        """The protocol's gap rule: seen ``seq > last + 1``: fetch ``history after=last``."""
        view = self.view(room)
        gap = any(seq > view.contiguous + 1 for seq in view.messages)
        if (gap or more) and not view.filling:
            view.filling = True
            frame = {"type": "history", "room": room, "after": view.contiguous, "limit": 500}
            await self.ws.send(json.dumps({**frame, "ref": f"fill{next(_refs)}"}))

    async def request(self, frame: Frame, replies: int = 1) -> Frame:
        """Send a frame with a fresh ref; the last of ``replies`` frames echoing it."""
        return (await self.exchange(frame, replies))[-1]

    async def exchange(self, frame: Frame, replies: int) -> list[Frame]:
        """Send a frame with a fresh ref; the frames echoing it (up to an error)."""
        ref = f"r{next(_refs)}"
        queue: asyncio.Queue[Frame] = asyncio.Queue()
        self._pending[ref] = queue
        received: list[Frame] = []
        try:
            await self.ws.send(json.dumps({**frame, "ref": ref}))
            async with asyncio.timeout(WAIT):
                while len(received) < replies and "error" not in (f["type"] for f in received):
                    received.append(await queue.get())
            return received
        finally:
            del self._pending[ref]

    async def join(self, room: str, since: int | None = None) -> Frame:
        """``joined``, with the ``history`` frame that follows it under ``"history"``."""
        frame: Frame = {"type": "join", "room": room}
        if since is not None:
            frame["since"] = since
        joined, history = await self.exchange(frame, 2)
        assert (joined["type"], history["type"]) == ("joined", "history"), (joined, history)
        joined["history"] = history
        return joined

    async def send(self, body: str, msg_id: str, *, room: str = "", to: str = "") -> Frame:
        frame: Frame = {"type": "send", "body": body, "id": msg_id}
        frame.update({"to": to} if to else {"room": room})
        ack = await self.request(frame)
        assert ack["type"] == "ack", ack
        return ack

    async def wait_for(self, condition: Callable[[], bool], what: str = "") -> None:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(condition), WAIT)
            except TimeoutError:
                raise AssertionError(f"{self.nick} waited in vain for {what}") from None

    async def closed(self) -> None:
        """Wait until the server has closed this connection."""
        await self.wait_for(lambda: self.ws.close_code is not None, "the close")

    async def catch_up(self, room: str) -> None:
        """Page ``history after`` until the view holds everything the server has."""
        view = self.view(room)
        while True:
            page = await self.request(
                {"type": "history", "room": room, "after": view.contiguous, "limit": 500}
            )
            if not page["more"] and not page["messages"]:
                return

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            await self._reader
