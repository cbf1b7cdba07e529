"""From the handshake to ``welcome``: hello frames, passwords and tokens, the login limits.

A connection that says anything but a valid ``hello`` gets an error frame and may try
again until ``hello_timeout``; a failed login is answered ``auth_failed`` and closed 1008.
A password hello over a limit (failed logins per address or per nick, signups per address:
``attempts.py``; a full password-hash queue) is answered ``rate_limited`` with
``retry_after`` at once and closed 1008: no hello waits for a limit, and a refused one costs
no password hash. Hashing runs off the event loop, a few at a time, logins of existing
accounts before signups (``auth.Passwords``). A new nick signs up as ``--signup`` allows: a
signup that needs an invite code and lacks a valid one is refused with ``forbidden`` (so
a client can tell it from a wrong password and ask for a code) and closed 1008. A user
who already holds ``--max-connections-per-user`` connections is refused with
``rate_limited`` and closed 1013.
"""

from __future__ import annotations

import asyncio
import logging
import time

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from chat_server import protocol as p
from chat_server.addresses import client_address, peer
from chat_server.attempts import Attempt
from chat_server.auth import Priority, new_token, token_hash
from chat_server.context import Context
from chat_server.errors import (
    ChatError,
    Conflict,
    Forbidden,
    ProtocolError,
    TooManyConnections,
    wire_error,
)
from chat_server.hub import Session
from chat_server.ratelimit import TokenBucket
from chat_server.store import User
from chat_server.store.base import Invite, invite_refused

log = logging.getLogger("chat_server")

# A refused hello ends the connection with 1008 and this reason.
_CLOSING = {
    "auth_failed": "authentication failed",
    "forbidden": "invite code needed",  # a signup without a valid invite code
    "rate_limited": "too many attempts",
}


async def login(ctx: Context, ws: ServerConnection) -> Session | None:
    """Read frames until a valid hello; None when the connection was closed instead."""
    settings = ctx.settings
    deadline = asyncio.get_running_loop().time() + settings.hello_timeout
    abuse = settings.bad_frames.bucket(0.0)
    try:
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    data = await ws.recv()
            except TimeoutError:
                where = peer(ws)
                log.info(
                    "auth failure from %s: no hello in time", where,
                    extra={"event": "auth_failure", "peer": where, "reason": "no hello"},
                )  # fmt: skip
                await ws.close(p.CLOSE_POLICY, "no hello in time")
                return None
            if isinstance(data, bytes):
                await ws.close(p.CLOSE_UNSUPPORTED, "binary frames are not supported")
                return None
            ref: str | None = None
            try:
                frame = p.decode_client_frame(data)
                ref = frame.ref
                if not isinstance(frame, p.Hello):
                    raise ProtocolError("auth_required", "say hello first", frame.ref)
                return await _authenticate(ctx, ws, frame)
            except TooManyConnections as exc:
                # not a failed login: the slot frees when one of the user's connections
                # closes, so "try again later" (1013), and a token that stays good (not 1008)
                ctx.metrics.error(exc.code)
                await ws.send(p.refusal_frame(exc), text=True)
                await ws.close(p.CLOSE_TRY_AGAIN, "too many connections for this user")
                return None
            except ChatError as exc:
                error = wire_error(exc, ref)
                if error.code == "internal":
                    log.error("login failed on storage: %s", exc)
                elif error.code == "rate_limited" and error.retry_after:
                    ctx.doorman.told_to_wait(ws, error.retry_after)
                elif error.code == "auth_failed":
                    ctx.metrics.login_failed()
                ctx.metrics.error(error.code)
                await ws.send(p.refusal_frame(error), text=True)
                if error.code in _CLOSING:
                    await ws.close(p.CLOSE_POLICY, _CLOSING[error.code])
                    return None
                if error.code != "internal" and not abuse.take(time.monotonic()):
                    await ws.close(p.CLOSE_POLICY, "too many bad frames")
                    return None
            except ConnectionClosed:
                raise
            except Exception:  # a bug must cost one request, never the connection
                log.exception("login request failed")
                ctx.metrics.error("internal")
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
            where = peer(ws)
            log.info(
                "auth failure from %s: unknown token", where,
                extra={"event": "auth_failure", "peer": where, "reason": "unknown token"},
            )  # fmt: skip
            raise ProtocolError("auth_failed", "unknown or revoked token", hello.ref)
        user, expires_at = found.user, found.expires_at
        _take_user_slot(ctx, ws, user, hello.ref)
    else:
        user, created = await _password_login(ctx, ws, hello)
        _take_user_slot(ctx, ws, user, hello.ref)  # before a token is made for nothing
        token = new_token()
        digest = token_hash(token)
        ttl = settings.token_ttl
        expires_at = time.time() + ttl if ttl else None
        await store.add_token(user.id, digest, expires_at)
    rooms = await store.user_rooms(user.id)
    blocked = await store.blocked_nicks(user.id, settings.max_blocks_per_user)
    welcome = p.Welcome(
        nick=user.nick,
        token=token,
        created=created,
        protocol=p.PROTOCOL_VERSION,
        server=settings.server_name,
        limits=ctx.limits,
        rooms=rooms,
        blocked=blocked,
        admin=user.admin,
        invites=await store.invites(user.id),
        ref=hello.ref,
    )
    await ws.send(p.encode(welcome), text=True)
    now = time.monotonic()
    return Session(
        ws,
        user.id,
        user.nick,
        digest,
        expires_at,
        sends=ctx.sends.hold(user.id, now),  # let go when the connection ends (session.py)
        reads=TokenBucket(settings.read_rate, settings.read_burst, now),
        searches=TokenBucket(settings.search_rate, settings.search_burst, now),
        abuse=settings.bad_frames.bucket(now),
        password_tries=ctx.password_tries.hold(user.id, now),  # let go with sends
        read_bytes=ctx.read_bytes.hold(user.id, now),  # let go with sends
        typing_interval=settings.typing_interval,
    )


