"""Markers that are not messages: read positions and typing notices."""

from __future__ import annotations

import time

from chat_server import access
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
    """Relay at most one typing notice per room and connection every few seconds, where
    the typist's presence shows (each relayed one costs a lookup of blocks, and in a direct
    conversation one of whether the typist wrote there; the dropped ones nothing)."""
    if frame.room not in session.rooms:
        await member_room(ctx, session, frame.room, "typing", frame.ref)
    if not session.typing.allow(frame.room, time.monotonic()):
        return
    event = p.encode(p.TypingEvent(room=frame.room, nick=session.nick))
    # typing shows you are there: it goes where your presence would (access.shows_presence)
    other = other_key(frame.room, p.nick_key(session.nick))
    if other is not None:
        blocked, blocked_by = await ctx.store.blocks_between(session.user_id, other)
        room = await ctx.room(frame.room)
        wrote = room is not None and await ctx.store.has_written(session.user_id, room.id)
        if access.shows_presence(
            dm=True, wrote=wrote, blocks_viewer=blocked, blocked_by_viewer=blocked_by
        ):
            ctx.broker.publish_room(frame.room, event, exclude_user=session.user_id)
        return
    hidden = (await ctx.store.blocks(session.user_id)).blocked
    if hidden:
        ctx.broker.publish_room_except(frame.room, event, hidden | {session.user_id})
    else:
        ctx.broker.publish_room(frame.room, event, exclude_user=session.user_id)
