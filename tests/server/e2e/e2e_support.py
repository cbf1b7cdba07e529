"""Helpers for the black-box end-to-end tests of chat-server (wire protocol v1).

Everything here talks to a real ``chat-server serve`` subprocess over 127.0.0.1 with the
synchronous websockets client (both from ``tests/support``); nothing imports ``chat_server``.
The fixtures live in ``conftest.py``; this module has a unique name so test modules can
import it without clashing with other ``conftest`` modules of the project.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.raw import NOISE as NOISE
from tests.support.raw import RECV_TIMEOUT as RECV_TIMEOUT
from tests.support.raw import SKIP_DEFAULT as SKIP_DEFAULT
from tests.support.raw import Frame as Frame
from tests.support.raw import SyncClient
from tests.support.raw import User as User
from tests.support.raw import uniq as uniq
from tests.support.servers import ServerProcess, spawn
from tests.support.servers import server_command as server_command

REPO = Path(__file__).resolve().parents[3]
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

# Exact shapes (DESIGN.md "Wire protocol v1" plus the implementation notes).
WELCOME_KEYS = {
    "type",
    "nick",
    "token",
    "created",
    "protocol",
    "server",
    "limits",
    "rooms",
    "blocked",
    "invites",  # protocol 2: pending invitations, [] when none
}
WELCOME_ROOM_KEYS = {"room", "last_seq", "read_seq", "unread"}
JOINED_KEYS = {"type", "room", "last_seq", "members", "online", "member_count"}
HISTORY_KEYS = {"type", "room", "messages", "more"}
STORED_MESSAGE_KEYS = {"room", "seq", "nick", "body", "ts", "id"}
MESSAGE_KEYS = STORED_MESSAGE_KEYS | {"type"}
ACK_KEYS = {"type", "id", "room", "seq", "ts"}
LEFT_KEYS = {"type", "room"}
RESULTS_KEYS = {"type", "messages"}
RESULT_KEYS = {"room", "seq", "nick", "body", "ts"}
ROOMS_KEYS = {"type", "rooms", "cursor"}
ROOM_ENTRY_KEYS = {"room", "members", "last_seq"}
READ_KEYS = {"type", "room", "seq"}
TYPING_KEYS = {"type", "room", "nick"}
PRESENCE_KEYS = {"type", "room", "nick", "status"}
ERROR_KEYS = {"type", "code", "message", "ref"}

DEFAULT_LIMITS: Frame = {
    "max_body": 4000,
    "max_frame": 65536,
    "history_max": 500,
    "rate": {"per_second": 20, "burst": 40},
    "reads": {"per_second": 10, "burst": 200},
    "search": {"per_second": 1, "burst": 10},
    "max_rooms": 100,
    "max_blocks": 1000,
    "edit_window_s": None,
}


def assert_keys(frame: Frame, keys: set[str], *, ref: str | None = None) -> None:
    """The frame has exactly ``keys`` (plus ``ref`` equal to ``ref`` when one was sent)."""
    expected = set(keys) | ({"ref"} if ref is not None else set())
    assert set(frame) == expected, f"keys {sorted(frame)} != {sorted(expected)} in {frame}"
    if ref is not None:
        assert frame["ref"] == ref, frame


def assert_ts(ts: object) -> None:
    """UTC ISO-8601 with milliseconds and ``Z``, assigned by the server (close to now)."""
    assert isinstance(ts, str) and TS_RE.match(ts), f"bad timestamp {ts!r}"
    when = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    drift = abs((datetime.now(UTC) - when).total_seconds())
    assert drift < 120, f"timestamp {ts} is {drift:.0f}s away from now (not UTC?)"


def assert_error(frame: Frame, code: str, ref: str | None = None) -> None:
    assert frame.get("type") == "error", frame
    # a refusal for going too fast says when to try again; no other error does
    keys = ERROR_KEYS | {"retry_after"} if code == "rate_limited" else ERROR_KEYS
    assert set(frame) == keys, f"error keys {sorted(frame)} in {frame}"
    assert frame["code"] == code, frame
    assert isinstance(frame["message"], str), frame
    assert frame["ref"] == ref, frame


def assert_people(value: object, nicks: Iterable[str]) -> None:
    """``members``/``online`` in ``joined``: a list of nicks (or, if a count, their number)."""
    expected = {n.lower() for n in nicks}
    if isinstance(value, list):
        assert all(isinstance(n, str) for n in value), value
        assert {n.lower() for n in value} == expected, f"{value} != {sorted(expected)}"
        assert len(value) == len(expected), f"duplicates in {value}"
    elif isinstance(value, int) and not isinstance(value, bool):
        assert value == len(expected), f"{value} != {len(expected)} ({sorted(expected)})"
    else:
        pytest.fail(f"members/online must be a list of nicks or a count, got {value!r}")


def dm_room(a: str, b: str) -> str:
    x, y = sorted((a.lower(), b.lower()))
    return f"dm:{x}:{y}"


def clean_model(text: str) -> str:
    """DESIGN.md's cleaning for text without ESC and without C1 string/CSI introducers."""
    text = text.replace("\r\n", "\n")
    return "".join(
        c
        for c in text
        if not ((ord(c) < 0x20 and c not in "\n\t") or c == "\x7f" or 0x80 <= ord(c) <= 0x9F)
    )


