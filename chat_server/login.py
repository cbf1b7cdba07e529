"""From the handshake to ``welcome``: hello frames, passwords and tokens, the login throttle.

A connection that says anything but a valid ``hello`` gets an error frame and may try
again until ``hello_timeout``; a failed login is answered ``auth_failed`` and closed 1008.
Password guesses for one nick wait their turn behind a growing delay (``LoginThrottle``);
hashing runs off the event loop, a few at a time (``Passwords``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from chat_server import protocol as p
from chat_server.addresses import peer
from chat_server.auth import new_token, token_hash
from chat_server.context import Context
from chat_server.errors import Conflict, ProtocolError, StoreError
from chat_server.hub import Session
from chat_server.ratelimit import TokenBucket
from chat_server.store import User

log = logging.getLogger("chat_server")


async def login(ctx: Context, ws: ServerConnection) -> Session | None:
    """Read frames until a valid hello; None when the connection was closed instead."""
    settings = ctx.settings
    deadline = asyncio.get_running_loop().time() + settings.hello_timeout
    abuse = TokenBucket(settings.abuse_per_second, settings.abuse_burst, 0.0)
    try:
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    data = await ws.recv()
            except TimeoutError:
                log.info("auth failure from %s: no hello in time", peer(ws))
                await ws.close(p.CLOSE_POLICY, "no hello in time")
                return None
            if isinstance(data, bytes):
                await ws.close(p.CLOSE_UNSUPPORTED, "binary frames are not supported")
                return None
            try:
                frame = p.decode_client_frame(data)
                if not isinstance(frame, p.Hello):
                    raise ProtocolError("auth_required", "say hello first", frame.ref)
                return await _authenticate(ctx, ws, frame)
            except ProtocolError as exc:
                await ws.send(p.refusal_frame(exc), text=True)
                if exc.code == "auth_failed":
                    await ws.close(p.CLOSE_POLICY, "authentication failed")
                    return None
                if not abuse.take(time.monotonic()):
                    await ws.close(p.CLOSE_POLICY, "too many bad frames")
                    return None
            except StoreError as exc:
                log.error("login failed on storage: %s", exc)
                await ws.send(p.error_frame("internal", "storage unavailable"), text=True)
            except ConnectionClosed:
                raise
            except Exception:  # a bug must cost one request, never the connection
                log.exception("login request failed")
                await ws.send(p.error_frame("internal", "the request failed"), text=True)
    except ConnectionClosed:
        return None


async def _authenticate(ctx: Context, ws: ServerConnection, hello: p.Hello) -> Session:
    created = False
    store, settings = ctx.store, ctx.settings
    if hello.token is not None:
        token = hello.token
        digest = token_hash(token)
        found = await store.user_by_token(digest, time.time())
        if found is None:
            log.info("auth failure from %s: unknown token", peer(ws))
            raise ProtocolError("auth_failed", "unknown or revoked token", hello.ref)
        user = found
    else:
        assert hello.nick is not None and hello.password is not None
        user, created = await _password_login(ctx, ws, hello.nick, hello.password, hello.ref)
        token = new_token()
        digest = token_hash(token)
        ttl = settings.token_ttl
        await store.add_token(user.id, digest, time.time() + ttl if ttl else None)
    rooms = await store.user_rooms(user.id)
    welcome = p.Welcome(
        nick=user.nick,
        token=token,
        created=created,
        protocol=p.PROTOCOL_VERSION,
        server=settings.server_name,
        limits=ctx.limits,
        rooms=rooms,
        ref=hello.ref,
    )
    await ws.send(p.encode(welcome), text=True)
    now = time.monotonic()
    return Session(
        ws,
        user.id,
        user.nick,
        digest,
        sends=ctx.sends.hold(user.id, now),  # let go when the connection ends (session.py)
        reads=TokenBucket(settings.read_rate, settings.read_burst, now),
        searches=TokenBucket(settings.search_rate, settings.search_burst, now),
        abuse=TokenBucket(settings.abuse_per_second, settings.abuse_burst, now),
        typing_interval=settings.typing_interval,
    )


async def _password_login(
    ctx: Context, ws: ServerConnection, nick: str, password: str, ref: str | None
) -> tuple[User, bool]:
    key = p.nick_key(nick)
    lock = await _wait_turn(ctx, ws, key)
    store = ctx.store
    try:
        user = await store.user_by_nick(nick)
        if user is None and ctx.settings.signup:
            digest = await ctx.passwords.hash(password)
            try:
                return await store.create_user(nick, digest), True
            except Conflict:  # lost a race for the nick (on another node)
                log.info("signup of %s lost a race for the nick", nick)
                user = await store.user_by_nick(nick)
        ok = False
        if user is not None and user.password_hash is not None and not user.removed:
            ok, rehashed = await ctx.passwords.verify(user.password_hash, password)
            if ok and rehashed is not None:
                await store.set_password_hash(user.id, rehashed)
        if not ok or user is None:
            ctx.throttle.failed(key, time.monotonic())
            ctx.broker.share_login(key, failed=True)
            reason = "unknown nick" if user is None else "wrong password"
            log.info("auth failure from %s: %s for %s", peer(ws), reason, nick)
            raise ProtocolError("auth_failed", "wrong nick or password", ref)
        ctx.throttle.succeeded(key)
        ctx.broker.share_login(key, failed=False)
        return user, False
    finally:
        ctx.throttle.release(lock)


async def _wait_turn(ctx: Context, ws: ServerConnection, key: str) -> asyncio.Lock:
    """The nick's turn to try a password, or ConnectionClosed if the connection closes
    first: a guess whose client left (or whose server is stopping) is not tried, and
    does not keep a shutdown waiting for the delays of every guess queued behind it."""
    throttle = ctx.throttle
    turn = asyncio.ensure_future(throttle.wait_turn(key))
    closed = asyncio.ensure_future(ws.wait_closed())
    try:
        await asyncio.wait((turn, closed), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # this handler was cancelled: never keep the nick locked
        turn.cancel()
        await asyncio.wait((turn,))
        if not turn.cancelled():
            throttle.release(turn.result())
        raise
    finally:
        closed.cancel()
    if not turn.done():
        turn.cancel()
        await asyncio.wait((turn,))  # wait_turn releases the lock when cancelled
    if turn.cancelled():
        raise ws.close_exc
    return turn.result()
