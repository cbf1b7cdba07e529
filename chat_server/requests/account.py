"""The account, once logged in: logout (and a second hello, which is refused)."""

from __future__ import annotations

import logging
import time

from chat_server import protocol as p
from chat_server.context import Context
from chat_server.errors import ProtocolError
from chat_server.hub import Session
from chat_server.requests.registry import Hangup, handles

log = logging.getLogger("chat_server")


@handles(p.Logout)
async def logout(ctx: Context, session: Session, frame: p.Logout) -> None:
    """Revoke the token this connection logged in with (``all``: every token of the user),
    and close 1000. Other servers close the user's connections there within their
    revocation poll."""
    if frame.all:
        await ctx.store.revoke_user_tokens(session.user_id)
        others = [s for s in ctx.hub.sessions_of(session.user_id) if s is not session]
        ctx.hub.close_all(others, p.CLOSE_NORMAL, "logged out everywhere")
        log.info("logout %s everywhere", session.nick)
    else:
        await ctx.store.revoke_token(session.token_hash)
        log.info("logout %s", session.nick)
    await session.ws.close(p.CLOSE_NORMAL, "logged out")
    raise Hangup


@handles(p.Password)
async def password(ctx: Context, session: Session, frame: p.Password) -> None:
    """Change the password: the old one first, then every other token of the user is
    revoked (their connections close, on every server); this connection stays."""
    tries = session.password_tries
    if not tries.take(time.monotonic()):
        wait = tries.retry_after()
        raise ProtocolError("rate_limited", "too many tries", frame.ref, retry_after=wait)
    store = ctx.store
    user = await store.user_by_nick(session.nick)
    if user is None or user.password_hash is None:  # removed meanwhile, or a bot
        raise ProtocolError("forbidden", "this account has no password to change", frame.ref)
    ok, _ = await ctx.passwords.verify(user.password_hash, frame.old)
    if not ok:
        log.info("password change by %s refused: wrong password", session.nick)
        raise ProtocolError("forbidden", "the old password is wrong", frame.ref)
    await store.set_password_hash(user.id, await ctx.passwords.hash(frame.new))
    revoked = await store.revoke_user_tokens(user.id, keep=session.token_hash)
    others = [s for s in ctx.hub.sessions_of(user.id) if s is not session]
    ctx.hub.close_all(others, p.CLOSE_POLICY, "password changed")
    log.info("password of %s changed; %d other token(s) revoked", session.nick, revoked)
    ctx.hub.write(session, p.encode(p.PasswordChanged(ref=frame.ref)))


@handles(p.Hello)
async def hello_again(ctx: Context, session: Session, frame: p.Hello) -> None:
    raise ProtocolError("bad_request", "already logged in", frame.ref)
