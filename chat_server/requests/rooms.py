"""Rooms: join (with its backlog), leave, a room's members and the list of public rooms,
a page at a time."""

from __future__ import annotations

import logging

from chat_server import access
from chat_server import protocol as p
from chat_server.context import Context
from chat_server.errors import ProtocolError
from chat_server.hub import Session
from chat_server.metrics import resume_outcome
from chat_server.requests.budget import spend
from chat_server.requests.output import afford, page_reply, write_big, write_members
from chat_server.requests.registry import handles
from chat_server.store import Blocks, Room
from chat_server.store.rooms import RoomFacts, StoredNotice

log = logging.getLogger("chat_server")


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


async def hide_private(ctx: Context, session: Session, room: Room, ref: str | None) -> None:
    """Refuse a stranger's request to a private room as a missing room refuses it (the
    writer would say so too, in words of its own): its existence does not show."""
    if room.private and not await ctx.store.is_member(session.user_id, room.id):
        refused = access.room_refusal("send", "missing", "none", room=room.name)
        assert refused is not None
        raise ProtocolError(refused.code, refused.message, ref)


def notice_frame(stored: StoredNotice) -> bytes:
    """The live ``notice`` of a committed notice entry."""
    fields = stored.fields
    notice = p.Notice(
        room=stored.room, seq=stored.seq, nick=stored.nick, ts=stored.ts, id=stored.client_id,
        event=fields.event, target_nick=fields.target_nick, topic=fields.topic,
        role=fields.role, reason=stored.reason,
    )  # fmt: skip
    return p.encode(notice)


def other_key(room: str, user_key: str) -> str | None:
    """In a direct conversation, the other person's nick key; None in a public room."""
    pair = p.dm_pair(room)
    if pair is None:
        return None
    return pair[1] if pair[0] == user_key else pair[0]


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
    other = other_key(name, p.nick_key(session.nick))
    if other is not None:
        # a direct conversation is joined, never created: a message starts one (``send``)
        exists = await ctx.room(name) is not None
        refused = access.dm_refusal(other, "join", exists=exists)
        if refused is not None:
            raise ProtocolError(refused.code, refused.message, frame.ref)
        # (a room removed since it was cached is the store's NotFound: not_found too)
        room, new_member = await store.join(session.user_id, name, True, create=False)
    else:
        # a missing name is created (public) unless ``create`` is false, or ``since``
        # says the client saw entries of a room of that name: it was removed (``chat-server
        # rooms remove``), and a resume must not make an empty one in its place; a private
        # room lets in its members and invitees only, and a room nobody it banned (the
        # store decides, in the join's transaction)
        create = frame.create and not frame.since
        room, new_member = await store.join(
            session.user_id, name, False, ctx.room_quota, create=create
        )
    ctx.rooms[name] = room
    hub.subscribe(session, name)
    try:
        last = await store.last_seq(room.id)
        # the first page of members and how many there are: a join costs the same in a
        # room of ten and of a hundred thousand (the rest: ``members`` requests)
        members = await store.members(room.id, limit=p.JOINED_MEMBERS_MAX)
        count = len(members)  # a page that is not full is the whole room
        if count == p.JOINED_MEMBERS_MAX:
            count = max(await store.member_count(room.id), count)
        facts = RoomFacts() if room.is_dm else await store.room_facts(room.id)
        # joining shows you online (clients take it so): in a public room, not to whom you
        # blocked; in a direct conversation not at all (presence waits for a message)
        announce = new_member and not room.is_dm
        visible, blocks = await visible_online(ctx, session, room, members, announce)
        if frame.since is None:
            page = await store.history(room, limit=p.JOIN_BACKLOG, upto=last)
        else:
            page = await store.history(room, after=frame.since, limit=p.HISTORY_MAX, upto=last)
            ctx.metrics.resumed(resume_outcome(frame.since, last, page.more))
        kept = await store.retention(room.id)
    except BaseException:
        hub.unsubscribe(session, name)
        raise
    if announce:
        event = p.encode(p.Presence(room=name, nick=session.nick, status="joined"))
        if blocks.blocked:
            broker.publish_room_except(name, event, blocks.blocked | {session.user_id})
        else:
            broker.publish_room(name, event, exclude_user=session.user_id)
    joined = p.encode(
        p.Joined(
            room=name,
            last_seq=last,
            members=[nick for _, nick in members],
            online=[nick for user_id, nick in members if user_id in visible],
            member_count=count,
            topic=facts.topic,
            private=facts.private,
            roles=facts.roles,
            floor=page.floor,
            retention_s=kept.effective(ctx.settings.retention),
            ref=frame.ref,
        )
    )
    history = p.HistoryPage(
        room=name, messages=page.messages, more=page.more, floor=page.floor, ref=frame.ref
    )
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


