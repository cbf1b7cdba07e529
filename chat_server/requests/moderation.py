"""Rooms with owners (protocol 2): ``create``, and the room commands ``invite``, ``kick``,
``ban``, ``unban``, ``role`` and ``topic``.

Each spends the user's send budget, is decided and applied in the writer's transaction
(the rules are ``access.room_refusal`` and ``access.target_refusal``, with every place as
it is then), and is answered by an ``ack`` once its ``notice`` entry is committed; the
notice then goes to the room like a message. A kicked or banned user's connections, on
every node, get ``left`` {room, by, reason} and stop receiving the room at once; an
invitee's get an ``invite`` event. Who did what is logged at INFO, never a message's text.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

from chat_server import access
from chat_server import protocol as p
from chat_server.context import Context
from chat_server.errors import ProtocolError
from chat_server.hub import Session
from chat_server.requests.budget import spend
from chat_server.requests.messages import refused_commit
from chat_server.requests.registry import handles
from chat_server.requests.rooms import check, hide_private, notice_frame
from chat_server.store.rooms import CommandAction, CreateRoom, RoomCommand, StoredNotice

log = logging.getLogger("chat_server")

ACTIONS: dict[type[p.RoomCommandFrame], CommandAction] = {
    p.Invite: "invite", p.Kick: "kick", p.Ban: "ban", p.Unban: "unban", p.SetRole: "role",
    p.Topic: "topic",
}  # fmt: skip


def publish_notice(ctx: Context, stored: StoredNotice) -> None:
    ctx.broker.publish_room(stored.room, notice_frame(stored), stored.seq)


@handles(p.Create)
async def create(ctx: Context, session: Session, frame: p.Create) -> None:
    """Make a room, the user its owner; ``conflict`` when the name is taken. It counts
    toward the rooms the user may create an hour and be in, as a join that creates one."""
    started = time.perf_counter()
    spend(frame.ref, session.sends)
    refused = access.room_refusal(
        "create", "dm" if p.dm_pair(frame.room) else "missing", "none", room=frame.room
    )
    if refused is not None:
        raise ProtocolError(refused.code, refused.message, frame.ref)
    op = CreateRoom(
        session.user_id, session.nick, frame.room, frame.id, frame.private, frame.topic,
        ctx.room_quota,
    )  # fmt: skip
    stored = await ctx.store.create_room(op)
    ack = p.Ack(id=stored.client_id, room=stored.room, seq=stored.seq, ts=stored.ts, ref=frame.ref)
    ctx.hub.write(session, p.encode(ack))
    ctx.metrics.committed("notice", stored.new, started)
    if stored.new:
        kind = "private" if frame.private else "public"
        log.info("%s created the %s room %s", session.nick, kind, frame.room)


@handles(*ACTIONS)
async def command(ctx: Context, session: Session, frame: p.RoomCommandFrame) -> None:
    """Queue a room command for the next group commit; :func:`_committed` answers."""
    started = time.perf_counter()
    spend(frame.ref, session.sends)  # a command fans out like a message: the same budget
    check(session, frame.room, frame.ref)
    action = ACTIONS[type(frame)]
    room = await ctx.room(frame.room)
    if room is None:  # as a private room answers a stranger
        refused = access.room_refusal(action, "missing", "none", room=frame.room)
        assert refused is not None
        raise ProtocolError(refused.code, refused.message, frame.ref)
    await hide_private(ctx, session, room, frame.ref)
    if room.is_dm:
        refused = access.room_refusal(action, "dm", "member", room=frame.room)
        assert refused is not None
        raise ProtocolError(refused.code, refused.message, frame.ref)
    target = None if isinstance(frame, p.Topic) else frame.nick
    if isinstance(frame, p.Invite):
        # refused when the invitee blocked the user, as a direct message would be
        _, blocked_by = await ctx.store.blocks_between(session.user_id, frame.nick)
        if blocked_by:
            message = f"{frame.nick} does not accept invitations from you"
            raise ProtocolError("forbidden", message, frame.ref)
    op = RoomCommand(
        session.user_id, session.nick, room.id, frame.id, action,
        target_nick=target,
        role=frame.role if isinstance(frame, p.SetRole) else None,
        topic=frame.topic if isinstance(frame, p.Topic) else None,
        reason=frame.reason if isinstance(frame, p.Kick | p.Ban) else None,
    )  # fmt: skip
    future = ctx.store.submit_command(op)
    future.add_done_callback(functools.partial(_committed, ctx, session, frame.ref, started))


def _committed(
    ctx: Context, session: Session, ref: str | None, started: float, future: asyncio.Future[Any]
) -> None:
    """After the commit: the ack, the notice to the room, then what the command does to
    its target's connections."""
    if refused_commit(ctx, session, ref, future, "room command"):
        return
    stored: StoredNotice = future.result()
    ack = p.Ack(id=stored.client_id, room=stored.room, seq=stored.seq, ts=stored.ts, ref=ref)
    ctx.hub.write(session, p.encode(ack))
    ctx.metrics.committed("notice", stored.new, started)
    if not stored.new:
        return
    publish_notice(ctx, stored)
    fields = stored.fields
    log.info(
        "room %s: %s %s %s%s", stored.room, stored.nick, fields.event,
        fields.target_nick or "", f" ({fields.role})" if fields.role else "",
    )  # fmt: skip
    if stored.target_id is not None:
        if fields.event in ("kick", "ban"):
            left = p.Left(room=stored.room, by=stored.nick, reason=stored.reason)
            ctx.broker.leave_user(stored.target_id, stored.room, p.encode(left))
        elif fields.event == "invite":
            event = p.InviteEvent(room=stored.room, by=stored.nick, private=stored.private)
            ctx.broker.publish_user(stored.target_id, p.encode(event))
    if stored.then is not None:
        publish_notice(ctx, stored.then)
        log.info("room %s: %s is the owner now", stored.room, stored.then.fields.target_nick)
