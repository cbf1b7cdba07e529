"""The abuse scenario's websocket plumbing: connections from a chosen address, logins, replies.

Its clients run on websockets' own client (the attacks need its close codes and HTTP
refusals). A frame is read from its ends only (:func:`head`), and a dropped connection is
told apart as a refusal (``rate_limited``, a 1008 or 1013 close, an HTTP refusal of the
handshake), which the scenario expects and counts, or another failure.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidStatus

ATTACKER = "127.0.0.2"
REFUSING_CLOSES = (1008, 1013)  # policy (abuse, failed login, over a cap), try again later
# what a client library raises when the server refuses or drops a connection
DROPPED = (ConnectionClosed, InvalidHandshake, OSError)
_TYPE = re.compile(rb'^\{"type":"(\w+)"')
_REF = re.compile(rb'"ref":(?:"([^"]*)"|null)\}$')


def ws_url(host: str, port: int) -> str:
    return f"ws://{host}:{port}/ws"


def head(data: bytes) -> tuple[str, str | None, str | None]:
    """(type, ref, error code) of a server frame. A big one (a 9 MB room list, a history
    page) is read from its ends only: msgspec writes ``type`` first and ``ref`` last."""
    if len(data) < 65536:
        frame = json.loads(data)
        return frame.get("type", ""), frame.get("ref"), frame.get("code")
    kind = _TYPE.match(data)
    ref = _REF.search(data[-300:])
    return (
        kind[1].decode() if kind else "",
        ref[1].decode() if ref and ref[1] is not None else None,
        None,
    )


def why(exc: BaseException) -> str:
    """A dropped connection in a few words: ``HTTP 503``, ``close 1013``, ``OSError``."""
    if isinstance(exc, InvalidStatus):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, ConnectionClosed):
        return f"close {exc.rcvd.code}" if exc.rcvd is not None else "dropped"
    return type(exc).__name__


def refused(exc: BaseException) -> bool:
    """Whether a client error is the server refusing (HTTP status, a 1008/1013 close, or a
    socket closed or reset before any HTTP answer: an address told to wait that came back
    early has its sockets closed at accept)."""
    if isinstance(exc, (InvalidStatus, InvalidMessage, ConnectionResetError)):
        return True
    if isinstance(exc, ConnectionClosed):
        return exc.rcvd is not None and exc.rcvd.code in REFUSING_CLOSES
    return False


async def open_ws(
    url: str, *, source: str | None = None, rcvbuf: int | None = None
) -> ClientConnection:
    """A websocket connection (no compression, no keepalive, frames of any size), from the
    ``source`` address, with a small receive buffer when ``rcvbuf`` is given."""
    options: dict[str, Any] = {}
    if rcvbuf is not None:
        host, port = url.split("/")[2].rsplit(":", 1)
        sock = socket.socket()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.bind((source or "127.0.0.1", 0))
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        except BaseException:
            sock.close()
            raise
        options["sock"] = sock
    elif source is not None:
        options["local_addr"] = (source, 0)
    return await connect(
        url,
        compression=None,
        open_timeout=None,  # the caller's timeout governs
        ping_interval=None,
        close_timeout=1,
        max_size=None,
        **options,
    )


async def reply(ws: ClientConnection, ref: str) -> tuple[str, str | None]:
    """Frames until the one answering ``ref``: its (type, error code)."""
    while True:
        data = await ws.recv(decode=False)
        kind, got, code = head(data if isinstance(data, bytes) else data.encode())
        if got == ref:
            return kind, code


async def login(ws: ClientConnection, hello: str) -> tuple[str, str | None]:
    """Send a hello (its ref is ``login``) and return the answer's (type, error code)."""
    await ws.send(hello)
    return await reply(ws, "login")


def hello(*, token: str = "", nick: str = "", password: str = "") -> str:
    if token:
        return f'{{"type":"hello","token":"{token}","client":"bench","ref":"login"}}'
    return (
        f'{{"type":"hello","nick":"{nick}","password":"{password}","client":"bench","ref":"login"}}'
    )


def discard(ws: ClientConnection | None) -> None:
    """Drop a connection at once (no closing handshake to wait for)."""
    if ws is not None:
        ws.transport.abort()