def _take_user_slot(ctx: Context, ws: ServerConnection, user: User, ref: str | None) -> None:
    """Count the connection as one of the user's, or refuse it over the per-user cap."""
    if ctx.doorman.logged_in(ws, user.id):
        return
    settings = ctx.settings
    cap = ctx.doorman.caps.per_user
    where = peer(ws)
    log.info(
        "refused %s from %s: %d connections already", user.nick, where, cap,
        extra={"event": "too_many_connections", "nick": user.nick, "peer": where},
    )  # fmt: skip
    raise TooManyConnections(
        "rate_limited",
        f"too many connections for {user.nick}: at most {cap} at once;"
        " close one or try again later",
        ref,
        # a place frees whenever one of the user's connections closes (and one that died
        # without closing is dropped within ping_interval + ping_timeout): a token hello
        # costs one read, so a client may ask again soon; clients wait this long
        retry_after=min(5.0, settings.ping_interval + settings.ping_timeout),
    )


async def _password_login(ctx: Context, ws: ServerConnection, hello: p.Hello) -> tuple[User, bool]:
    assert hello.nick is not None and hello.password is not None
    key, address = p.nick_key(hello.nick), client_address(ws)
    attempt = ctx.logins.admit(key, address, time.monotonic())
    if not isinstance(attempt, Attempt):
        # debug, not info: refusals cost nothing, so they come as fast as a client can ask
        log.debug("login refused from %s: too many failed logins", peer(ws))
        raise ProtocolError("rate_limited", "too many attempts", hello.ref, retry_after=attempt)
    try:
        return await _try_password(ctx, ws, attempt, hello)
    finally:
        attempt.close()


