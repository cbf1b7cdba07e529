"""One connection from handshake to close: login, then the receive loop that dispatches
each frame to its handler (``chat_server/requests/``) and turns errors into ``error``
frames, closing a connection that keeps sending bad ones, and slowing down one that keeps
asking while it is told to wait."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from chat_server import protocol as p
from chat_server.addresses import peer, shed_handshake
from chat_server.context import Context
from chat_server.errors import ChatError, ProtocolError, StoreError, wire_error
from chat_server.hub import Session
from chat_server.login import login
from chat_server.presence import Presence
from chat_server.requests import HANDLERS, Hangup

log = logging.getLogger("chat_server")

# Refusals (``rate_limited``) in a row a connection may earn at full speed: a client that
# pipelines past its budget gets them all answered at once. Past it, the connection's next
# request is read only after the wait it was told (at most MAX_PAUSE): asking again and
# again without waiting costs the server one refusal a second, not thousands.
TOLERATED_REFUSALS = 20
MAX_PAUSE = 1.0
# The event loop's time one connection's requests may take before it lets the others go
# first. A request already received is read without waiting (websockets hands over what is
# buffered at once), so a connection that pipelines a burst of big history pages would
# otherwise keep the loop for the whole burst, while everyone else's acks wait (a second
# and more, seen with 32 connections of one user asking 500-message pages).
TURN = 0.002


class Connections:
    """The websockets handler (:meth:`handle`), one call per connection."""

    def __init__(self, ctx: Context, presence: Presence) -> None:
        self.ctx = ctx
        self.presence = presence
        self._logins: set[asyncio.Task[Any]] = set()  # handlers still before their welcome
        self._stopping = False

    def abandon_logins(self) -> None:
        """At shutdown: stop the logins in progress (waiting in line for a password hash)
        rather than work through them for clients that are being disconnected."""
        self._stopping = True
        for task in self._logins:
            task.cancel()

    async def handle(self, ws: ServerConnection) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._logins.add(task)
        try:
            session = await login(self.ctx, ws)
        except asyncio.CancelledError:
            if self._stopping:
                # the server is closing the connection with 1001 (going away); returning
                # now would race that and close it with 1000, as if all were done
                await ws.wait_closed()
                return
            raise
        finally:
            self._logins.discard(task)
        if session is None:
            return
        hub, broker = self.ctx.hub, self.ctx.broker
        first = hub.attach(session)
        where = peer(ws)
        shed_handshake(ws)
        log.info(
            "connect %s from %s", session.nick, where,
            extra={"event": "connect", "nick": session.nick, "peer": where},
        )  # fmt: skip
        try:
            if first and await broker.user_online(session.user_id, session.nick):
                await self.presence.announce(session.user_id, session.nick, "online")
            await self._serve(session)
        except ConnectionClosed:
            pass
        finally:
            now = time.monotonic()
            self.ctx.sends.release(session.user_id, now)
            self.ctx.password_tries.release(session.user_id, now)
            self.ctx.read_bytes.release(session.user_id, now)
            last = hub.detach(session)
            self.ctx.metrics.closed(ws.close_code)
            log.info(
                "disconnect %s (%s)", session.nick, ws.close_code,
                extra={"event": "disconnect", "nick": session.nick, "peer": where,
                       "code": ws.close_code},
            )  # fmt: skip
            if last and await broker.user_offline(session.user_id):
                with contextlib.suppress(StoreError):
                    await self.presence.announce(session.user_id, session.nick, "offline")

    async def _serve(self, session: Session) -> None:
        ctx, ws = self.ctx, session.ws
        refused = 0  # requests refused rate_limited in a row
        busy = 0.0  # the time its requests took since this connection last let others go
        async for data in ws:
            if busy > TURN:
                await asyncio.sleep(0)
                busy = 0.0
            if isinstance(data, bytes):
                await ws.close(p.CLOSE_UNSUPPORTED, "binary frames are not supported")
                return
            ref: str | None = None
            began = time.perf_counter()
            try:
                frame = p.decode_client_frame(data)
                ref = frame.ref
                await HANDLERS[type(frame)](ctx, session, frame)
            except Hangup:
                return
            except ChatError as exc:
                error = wire_error(exc, ref)
                if error.code == "internal":
                    log.error(
                        "storage error for %s: %s", session.nick, exc,
                        extra={"event": "storage_error", "nick": session.nick},
                    )  # fmt: skip
            except ConnectionClosed:
                raise
            except Exception:  # a bug costs the request, and the connection only if repeated
                log.exception(
                    "request from %s failed", session.nick,
                    extra={"event": "request_failed", "nick": session.nick},
                )  # fmt: skip
                error = ProtocolError("internal", "the request failed", ref)
            else:
                refused = 0
                continue
            finally:
                busy += time.perf_counter() - began
            ctx.hub.write(session, p.refusal_frame(error))
            ctx.metrics.error(error.code)
            if error.code == "rate_limited":
                refused += 1
                if refused > TOLERATED_REFUSALS and not await _paused(
                    ws, min(error.retry_after or 1.0, MAX_PAUSE)
                ):
                    return  # closed meanwhile: what it queued is not worth answering
                continue
            refused = 0
            # a request that keeps failing (``internal`` too: input we failed to refuse, or a
            # broken disk) is a bad frame like any other; only slowing down is free
            if not session.abuse.take(time.monotonic()):
                await ws.close(p.CLOSE_POLICY, "too many bad frames")
                return


async def _paused(ws: ServerConnection, seconds: float) -> bool:
    """Wait ``seconds`` before reading ``ws``'s next request (asking on and on without waiting
    as told: what it sends meanwhile waits in its socket); False when it closed meanwhile."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await ws.wait_closed()
    return ws.state is State.OPEN
