"""Fixtures of the fault campaign: a ``chat-server`` subprocess that can be killed and restarted
on the same port and database, cheap accounts, /proc readers and bounded waits.

Everything here is shared by the reliability test modules (imported read-only by the storage,
stateful and fuzz tests too); a module-specific helper belongs in its own test module.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from chat_server import protocol as p
from chat_server.auth import new_token, token_hash
from chat_server.config import Settings
from chat_server.store import create_store
from chat_tui.client import ChatClient
from chat_tui.client.events import StatusChanged
from chat_tui.client.sequencing import Backoff
from tests.limits import LENIENT_LOGIN_FLAGS
from tests.support.servers import LISTENING as LISTENING
from tests.support.servers import ServerProcess
from tests.support.servers import free_port as free_port

WAIT = 20.0  # generous: the machine is shared and loaded
# Every reliability test runs its server with this: the faults, not the rate limit, are tested;
# ``--synchronous normal`` is as safe against a killed process as ``full`` (the WAL is in the
# OS cache), and makes the 50 crash cycles take a third of the time on this machine.
# Every client of these tests comes from 127.0.0.1: the per-address caps would take a thousand
# users for one attacker (tests/server/test_connection_caps.py tests those caps).
FAST_FLAGS = (
    *("--rate", "100000", "--burst", "100000", "--synchronous", "normal"),
    *("--max-connections-per-address", "100000", "--max-pending-per-address", "100000"),
    *LENIENT_LOGIN_FLAGS,
)
# Quick retries, still jittered: a restart is over in well under a second here.
FAST_BACKOFF = Backoff(base=0.05, factor=2.0, cap=0.5)


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's RLIMIT_NOFILE towards ``wanted`` (a storm opens many sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- /proc readers ---------------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    """VmRSS of a process, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


# --- bounded waits ---------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], bool], what: str, timeout: float = WAIT, interval: float = 0.05
) -> None:
    """Poll ``predicate`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]],
    what: str,
    timeout: float = WAIT,
    interval: float = 0.05,
) -> None:
    """The asyncio :func:`wait_until`: ``predicate`` may be a plain or an async function."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


# --- accounts without argon2 -----------------------------------------------------------------


async def mint_tokens(db: Path, nicks: list[str]) -> dict[str, str]:
    """Create ``nicks`` (no password: argon2 costs ~0.1 s each) with one token each.

    Works on a database a server is using too (SQLite WAL); returns nick -> token.
    """
    store = create_store(Settings(db_path=db))
    await store.open()
    tokens: dict[str, str] = {}
    try:
        for nick in nicks:
            user = await store.user_by_nick(nick) or await store.create_user(nick, "!")
            token = new_token()
            await store.add_token(user.id, token_hash(token), None)
            tokens[nick] = token
    finally:
        await store.close()
    return tokens


# --- a restartable chat-server subprocess ----------------------------------------------------

# ``chat-server serve`` on a fixed port and database, restartable after a kill; its stderr goes
# to ``log`` (appended across restarts) so a test can check that the server never logged a
# traceback while it was being abused.
ServerProc = ServerProcess
ServerFactory = Callable[..., ServerProcess]


@pytest.fixture
def reliable_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Make (not start) restartable servers, each on a port of its own chosen now (its URL is
    known before it starts) with :data:`FAST_FLAGS`; every one still running is killed
    afterwards."""
    made: list[ServerProcess] = []

    def factory(*args: str, db: Path | None = None, name: str = "chat") -> ServerProcess:
        db = db or tmp_path / f"{name}.db"
        server = ServerProcess(db, tmp_path / f"{name}.log", (*FAST_FLAGS, *args), free_port())
        made.append(server)
        return server

    yield factory
    for server in made:
        with contextlib.suppress(Exception):
            server.kill()


@contextlib.asynccontextmanager
async def health_poller(server: ServerProc, interval: float = 0.2) -> AsyncIterator[list[float]]:
    """Poll /healthz from a thread while the block runs; yields the list of answer times.

    Every poll must answer (HTTP 200, ``status`` ok) while the server process is up: a failed
    poll is re-raised when the block ends.
    """
    answers: list[float] = []
    stop = asyncio.Event()

    def poll_once() -> None:
        body = server.health()
        assert body["status"] == "ok", body

    async def loop() -> None:
        while not stop.is_set():
            await asyncio.to_thread(poll_once)
            answers.append(time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    task = asyncio.create_task(loop())
    try:
        yield answers
    finally:
        stop.set()
        await task


# --- users as a client library sees them ---------------------------------------------------


class Member:
    """A :class:`ChatClient` and what its user was shown: every message, per room, in order;
    who went offline; how often the connection was lost."""

    def __init__(self, url: str, token: str, backoff: Backoff = FAST_BACKOFF) -> None:
        self.client = ChatClient(url, token=token, backoff=backoff)
        self.seen: dict[str, list[p.MessageRecord]] = {}
        self.went_offline: set[str] = set()
        self.reconnects = 0
        self._reader: asyncio.Task[None] | None = None

    async def start(self, *rooms: str) -> None:
        """Connect and join ``rooms`` (backlog included in the view), then keep reading."""
        await self.client.connect()
        for room in rooms:
            joined = await self.client.join(room)
            self.seen[room] = list(joined.messages)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for event in self.client.events():
            if isinstance(event, p.MessageRecord):
                self.seen.setdefault(event.room, []).append(event)
            elif isinstance(event, p.Presence) and event.status == "offline":
                self.went_offline.add(event.nick)
            elif isinstance(event, StatusChanged) and event.status.state == "reconnecting":
                self.reconnects += 1

    def last(self, room: str) -> int:
        messages = self.seen.get(room)
        return messages[-1].seq if messages else 0

    async def close(self) -> None:
        await self.client.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._reader, WAIT)


async def full_history(url: str, token: str, room: str) -> list[p.MessageRecord]:
    """Every stored message of ``room``, as a fresh client pages through it."""
    async with ChatClient(url, token=token, reconnect=False) as client:
        await client.join(room)
        messages: list[p.MessageRecord] = []
        while True:
            after = messages[-1].seq if messages else 0
            page = await client.history(room, after=after, limit=p.HISTORY_MAX)
            messages.extend(page.messages)
            if not page.more:
                return messages


def assert_no_gap(messages: list[p.MessageRecord]) -> None:
    """A room's history: seqs 1..n, each once, in order."""
    seqs = [m.seq for m in messages]
    assert seqs == list(range(1, len(seqs) + 1)), f"gap or repeat in seqs {seqs[:50]}..."
