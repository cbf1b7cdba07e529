"""Markers that are not messages: read positions and typing notices."""

from __future__ import annotations

import time

from chat_server import protocol as p
from chat_server.context import Context
from chat_server.hub import Session
from chat_server.requests.registry import handles
from chat_server.requests.rooms import member_room


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
    """Relay at most one typing notice per room and connection every few seconds."""
    if frame.room not in session.rooms:
        await member_room(ctx, session, frame.room, "typing", frame.ref)
    if session.typing.allow(frame.room, time.monotonic()):
        event = p.encode(p.TypingEvent(room=frame.room, nick=session.nick))
        ctx.broker.publish_room(frame.room, event, exclude_user=session.user_id)
