"""Raw clients: JSON frames over a bare websocket, for tests of the server as a black box.

The async side (:func:`recv`, :func:`expect`, :func:`request` on a websockets connection, and
:class:`Client`) runs in the test's event loop; :class:`SyncClient` uses the threading client,
for tests that are not coroutines (the e2e suite, the browser tests). Both read frames through
:func:`decode`: every server frame is a JSON object with a ``type``, in a text frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection as SyncConnection
from websockets.sync.client import connect as sync_connect
from websockets.typing import Origin

Frame = dict[str, Any]

TIMEOUT = 10.0  # a frame the test waits for (recv, expect, request)
CLIENT_TIMEOUT = 5.0  # the same for :class:`Client`
RECV_TIMEOUT = 5.0  # the same for :class:`SyncClient`
# Events the server sends unasked, which a test waiting for a reply skips.
LIVE = ("presence", "typing", "read", "message", "edit", "delete", "react", "notice", "invite")
NOISE = frozenset({"presence", "typing", "read"})
SKIP_DEFAULT = NOISE | {"message"}


def uniq(prefix: str = "t") -> str:
    """A name unique to this run: ``prefix`` + 12 hex digits (valid nick and room)."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def decode(data: str | bytes) -> Frame:
    """A server frame: a JSON object with a ``type``, sent as a text frame."""
    assert isinstance(data, str), f"the server must send text frames, got {data[:200]!r}"
    frame = json.loads(data)
    assert isinstance(frame, dict), f"a server frame must be a JSON object: {data[:300]}"
    assert isinstance(frame.get("type"), str), f"a server frame must have a type: {data[:300]}"
    return frame


# --- async, on a bare connection -------------------------------------------------------------


async def recv(ws: ClientConnection, timeout: float = TIMEOUT) -> Frame:
    async with asyncio.timeout(timeout):
        data = await ws.recv()
    return decode(data)


async def expect(ws: ClientConnection, *types: str) -> Frame:
    """The next frame of ``types`` (or an error), skipping live events."""
    while True:
        reply = await recv(ws)
        if reply["type"] in (*types, "error"):
            return reply
        assert reply["type"] in LIVE, reply


async def request(ws: ClientConnection, frame: Frame, *types: str) -> Frame:
    """Send a frame and return the first reply of ``types`` (or an error), skipping events."""
    await ws.send(json.dumps(frame))
    return await expect(ws, *types)


class Client:
    """A test client speaking protocol v1 over a real websocket (see ``ChatServerUnderTest``)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.nick = ""
        self.token = ""

    async def send(self, frame: Frame) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = CLIENT_TIMEOUT) -> Frame:
        return await recv(self.ws, timeout)

    async def recv_type(self, *types: str, timeout: float = CLIENT_TIMEOUT) -> Frame:
        """The next frame of one of ``types``, skipping events the test did not ask for."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout=timeout)
                if frame["type"] in types:
                    return frame
                assert frame["type"] in LIVE, frame

    async def request(self, frame: Frame, *types: str) -> Frame:
        await self.send(frame)
        return await self.recv_type(*types, "error")

    async def no_frame(self, timeout: float = 0.3) -> None:
        with pytest.raises(TimeoutError):
            frame = await self.recv(timeout=timeout)
            raise AssertionError(f"unexpected frame {frame}")

    async def join(self, room: str, since: int | None = None) -> tuple[Frame, ...]:
        frame: Frame = {"type": "join", "room": room}
        if since is not None:
            frame["since"] = since
        joined = await self.request(frame, "joined")
        assert joined["type"] == "joined", joined
        history = await self.recv_type("history")
        return joined, history

    async def say(self, room: str, body: str, msg_id: str) -> Frame:
        ack = await self.request({"type": "send", "room": room, "body": body, "id": msg_id}, "ack")
        assert ack["type"] == "ack", ack
        return ack


# --- sync, with threads ----------------------------------------------------------------------


@dataclass
class User:
    nick: str
    password: str
    token: str


class SyncClient:
    """A thin synchronous client (threads, no event loop) with bounded waits; a failed wait
    fails the test. The black-box e2e suite and the browser tests talk through it."""

    def __init__(
        self,
        url: str,
        *,
        origin: str | None = None,
        timeout: float = RECV_TIMEOUT,
        compression: str | None = None,
        max_queue: int | None = None,
        source: str | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        # source: a loopback address to connect from (127.0.0.2, ...), for per-address limits
        extra: dict[str, Any] = {} if source is None else {"source_address": (source, 0)}
        self.ws: SyncConnection = sync_connect(
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
            **extra,
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
        frame = decode(raw)
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