# --------------------------------------------------------------------------- server process

ServerProc = ServerProcess


def start_server(db: Path, log: Path, extra: Iterable[str] = ()) -> ServerProcess:
    """``chat-server serve`` on port 0 over ``db``, its stderr appended to ``log``."""
    return spawn(db, *extra, log=log)


# --------------------------------------------------------------------------- client


class Client(SyncClient):
    """The raw client, and the rooms list walked along its cursors."""

    def all_rooms(self, limit: int = 100) -> list[Frame]:
        """Every public room, page by page along the cursors (each page checked)."""
        listed: list[Frame] = []
        cursor: str | None = None
        while True:
            frame: Frame = {"type": "rooms", "limit": limit}
            if cursor is not None:
                frame["cursor"] = cursor
            page = self.request(frame, "rooms")
            assert_keys(page, ROOMS_KEYS)
            assert len(page["rooms"]) <= limit, page
            listed += page["rooms"]
            cursor = page["cursor"]
            if cursor is None:
                return listed


class AccountPool:
    """Accounts created once per session (a password hello costs ~0.2 s of argon2id).

    For tests that only need *some* logged-in user and work in rooms of their own.
    """

    def __init__(self, server: ServerProc) -> None:
        self.server = server
        self.users: dict[str, User] = {}

    def get(self, key: str) -> User:
        if key not in self.users:
            client = Client(self.server.url)
            try:
                client.hello(uniq("Pool_"), uniq("pw"))
                assert client.user is not None
                self.users[key] = client.user
            finally:
                client.close()
        return self.users[key]


class Chat:
    """Per-test access to one server: connections that are closed at teardown."""

    def __init__(self, server: ServerProc, pool: AccountPool | None = None) -> None:
        self.server = server
        self.pool = pool or AccountPool(server)
        self.clients: list[Client] = []

    def connect(
        self,
        *,
        origin: str | None = None,
        compression: str | None = None,
        source: str | None = None,
    ) -> Client:
        client = Client(self.server.url, origin=origin, compression=compression, source=source)
        self.clients.append(client)
        return client

    def signup(self, prefix: str = "u", nick: str | None = None) -> Client:
        """A new account (password hello) with its connection open."""
        client = self.connect()
        welcome = client.hello(nick or uniq(prefix), uniq("pw"))
        assert welcome["created"] is True, welcome
        return client

    def signups(self, count: int, prefix: str = "u") -> list[Client]:
        """``count`` new accounts, created concurrently (argon2id runs in server threads)."""
        with ThreadPoolExecutor(max_workers=count) as pool:
            futures = [pool.submit(self.signup, prefix) for _ in range(count)]
            return [f.result(timeout=30) for f in futures]

    def pooled(self, key: str) -> Client:
        """A connection of a shared session account (see AccountPool)."""
        return self.login(self.pool.get(key))

    def login(self, user: User) -> Client:
        """Another connection of an existing user (token hello: cheap)."""
        client = self.connect()
        client.hello(token=user.token)
        client.user = user
        return client

    def fill(self, user: User, room: str, count: int, prefix: str = "m") -> dict[int, str]:
        """Send ``count`` messages (bodies ``prefix<n>``, in order) staying under the rate limit.

        The limit is the user's, whatever the connection: the first window of sends spends
        part of the burst, and each later one waits for as many tokens as it spends (the
        rate the welcome announces). Returns seq -> body.
        """
        client = self.login(user)
        client.join(room)
        assert client.welcome is not None
        rate = client.welcome["limits"]["rate"]
        window = max(1, min(30, rate["burst"] * 3 // 4))
        stored: dict[int, str] = {}
        sent = 0
        while sent < count:
            if sent:
                time.sleep(window / rate["per_second"])
            batch = range(sent, min(sent + window, count))
            bodies = {f"{prefix}-{uuid.uuid4().hex[:8]}-{i}": f"{prefix}{i}" for i in batch}
            for msg_id, body in bodies.items():
                client.send({"type": "send", "room": room, "id": msg_id, "body": body})
            pending = set(bodies)
            while pending:
                ack = client.recv_until("ack")
                pending.discard(ack["id"])
                stored[ack["seq"]] = bodies[ack["id"]]
            sent += len(batch)
        client.close()
        return stored

    def close_all(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()


@dataclass
class ServerFactory:
    """Starts servers with extra flags for one test; all stopped at teardown."""

    tmp: Path
    started: list[ServerProc] = field(default_factory=list)

    def __call__(self, *flags: str, db: Path | None = None) -> ServerProc:
        n = len(self.started)
        server = start_server(db or self.tmp / f"own-{n}.db", self.tmp / f"own-{n}.log", flags)
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()
