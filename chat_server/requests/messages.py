"""Messages: send (acked after the group commit), history pages, search."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

from chat_server import access
from chat_server import protocol as p
from chat_server.context import Context
from chat_server.errors import ChatError, ProtocolError, TooCostly, wire_error
from chat_server.hub import Session
from chat_server.requests.budget import spend
from chat_server.requests.output import afford, charge, page_reply, write_big, write_results
from chat_server.requests.registry import handles
from chat_server.requests.rooms import check, hide_private, member_room, other_key
from chat_server.store import NewMessage, Stored, search_words

log = logging.getLogger("chat_server")


@handles(p.Send)
async def send(ctx: Context, session: Session, frame: p.Send) -> None:
    """Queue the message for the next group commit; :func:`_committed` answers."""
    started = time.perf_counter()
    spend(frame.ref, session.sends)
    store = ctx.store
    if frame.to is not None:
        target = await store.user_by_nick(frame.to)
        if target is None or target.removed:
            raise ProtocolError("not_found", f"no user {frame.to}", frame.ref)
        if target.id == session.user_id:
            raise ProtocolError("bad_request", "you cannot message yourself", frame.ref)
        await consent(ctx, session, target.nick, frame.ref)  # before the room is opened
        name = p.dm_room(session.nick, target.nick)
        room, new_member = await store.open_dm(name, (session.user_id, target.id))
        ctx.rooms[name] = room
        if new_member:
            ctx.broker.subscribe_user(session.user_id, name)
            ctx.broker.subscribe_user(target.id, name)
    else:
        assert frame.room is not None
        check(session, frame.room, frame.ref)
        found = await ctx.room(frame.room)
        if found is None:
            raise ProtocolError("not_member", f"you are not a member of {frame.room}", frame.ref)
        room = found  # membership is checked in the commit, with the seq
        await hide_private(ctx, session, room, frame.ref)
        other = other_key(room.name, p.nick_key(session.nick))
        if other is not None:
            await consent(ctx, session, other, frame.ref)
    # a first message in a direct conversation shows the sender's presence there from now
    first = room.is_dm and not await store.has_written(session.user_id, room.id)
    message = NewMessage(
        session.user_id, session.nick, room.id, frame.id, frame.body, frame.reply_to
    )
    future = store.submit(message)
    future.add_done_callback(functools.partial(_committed, ctx, session, frame.ref, first, started))


async def consent(ctx: Context, session: Session, other: str, ref: str | None) -> None:
    """Refuse a direct message (or an edit in one) when either person blocked the other."""
    blocked, blocked_by = await ctx.store.blocks_between(session.user_id, other)
    refused = access.dm_refusal(other, "send", exists=True, blocked=blocked, blocked_by=blocked_by)
    if refused is not None:
        raise ProtocolError(refused.code, refused.message, ref)


def refused_commit(
    ctx: Context, session: Session, ref: str | None, future: asyncio.Future[Any], what: str
) -> bool:
    """True when a queued write did not commit: its refusal (or ``internal``, logged) is
    written to the author; False when its result is there to acknowledge."""
    if future.cancelled():
        return True
    exc = future.exception()
    if exc is None:
        return False
    error = wire_error(exc, ref) if isinstance(exc, ChatError) else None
    if error is None or error.code == "internal":
        log.error("storing the %s of %s failed: %s", what, session.nick, exc)
        error = ProtocolError("internal", f"the {what} was not stored", ref)
    ctx.hub.write(session, p.refusal_frame(error))
    ctx.metrics.error(error.code)
    return True


def _committed(
    ctx: Context,
    session: Session,
    ref: str | None,
    first: bool,
    started: float,
    future: asyncio.Future[Any],
) -> None:
    """After the commit: the ack to the sender, then the message to the room."""
    if refused_commit(ctx, session, ref, future, "message"):
        return
    stored: Stored = future.result()
    ack = p.Ack(id=stored.client_id, room=stored.room, seq=stored.seq, ts=stored.ts, ref=ref)
    ctx.hub.write(session, p.encode(ack))
    ctx.metrics.committed("message", stored.new, started)
    if stored.new:
        event = p.Message(
            room=stored.room,
            seq=stored.seq,
            nick=stored.nick,
            body=stored.body,
            ts=stored.ts,
            id=stored.client_id,
            reply_to=stored.reply_to,
            thread=stored.thread,
        )
        ctx.broker.publish_room(stored.room, p.encode(event), stored.seq)
        if first:
            online = p.Presence(room=stored.room, nick=stored.nick, status="online")
            ctx.broker.publish_room(stored.room, p.encode(online), exclude_user=session.user_id)


@handles(p.History)
async def history(ctx: Context, session: Session, frame: p.History) -> None:
    spend(frame.ref, session.reads)
    afford(session, frame.ref)
    # a room this connection has joined needs no membership lookup of its own: the page's
    # query reads the rows only while the user is a member (``reader``), so a kick or a
    # leave committed on another node counts before this node hears of it
    room = ctx.rooms.get(frame.room) if frame.room in session.rooms else None
    if room is None:
        room = await member_room(ctx, session, frame.room, "history", frame.ref)
    reading = time.perf_counter()
    page = await ctx.store.history(
        room,
        before=frame.before,
        after=frame.after,
        limit=frame.limit,
        thread=frame.thread,
        around=frame.around,
        reader=session.user_id,
    )
    ctx.metrics.history_page(time.perf_counter() - reading)
    reply = p.HistoryPage(
        room=room.name, messages=page.messages, more=page.more, floor=page.floor, ref=frame.ref
    )
    # a page that must be cut keeps the end it was asked from: after a seq (or a
    # thread, or around one), the oldest
    ascending = frame.after is not None or frame.thread is not None or frame.around is not None
    data = page_reply(ctx, session, reply, keep_newest=not ascending)
    if data is not None:
        write_big(ctx, session, data)
        charge(session, data)


@handles(p.Search)
async def search(ctx: Context, session: Session, frame: p.Search) -> None:
    user = session.user_id
    if user in ctx.searching:
        # checked before the buckets: a refused search spends nothing
        raise ProtocolError("rate_limited", "one search at a time", frame.ref, retry_after=1.0)
    spend(frame.ref, session.reads, session.searches)
    afford(session, frame.ref)
    room_id = None
    if frame.room is not None:
        # As for history: a room this connection has joined needs no membership lookup
        # (the search reads only the user's rooms besides). Elsewhere the store is asked
        # first, so a stranger's search costs nothing and never tells of a private room.
        room = ctx.rooms.get(frame.room) if frame.room in session.rooms else None
        if room is None:
            room = await member_room(ctx, session, frame.room, "search", frame.ref)
        room_id = room.id
    ctx.searching.add(user)
    try:
        hits = await ctx.store.search(
            user,
            search_words(frame.q),
            room_id,
            frame.limit,
            deadline=ctx.settings.search_timeout,
        )
    except TooCostly as exc:
        raise ProtocolError(
            "too_large", "the search took too long: add a word, or search one room", frame.ref
        ) from exc
    finally:
        ctx.searching.discard(user)
    write_results(ctx, session, p.Results(messages=hits, ref=frame.ref))
