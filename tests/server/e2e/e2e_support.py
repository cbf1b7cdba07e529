"""Helpers for the black-box end-to-end tests of chat-server (wire protocol v1).

Everything here talks to a real ``chat-server serve`` subprocess over 127.0.0.1 with the
synchronous websockets client; nothing imports ``chat_server``. The fixtures live in
``conftest.py``; this module has a unique name so test modules can import it without
clashing with other ``conftest`` modules of the project.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

Frame = dict[str, Any]

REPO = Path(__file__).resolve().parents[3]
STARTUP_TIMEOUT = 20.0
RECV_TIMEOUT = 5.0
LISTEN_RE = re.compile(r"^listening on ws://127\.0\.0\.1:(\d+)/ws$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
NOISE = frozenset({"presence", "typing", "read"})
SKIP_DEFAULT = NOISE | {"message"}

# Exact shapes (DESIGN.md "Wire protocol v1" plus the implementation notes).
WELCOME_KEYS = {"type", "nick", "token", "created", "protocol", "server", "limits", "rooms"}
WELCOME_ROOM_KEYS = {"room", "last_seq", "read_seq", "unread"}
JOINED_KEYS = {"type", "room", "last_seq", "members", "online"}
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
}


def uniq(prefix: str = "t") -> str:
    """A name unique to this run: ``prefix`` + 12 hex digits (valid nick and room)."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


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


def server_command() -> list[str]:
    exe = Path(sys.executable).parent / "chat-server"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "chat_server"]


@dataclass
class ServerProc:
    proc: subprocess.Popen[bytes]
    port: int
    db: Path
    log: Path
    stdout_lines: list[str]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_offset(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        try:
            with self.log.open("rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait; SIGKILL if it does not stop. Returns the exit code (None if killed)."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)


def start_server(db: Path, log: Path, extra: Iterable[str] = ()) -> ServerProc:
    cmd = [*server_command(), "serve", "--host", "127.0.0.1", "--port", "0", "--db", str(db)]
    cmd += list(extra)
    with log.open("ab") as err:
        proc = subprocess.Popen(
            cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err
        )
    lines: list[str] = []
    q: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(line)
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True, name=f"stdout-{proc.pid}").start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    port: int | None = None
    while port is None:
        remaining = deadline - time.monotonic()
        try:
            line = q.get(timeout=max(remaining, 0.01))
        except queue.Empty:
            line = None
            remaining = 0
        if line is None:
            proc.kill()
            proc.wait(5)
            why = "timed out" if remaining <= 0 else "stdout closed"
            pytest.fail(
                f"{' '.join(cmd)}: no 'listening on' line ({why}); stdout={lines}\n"
                f"stderr:\n{log.read_text(errors='replace')[-3000:]}"
            )
        m = LISTEN_RE.match(line)
        if m:
            port = int(m.group(1))
    return ServerProc(proc=proc, port=port, db=db, log=log, stdout_lines=lines)


# --------------------------------------------------------------------------- client


@dataclass
class User:
    nick: str
    password: str
    token: str


