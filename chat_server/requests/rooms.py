"""Rooms: join (with its backlog), leave, and the list of public rooms, a page at a time."""

from __future__ import annotations

from chat_server import access
from chat_server import protocol as p
from chat_server.context import Context
from chat_server.errors import ProtocolError
from chat_server.hub import Session
from chat_server.requests.budget import spend
from chat_server.requests.output import page_reply, write_big
from chat_server.requests.registry import handles
from chat_server.store import Room


def check(session: Session, room: str, ref: str | None) -> None:
    """Raise the refusal of a direct conversation that is not the user's."""
    refused = access.conversation_refusal(p.nick_key(session.nick), room)
    if refused is not None:
        raise ProtocolError(refused.code, refused.message, ref)


async def member_room(
    ctx: Context, session: Session, name: str, action: access.Action, ref: str | None
) -> Room:
    """The room, when the user may take ``action`` there; otherwise the error to report."""
    check(session, name, ref)
    room = await ctx.room(name)
    member = room is not None and await ctx.store.is_member(session.user_id, room.id)
    refused = access.refusal(p.nick_key(session.nick), name, action, member=member)
    if refused is not None:
        raise ProtocolError(refused.code, refused.message, ref)
    assert room is not None
    return room


@handles(p.Join)
async def join(ctx: Context, session: Session, frame: p.Join) -> None:
    """Membership, then ``joined`` and the backlog, then live events from the next seq.

    A new membership counts toward the user's ``max_rooms``, a new room toward the rooms
    they may create an hour (``ctx.room_quota``, checked in the store's transaction); a
    direct conversation is not created by a join and is never refused by either.
    """
    spend(frame.ref, session.reads)
    name = frame.room
    store, broker, hub = ctx.store, ctx.broker, ctx.hub
    check(session, name, frame.ref)
    pair = p.dm_pair(name)
    if pair is not None:
        other_key = pair[1] if pair[0] == p.nick_key(session.nick) else pair[0]
        other = await store.user_by_nick(other_key)
        if other is None:
            raise ProtocolError("not_found", f"no user {other_key}", frame.ref)
        room, new_member = await store.open_dm(name, (session.user_id, other.id))
        if new_member:
            broker.subscribe_user(other.id, name)
    else:
        room, new_member = await store.join(session.user_id, name, False, ctx.room_quota)
    ctx.rooms[name] = room
    hub.subscribe(session, name)
    try:
        last = await store.last_seq(room.id)
        members = await store.members(room.id)
        online = await broker.online([user_id for user_id, _ in members])
        if frame.since is None:
            page = await store.history(room, limit=p.JOIN_BACKLOG, upto=last)
        else:
            page = await store.history(room, after=frame.since, limit=p.HISTORY_MAX, upto=last)
    except BaseException:
        hub.unsubscribe(session, name)
        raise
    if new_member:
        event = p.Presence(room=name, nick=session.nick, status="joined")
        broker.publish_room(name, p.encode(event), exclude_user=session.user_id)
    joined = p.encode(
        p.Joined(
            room=name,
            last_seq=last,
            members=[nick for _, nick in members],
            online=[nick for user_id, nick in members if user_id in online],
            ref=frame.ref,
        )
    )
    history = p.HistoryPage(room=name, messages=page.messages, more=page.more, ref=frame.ref)
    try:
        # the backlog since a seq keeps its oldest messages when it must be cut, the
        # newest 50 their newest; the client pages on for the rest (``more``)
        backlog = page_reply(
            ctx, session, history, keep_newest=frame.since is None, reserve=len(joined)
        )
    except BaseException:
        hub.unsubscribe(session, name)
        raise
    if backlog is None:  # closing: a slow consumer
        hub.unsubscribe(session, name)
        return
    write_big(ctx, session, joined, backlog)
    hub.go_live(session, name, last)


@handles(p.Leave)
async def leave(ctx: Context, session: Session, frame: p.Leave) -> None:
    room = await member_room(ctx, session, frame.room, "leave", frame.ref)
    await ctx.store.leave(session.user_id, room.id)
    ctx.hub.unsubscribe(session, room.name)
    left = p.encode(p.Left(room=room.name))
    ctx.broker.leave_user(session.user_id, room.name, left, exclude=session.key)
    ctx.hub.write(session, p.encode(p.Left(room=room.name, ref=frame.ref)))
    event = p.Presence(room=room.name, nick=session.nick, status="left")
    ctx.broker.publish_room(room.name, p.encode(event))


@handles(p.Rooms)
async def rooms(ctx: Context, session: Session, frame: p.Rooms) -> None:
    """One page of public rooms, biggest first (a flood of empty rooms sits at the end)."""
    spend(frame.ref, session.reads)
    after = None if frame.cursor is None else p.rooms_after(frame.cursor, frame.ref)
    page = await ctx.store.public_rooms(frame.limit, after)
    cursor = p.rooms_cursor(page.rooms[-1]) if page.more else None
    ctx.hub.write(session, p.encode(p.RoomList(rooms=page.rooms, cursor=cursor, ref=frame.ref)))
