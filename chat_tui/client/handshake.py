"""Open one logged-in connection to a chat-server: websocket handshake, then hello until welcome."""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from chat_server import protocol as p
from chat_server.ratelimit import TokenBucket
from chat_tui.client.errors import Busy, ConnectError, handshake_refusal, refusal


@dataclass
class Connection:
    """A websocket past ``welcome``, with the send pacing its limits ask for."""

    ws: ClientConnection
    welcome: p.Welcome
    bucket: TokenBucket
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # set by the client once resumed


async def open_connection(
    url: str,
    *,
    token: str | None,
    nick: str | None,
    password: str | None,
    invite: str | None = None,
    client_name: str,
    open_timeout: float,
    ssl: ssl_module.SSLContext | None,
) -> Connection:
    """One connection attempt; raises ConnectError, AuthError or ServerError (RateLimited)."""
    kwargs: dict[str, Any] = {}
    if ssl is not None:
        kwargs["ssl"] = ssl
    try:
        ws = await connect(
            url,
            open_timeout=open_timeout,
            compression=None,
            max_size=None,
            user_agent_header=client_name,
            **kwargs,
        )
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as exc:
        told = handshake_refusal(exc)  # busy: come back when it says
        if told is not None:
            raise told from exc
        # ConnectionClosed: the server dropped the connection while the handshake was
        # being sent (a server out of file descriptors, or killed at that moment)
        reason = str(exc) or type(exc).__name__
        raise ConnectError(f"cannot connect to {url}: {reason}") from exc
    if token is not None:
        hello = p.Hello(token=token, client=client_name)
    else:
        hello = p.Hello(nick=nick, password=password, client=client_name, invite=invite)
    try:
        welcome = await _hello(ws, hello, open_timeout)
    except BaseException:
        await ws.close()
        raise
    rate = welcome.limits.rate
    bucket = TokenBucket(rate.per_second, rate.burst, time.monotonic())
    return Connection(ws, welcome, bucket)


async def _hello(ws: ClientConnection, hello: p.Hello, timeout: float) -> p.Welcome:
    try:
        await ws.send(p.encode(hello), text=True)
        async with asyncio.timeout(timeout):
            while True:
                frame = p.decode_server_frame(await ws.recv())
                if isinstance(frame, p.Welcome):
                    return frame
                if isinstance(frame, p.Error):
                    raise refusal(frame.code, frame.message, frame.retry_after)
    except ConnectionClosed as exc:
        # a server stopping while it logs a crowd in says when to come back: keep to it
        closed = exc.rcvd
        wait = p.going_away_wait(closed.code, closed.reason) if closed else None
        if wait is not None:
            raise Busy("the server is restarting", wait) from exc
        raise ConnectError(f"the server closed the connection during login: {exc}") from exc
    except TimeoutError as exc:
        raise ConnectError("the server did not answer hello") from exc
    except msgspec.DecodeError as exc:
        raise ConnectError(f"the server does not speak protocol v1: {exc}") from exc