class Client:
    """A thin synchronous websocket client speaking JSON frames, with bounded waits."""

    def __init__(
        self,
        url: str,
        *,
        origin: str | None = None,
        timeout: float = RECV_TIMEOUT,
        compression: str | None = None,
        max_queue: int | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.ws: ClientConnection = connect(
            url,
            origin=Origin(origin) if origin is not None else None,
            compression=compression,
            open_timeout=10,
            close_timeout=2,
            max_size=2**24,
            # None: never stop reading (close() must see the server's close frame);
            # a small number makes a slow consumer that stops reading when it lags.
            max_queue=max_queue,
            legacy=True,
        )
        self.user: User | None = None
        self.welcome: Frame | None = None
        self.seen: list[Frame] = []

    # -- raw I/O

    @property
    def nick(self) -> str:
        assert self.user is not None, "not logged in"
        return self.user.nick

    def send(self, frame: Frame) -> None:
        self.ws.send(json.dumps(frame, ensure_ascii=False))

    def send_raw(self, data: str | bytes, *, text: bool | None = None) -> None:
        self.ws.send(data, text=text)

    def _parse(self, raw: str | bytes) -> Frame:
        if isinstance(raw, bytes):
            pytest.fail(f"server sent a Binary frame (must be Text): {raw[:200]!r}")
        frame = json.loads(raw)
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            pytest.fail(f"server frame is not an object with a type: {raw[:300]}")
        self.seen.append(frame)
        return frame

    def recv(self, timeout: float | None = None) -> Frame:
        wait = self.timeout if timeout is None else timeout
        try:
            raw = self.ws.recv(timeout=max(wait, 0.001))
        except TimeoutError:
            pytest.fail(f"no frame within {wait:.1f}s (last frames: {self.seen[-5:]})")
        except ConnectionClosed as exc:
            pytest.fail(f"connection closed unexpectedly: {exc!r} (last frames: {self.seen[-5:]})")
        return self._parse(raw)

    def recv_until(
        self,
        type_: str,
        timeout: float | None = None,
        *,
        skip: Iterable[str] = SKIP_DEFAULT,
        **match: Any,
    ) -> Frame:
        """The next frame of ``type_`` (whose fields equal ``match``), skipping ``skip`` types.

        Any other frame (an ``error`` above all) fails the test.
        """
        skipped = set(skip)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no {type_} {match or ''} frame in time (last: {self.seen[-5:]})")
            frame = self.recv(remaining)
            if frame["type"] == type_ and all(frame.get(k) == v for k, v in match.items()):
                return frame
            if frame["type"] in skipped:
                continue
            pytest.fail(f"expected a {type_} frame {match or ''}, got {frame}")

    def recv_until_any(
        self, types: Iterable[str], timeout: float | None = None, *, skip: Iterable[str] = NOISE
    ) -> Frame:
        """The next frame whose type is one of ``types``, skipping ``skip`` types."""
        wanted, skipped = set(types), set(skip)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no frame of {sorted(wanted)} in time (last: {self.seen[-5:]})")
            frame = self.recv(remaining)
            if frame["type"] in wanted:
                return frame
            if frame["type"] not in skipped:
                pytest.fail(f"expected one of {sorted(wanted)}, got {frame}")

    def frames_for(self, duration: float) -> list[Frame]:
        """Every frame arriving within ``duration`` seconds."""
        out: list[Frame] = []
        deadline = time.monotonic() + duration
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                raw = self.ws.recv(timeout=remaining)
            except TimeoutError:
                break
            except ConnectionClosed as exc:
                pytest.fail(f"connection closed unexpectedly: {exc!r}")
            out.append(self._parse(raw))
        return out

    def expect_no_frame(self, timeout: float = 0.3, *, ignore: Iterable[str] = ()) -> None:
        ignored = set(ignore)
        for frame in self.frames_for(timeout):
            if frame["type"] not in ignored:
                pytest.fail(f"unexpected frame {frame}")

    def expect_close(self, timeout: float = 5.0) -> int | None:
        """Wait for the server to close; returns the close code it sent (None: no close frame).

        Frames received before the close are kept in ``self.before_close``.
        """
        self.before_close: list[Frame] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"connection not closed within {timeout}s ({self.before_close[-5:]})")
            try:
                raw = self.ws.recv(timeout=remaining)
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd is not None else None
            self.before_close.append(self._parse(raw))

    def close(self) -> None:
        with contextlib.suppress(Exception):  # best effort in teardown
            self.ws.close()

    # -- requests

    def hello(
        self,
        nick: str | None = None,
        password: str | None = None,
        *,
        token: str | None = None,
        ref: str | None = None,
        client: str | None = None,
    ) -> Frame:
        frame: Frame = {"type": "hello"}
        if token is not None:
            frame["token"] = token
        else:
            frame["nick"] = nick
            frame["password"] = password
        if ref is not None:
            frame["ref"] = ref
        if client is not None:
            frame["client"] = client
        self.send(frame)
        welcome = self.recv_until("welcome", timeout=10)
        self.welcome = welcome
        if token is not None:
            self.user = User(nick=welcome["nick"], password="", token=token)
        else:
            assert password is not None
            self.user = User(nick=welcome["nick"], password=password, token=welcome["token"])
        return welcome

    def request(self, frame: Frame, reply: str, timeout: float | None = None) -> Frame:
        self.send(frame)
        return self.recv_until(reply, timeout)

    def error_for(self, frame: Frame, timeout: float | None = None) -> Frame:
        self.send(frame)
        return self.recv_until("error", timeout)

    def join(self, room: str, since: int | None = None) -> tuple[Frame, Frame]:
        frame: Frame = {"type": "join", "room": room}
        if since is not None:
            frame["since"] = since
        self.send(frame)
        joined = self.recv_until("joined", room=room)
        history = self.recv_until("history", skip=NOISE, room=room)
        return joined, history

    def send_msg(
        self, room: str | None, body: str, msg_id: str | None = None, *, to: str | None = None
    ) -> Frame:
        frame: Frame = {"type": "send", "body": body, "id": msg_id or uniq("m")}
        if to is not None:
            frame["to"] = to
        else:
            frame["room"] = room
        self.send(frame)
        ack = self.recv_until("ack", id=frame["id"])
        return ack

    def say(self, room: str, body: str, msg_id: str | None = None) -> tuple[Frame, Frame]:
        """Send to a room this connection joined: (ack, own message event)."""
        ack = self.send_msg(room, body, msg_id)
        msg = self.recv_until("message", room=room, seq=ack["seq"])
        return ack, msg

    def history(self, room: str, **params: Any) -> Frame:
        return self.request({"type": "history", "room": room, **params}, "history")

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

    def connect(self, *, origin: str | None = None, compression: str | None = None) -> Client:
        client = Client(self.server.url, origin=origin, compression=compression)
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
