"""Blocks: ``block`` and ``unblock`` a nick (direct messages refused, presence hidden).

What a block does is decided where it matters: ``send`` refuses a direct message either
way, ``presence.announce``, ``join`` and ``typing`` hide the blocker's presence (the rules
are in ``access.py``). What the blocked person's screens show changes at once: a new block
sends their connections (on every node) the blocker ``offline`` in the rooms where they
saw the blocker, the way a disconnect would; an unblock sends ``online`` there. Nobody
else is told anything.
"""

from __future__ import annotations

import logging
from typing import Literal

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


# A block hides the blocker in every room, the big ones too: one user's connections are told,
# and in a room past PRESENCE_MEMBERS_MAX they may have seen the blocker online in a list.
EVERY_ROOM = 2**31 - 1  # members (the stores' member_count is a 32-bit integer)


async def _show(
    ctx: Context, session: Session, target: User, status: Literal["online", "offline"]
) -> None:
    """Tell ``target``'s connections that the user is ``status``, in the rooms where they see
    the user's presence when not blocked. The user is online (the request came over one of
    their connections): ``offline`` hides them, ``online`` shows them again."""
    store = ctx.store
    rooms = await store.presence_rooms(session.user_id, EVERY_ROOM)
    if not rooms:
        return
    blocks = await store.blocks(session.user_id)
    seen = access.seen_by(
        rooms, p.nick_key(target.nick), viewer_blocks=target.id in blocks.blocked_by
    )
    events = [
        (room, p.encode(p.Presence(room=room, nick=session.nick, status=status))) for room in seen
    ]
    if events:
        ctx.broker.publish_user_rooms(target.id, events)


@handles(p.Block)
async def block(ctx: Context, session: Session, frame: p.Block) -> None:
    """Block a nick; blocking again answers the same. A new block past
    ``--max-blocks-per-user`` is ``too_large``."""
    target = await _target(ctx, session, frame.nick, frame.ref)
    if await ctx.store.block(session.user_id, target.id, ctx.settings.max_blocks_per_user):
        log.info("%s blocked %s", session.nick, target.nick)
        await _show(ctx, session, target, "offline")
    ctx.hub.write(session, p.encode(p.Blocked(nick=target.nick, ref=frame.ref)))


@handles(p.Unblock)
async def unblock(ctx: Context, session: Session, frame: p.Unblock) -> None:
    """Undo a block; unblocking someone not blocked answers the same."""
    target = await _target(ctx, session, frame.nick, frame.ref)
    if await ctx.store.unblock(session.user_id, target.id):
        log.info("%s unblocked %s", session.nick, target.nick)
        await _show(ctx, session, target, "online")
    ctx.hub.write(session, p.encode(p.Unblocked(nick=target.nick, ref=frame.ref)))
