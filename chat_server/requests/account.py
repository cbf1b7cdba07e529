"""The account, once logged in: logout (and a second hello, which is refused)."""

from __future__ import annotations

import logging

from chat_server import protocol as p
from chat_server.context import Context
from chat_server.errors import ProtocolError
from chat_server.hub import Session
from chat_server.requests.registry import Hangup, handles

log = logging.getLogger("chat_server")


@handles(p.Logout)
async def logout(ctx: Context, session: Session, frame: p.Logout) -> None:
    """Revoke the token this connection logged in with, and close 1000."""
    await ctx.store.revoke_token(session.token_hash)
    log.info("logout %s", session.nick)
    await session.ws.close(p.CLOSE_NORMAL, "logged out")
    raise Hangup


@handles(p.Hello)
async def hello_again(ctx: Context, session: Session, frame: p.Hello) -> None:
    raise ProtocolError("bad_request", "already logged in", frame.ref)
