"""Blocks: ``block`` and ``unblock`` a nick (direct messages refused, presence hidden).

What a block does is decided where it matters: ``send`` refuses a direct message either
way, ``presence.announce``, ``join`` and ``typing`` hide the blocker's presence (the rules
are in ``access.py``). A block takes effect for what happens after it: presence a blocked
user saw before it stays on their screen until they join again.
"""

from __future__ import annotations

import logging

from chat_server import access
from chat_server import protocol as p
from chat_server.context import Context
from chat_server.errors import ProtocolError
from chat_server.hub import Session
from chat_server.requests.registry import handles
from chat_server.store import User

log = logging.getLogger("chat_server")


async def _target(ctx: Context, session: Session, nick: str, ref: str | None) -> User:
    """The account ``nick`` names, when the user may block it."""
    user = await ctx.store.user_by_nick(nick)
    exists = user is not None and not user.removed
    refused = access.block_refusal(p.nick_key(session.nick), nick, exists=exists)
    if refused is not None:
        raise ProtocolError(refused.code, refused.message, ref)
    assert user is not None
    return user


@handles(p.Block)
async def block(ctx: Context, session: Session, frame: p.Block) -> None:
    """Block a nick; blocking again answers the same."""
    target = await _target(ctx, session, frame.nick, frame.ref)
    if await ctx.store.block(session.user_id, target.id):
        log.info("%s blocked %s", session.nick, target.nick)
    ctx.hub.write(session, p.encode(p.Blocked(nick=target.nick, ref=frame.ref)))


@handles(p.Unblock)
async def unblock(ctx: Context, session: Session, frame: p.Unblock) -> None:
    """Undo a block; unblocking someone not blocked answers the same."""
    target = await _target(ctx, session, frame.nick, frame.ref)
    if await ctx.store.unblock(session.user_id, target.id):
        log.info("%s unblocked %s", session.nick, target.nick)
    ctx.hub.write(session, p.encode(p.Unblocked(nick=target.nick, ref=frame.ref)))
