"""Markers that are not messages: read positions and typing notices."""

from __future__ import annotations

import time

from chat_server import protocol as p
from chat_server.context import Context
from chat_server.hub import Session
from chat_server.requests.registry import handles
from chat_server.requests.rooms import member_room, other_key


@handles(p.Read)
async def read(ctx: Context, session: Session, frame: p.Read) -> None:
    """Move the read marker forward; the user's other connections follow it."""
    room = await member_room(ctx, session, frame.room, "read", frame.ref)
    moved = await ctx.store.mark_read(session.user_id, room.id, frame.seq)
    if moved is not None:
        event = p.encode(p.ReadEvent(room=room.name, seq=moved))
        ctx.broker.publish_user(session.user_id, event, exclude=session.key)


@handles(p.Typing)
async def typing(ctx: Context, session: Session, frame: p.Typing) -> None:
    """Relay at most one typing notice per room and connection every few seconds (each
    relayed one costs a lookup of blocks; the dropped ones nothing)."""
    if frame.room not in session.rooms:
        await member_room(ctx, session, frame.room, "typing", frame.ref)
    if not session.typing.allow(frame.room, time.monotonic()):
        return
    event = p.encode(p.TypingEvent(room=frame.room, nick=session.nick))
    # typing shows you are there: as presence, never to whom you blocked, and in a
    # direct conversation not at all while either of you blocks the other
    other = other_key(frame.room, p.nick_key(session.nick))
    if other is not None:
        if any(await ctx.store.blocks_between(session.user_id, other)):
            return
        ctx.broker.publish_room(frame.room, event, exclude_user=session.user_id)
        return
    blocked = (await ctx.store.blocks(session.user_id)).blocked
    if blocked:
        ctx.broker.publish_room_except(frame.room, event, blocked | {session.user_id})
    else:
        ctx.broker.publish_room(frame.room, event, exclude_user=session.user_id)