async def visible_online(
    ctx: Context,
    session: Session,
    room: Room,
    members: list[tuple[int, str]],
    need_blocks: bool = False,
) -> tuple[set[int], Blocks]:
    """Which of ``members`` (user id, nick) are online as the user may see them, and the
    user's blocks (read when someone else is online, or when ``need_blocks``)."""
    online = await ctx.broker.online([user_id for user_id, _ in members])
    others = online - {session.user_id}
    blocks = await ctx.store.blocks(session.user_id) if others or need_blocks else Blocks()
    return online - await _hidden_presence(ctx, room, others, blocks), blocks


@handles(p.Members)
async def members(ctx: Context, session: Session, frame: p.Members) -> None:
    """A page of a room's members, by nick (case-insensitively), for its members only;
    costs a read like a ``history`` page."""
    spend(frame.ref, session.reads)
    afford(session, frame.ref)
    # a room this connection has joined needs no membership lookup (as for ``history``)
    room = ctx.rooms.get(frame.room) if frame.room in session.rooms else None
    if room is None:
        room = await member_room(ctx, session, frame.room, "members", frame.ref)
    after = None if frame.after is None else p.nick_key(frame.after)
    page = await ctx.store.members(room.id, after, frame.limit + 1)
    more = len(page) > frame.limit
    page = page[: frame.limit]
    visible, _ = await visible_online(ctx, session, room, page)
    reply = p.MemberPage(
        room=room.name,
        members=[nick for _, nick in page],
        online=[nick for user_id, nick in page if user_id in visible],
        more=more,
        ref=frame.ref,
    )
    write_members(ctx, session, reply)


async def _hidden_presence(ctx: Context, room: Room, others: set[int], blocks: Blocks) -> set[int]:
    """Those of the other online members whose presence the user may not see in ``room``
    (``access.shows_presence``); in a direct conversation, one lookup of whether the
    other person has written in it."""
    hidden = set()
    # in a public room only those who blocked the user can be hidden: ask about them alone
    candidates = others if room.is_dm else others & blocks.blocked_by
    for user_id in candidates:
        wrote = room.is_dm and await ctx.store.has_written(user_id, room.id)
        if not access.shows_presence(
            dm=room.is_dm,
            wrote=wrote,
            blocks_viewer=user_id in blocks.blocked_by,
            blocked_by_viewer=user_id in blocks.blocked,
        ):
            hidden.add(user_id)
    return hidden


@handles(p.Leave)
async def leave(ctx: Context, session: Session, frame: p.Leave) -> None:
    """Leave a room, or decline its invitation; an owner who leaves hands the room on
    (the longest-standing op, else member, with a ``role`` notice)."""
    check(session, frame.room, frame.ref)
    room = await ctx.room(frame.room)
    departure = None if room is None else await ctx.store.leave(session.user_id, room.id)
    if room is None or departure is None or not (departure.left or departure.declined):
        refused = access.refusal(p.nick_key(session.nick), frame.room, "leave", member=False)
        assert refused is not None
        raise ProtocolError(refused.code, refused.message, frame.ref)
    if not departure.left:  # an invitation declined: nobody else is told
        log.info("%s declined the invitation to %s", session.nick, room.name)
        ctx.hub.write(session, p.encode(p.Left(room=room.name, ref=frame.ref)))
        return
    if departure.successor is not None:
        ctx.broker.publish_room(
            room.name, notice_frame(departure.successor), departure.successor.seq
        )
        log.info("room %s: %s left; %s is the owner now", room.name, session.nick,
                 departure.successor.fields.target_nick)  # fmt: skip
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