async def _try_password(
    ctx: Context, ws: ServerConnection, attempt: Attempt, hello: p.Hello
) -> tuple[User, bool]:
    nick, password, ref = hello.nick, hello.password, hello.ref
    assert nick is not None and password is not None
    store = ctx.store
    user = await store.user_by_nick(nick)
    if user is None and ctx.settings.signup != "closed":
        created = await _sign_up(ctx, ws, attempt, hello)
        if created is not None:
            return created, True
        user = await store.user_by_nick(nick)  # lost a race for the nick (on another node)
    # No usable account: the same argon2 work against a dummy hash, so that an unknown nick
    # answers as slowly as a wrong password (no nick enumeration by timing).
    stored = None
    if user is not None and user.password_hash is not None and not user.removed:
        stored = user.password_hash
    priority = Priority.LOGIN if attempt.clean else Priority.SUSPECT
    ok, rehashed = await ctx.passwords.verify(stored, password, priority)
    if not ok or user is None:
        _failed(ctx, ws, attempt, nick)
        reason = "wrong password" if stored else "unknown nick" if user is None else "no password"
        where = peer(ws)
        log.info(
            "auth failure from %s: %s for %s", where, reason, nick,
            extra={"event": "auth_failure", "peer": where, "reason": reason, "nick": nick},
        )  # fmt: skip
        raise ProtocolError("auth_failed", "wrong nick or password", ref)
    if rehashed is not None:
        await store.set_password_hash(user.id, rehashed)
    return user, False


def _failed(ctx: Context, ws: ServerConnection, attempt: Attempt, nick: str) -> None:
    """Count a failed login (a wrong password, a missing or bad invite code) here and on
    the other nodes."""
    attempt.failed(time.monotonic())
    ctx.broker.share_login(p.nick_key(nick), client_address(ws))


async def _sign_up(
    ctx: Context, ws: ServerConnection, attempt: Attempt, hello: p.Hello
) -> User | None:
    """The new account, or None when another node created the nick first.

    A signup that needs an invite code (``--signup invite``) and has none, or one that is
    unknown, used up or expired (under any mode), is refused with ``forbidden`` before any
    password hash, and counts as a failed login: codes cannot be guessed faster than
    passwords.
    """
    nick, password, ref = hello.nick, hello.password, hello.ref
    assert nick is not None and password is not None
    code = None if hello.invite is None else token_hash(hello.invite)
    invite: Invite | None = None
    if code is None and ctx.settings.signup == "invite":
        _failed(ctx, ws, attempt, nick)
        log.info("signup refused from %s: no invite code for %s", peer(ws), nick)
        raise ProtocolError("forbidden", "an invite code is needed to sign up here", ref)
    if code is not None:
        invite = await ctx.store.invite_code(code)
        if invite is None or not invite.usable(time.time()):
            _failed(ctx, ws, attempt, nick)
            log.info("signup refused from %s: a bad invite code for %s", peer(ws), nick)
            raise ProtocolError("forbidden", str(invite_refused()), ref)
    address = client_address(ws)
    wait = ctx.signups.take(address, time.monotonic())
    if wait is not None:
        log.debug("signup refused from %s: too many signups", peer(ws))
        message = "too many new accounts from this address"
        raise ProtocolError("rate_limited", message, ref, retry_after=wait)
    # the other nodes count it as this one did: at once, before the hash, whatever follows
    # (a full hash queue, a lost race for the nick), so they hear of it as soon as they can
    ctx.broker.share_signup(address)
    digest = await ctx.passwords.hash(password, Priority.SIGNUP)
    try:
        user = await ctx.store.create_user(nick, digest, code)
    except Conflict:
        log.info("signup of %s lost a race for the nick", nick)
        return None
    except Forbidden:  # another signup took the code's last use meanwhile
        _failed(ctx, ws, attempt, nick)
        log.info("signup refused from %s: a used-up invite code for %s", peer(ws), nick)
        raise ProtocolError("forbidden", str(invite_refused()), ref) from None
    if invite is not None:
        log.info("%s signed up with the invite code %s...", nick, invite.prefix)
    return user
