"""Messages that change (protocol 2): edit, delete and react, acked after the group commit
and fanned out to the room as ``edit``, ``delete`` and ``react`` entries of its log."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any, Literal

from chat_server import protocol as p
from chat_server.context import Context
from chat_server.errors import ProtocolError
from chat_server.hub import Session
from chat_server.requests.budget import spend
from chat_server.requests.messages import consent, refused_commit
from chat_server.requests.registry import handles
from chat_server.requests.rooms import check, hide_private, other_key
from chat_server.store import NewChange, NewReaction, Room, StoredChange

log = logging.getLogger("chat_server")


@handles(p.Edit)
async def edit(ctx: Context, session: Session, frame: p.Edit) -> None:
    """Queue the edit; who may make it is checked in the commit (``access.change_refusal``)."""
    await _submit(ctx, session, frame, "edit", frame.body, None)


@handles(p.Delete)
async def delete(ctx: Context, session: Session, frame: p.Delete) -> None:
    """Queue the delete, which erases the message's text in the same commit."""
    await _submit(ctx, session, frame, "delete", "", frame.reason)


@handles(p.React)
async def react(ctx: Context, session: Session, frame: p.React) -> None:
    """Queue the reaction (or its removal); one that changes nothing is acked alone."""
    started = time.perf_counter()
    room = await _room(ctx, session, frame)
    reaction = NewReaction(
        session.user_id, session.nick, room.id, frame.id, frame.target, frame.emoji,
        frame.remove,
    )  # fmt: skip
    future = ctx.store.submit_change(reaction)
    future.add_done_callback(functools.partial(_committed, ctx, session, frame.ref, started))


async def _room(ctx: Context, session: Session, frame: p.Edit | p.Delete | p.React) -> Room:
    """The room a change is made in, after its budget; a block stops new text or a
    reaction in a direct conversation (a delete, which only takes away, is always allowed)."""
    spend(frame.ref, session.sends)  # a change fans out like a message: the same budget
    check(session, frame.room, frame.ref)
    room = await ctx.room(frame.room)
    if room is None:
        raise ProtocolError("not_member", f"you are not a member of {frame.room}", frame.ref)
    await hide_private(ctx, session, room, frame.ref)
    other = other_key(room.name, p.nick_key(session.nick))
    if not isinstance(frame, p.Delete) and other is not None:
        await consent(ctx, session, other, frame.ref)
    return room


async def _submit(
    ctx: Context,
    session: Session,
    frame: p.Edit | p.Delete,
    kind: Literal["edit", "delete"],
    body: str,
    reason: str | None,
) -> None:
    started = time.perf_counter()
    room = await _room(ctx, session, frame)
    change = NewChange(
        session.user_id, session.nick, room.id, frame.id, kind, frame.target, body, reason,
        edit_window=ctx.settings.edit_window,
    )  # fmt: skip
    future = ctx.store.submit_change(change)
    future.add_done_callback(functools.partial(_committed, ctx, session, frame.ref, started))


def _committed(
    ctx: Context, session: Session, ref: str | None, started: float, future: asyncio.Future[Any]
) -> None:
    """After the commit: the ack to its author, then the entry to the room."""
    if refused_commit(ctx, session, ref, future, "change"):
        return
    stored: StoredChange = future.result()
    ack = p.Ack(id=stored.client_id, room=stored.room, seq=stored.seq, ts=stored.ts, ref=ref)
    ctx.hub.write(session, p.encode(ack))
    ctx.metrics.committed(stored.kind, stored.new, started)
    if not stored.new:
        return
    assert stored.target is not None
    if stored.moderated is not None:  # who, whose, where: never the text (it is gone)
        log.info(
            "moderator %s deleted %s's message %d in %s (seq %d)",
            stored.nick, stored.moderated, stored.target, stored.room, stored.seq,
        )  # fmt: skip
    event: p.EditEvent | p.DeleteEvent | p.ReactEvent
    if stored.kind == "react":
        assert stored.emoji is not None
        event = p.ReactEvent(
            room=stored.room, seq=stored.seq, nick=stored.nick, ts=stored.ts,
            id=stored.client_id, target=stored.target, emoji=stored.emoji, remove=stored.remove,
        )  # fmt: skip
    elif stored.kind == "edit":
        event = p.EditEvent(
            room=stored.room, seq=stored.seq, nick=stored.nick, ts=stored.ts,
            id=stored.client_id, target=stored.target, body=stored.body,
        )  # fmt: skip
    else:
        event = p.DeleteEvent(
            room=stored.room, seq=stored.seq, nick=stored.nick, ts=stored.ts,
            id=stored.client_id, target=stored.target, reason=stored.reason,
        )  # fmt: skip
    ctx.broker.publish_room(stored.room, p.encode(event), stored.seq)
