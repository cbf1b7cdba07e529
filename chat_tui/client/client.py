"""ChatClient: one session with a chat-server that survives reconnects without gaps or repeats.

The client owns the websocket in a background task. It re-joins every room with ``since`` after a
reconnect, fills gaps from ``history after`` before delivering what follows them, drops
duplicates, and keeps unacknowledged sends in an outbox that goes out again, with the same ``id``,
on the next connection (the server's idempotency makes a resend harmless). A request the server
answers ``rate_limited`` is made again after its ``retry_after``. It uses asyncio and
websockets only, so scripts that import it start fast; the TUI is built on the same class.

This module answers the API; ``session`` runs the connection, ``rooms`` keeps each room's order
and catch-up, ``calls`` matches replies to requests, ``outbox`` holds and writes the sends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Literal

from websockets.exceptions import ConnectionClosed

from chat_server import protocol as p
from chat_tui.client.events import JoinResult
from chat_tui.client.ids import new_id
from chat_tui.client.session import MAX_RETRY, MIN_RETRY, Session

__all__ = ["MAX_RETRY", "MIN_RETRY", "ChatClient"]


class ChatClient(Session):
    """A chat session: connect, join, send with acks, read events in order, across reconnects."""

    async def join(self, room: str, since: int | None = None) -> JoinResult:
        """Join ``room`` (created if new); later messages arrive as events."""
        result: JoinResult = await self._request(p.Join(room=room, since=since))
        return result

    async def leave(self, room: str) -> None:
        await self._request(p.Leave(room=room))
        self._rooms.drop(room)

    async def send(
        self,
        body: str,
        *,
        room: str | None = None,
        to: str | None = None,
        id: str | None = None,
        reply_to: int | None = None,
    ) -> p.Ack:
        """Send a message (answering the message ``reply_to`` of the room); resolves with the
        ack once the server has committed it.

        While disconnected the message waits in the outbox; it is sent (again) with the same
        ``id`` after a reconnect, so it is stored once whatever happens to the connection.
        """
        if (room is None) == (to is None):
            raise ValueError("give exactly one of room= and to=")
        frame = p.Send(body=body, id=id or new_id(), room=room, to=to, reply_to=reply_to)
        return await self._submit(frame)

    async def edit(self, room: str, target: int, body: str, *, id: str | None = None) -> p.Ack:
        """Replace the text of your message ``target``; the ack's seq is the edit's entry.
        Kept and made again across reconnects like :meth:`send`."""
        return await self._submit(p.Edit(room=room, target=target, body=body, id=id or new_id()))

    async def delete(
        self, room: str, target: int, reason: str | None = None, *, id: str | None = None
    ) -> p.Ack:
        """Delete the message ``target`` (its text is erased for everyone), like :meth:`send`."""
        frame = p.Delete(room=room, target=target, reason=reason, id=id or new_id())
        return await self._submit(frame)

    async def react(
        self, room: str, target: int, emoji: str, remove: bool = False, *, id: str | None = None
    ) -> p.Ack:
        """Add ``emoji`` to the message ``target`` (take it back with ``remove``), like
        :meth:`send`; a repeat, or removing what is not there, is acked and changes nothing."""
        frame = p.React(room=room, target=target, emoji=emoji, remove=remove, id=id or new_id())
        return await self._submit(frame)

    # --- rooms with owners (protocol 2): each acked once its notice entry is committed ---

    async def create(self, room: str, *, private: bool = False, topic: str | None = None) -> p.Ack:
        """Make ``room`` (public, or ``private``: only members and invitees may join), you
        its owner; ``conflict`` when the name is taken. Join it afterwards to read it."""
        return await self._submit(
            p.Create(room=room, private=private, topic=topic or "", id=new_id())
        )

    async def invite(self, room: str, nick: str) -> p.Ack:
        """Invite ``nick`` to ``room`` (a private room: its owner or ops only)."""
        return await self._submit(p.Invite(room=room, nick=nick, id=new_id()))

    async def kick(self, room: str, nick: str, reason: str | None = None) -> p.Ack:
        """Remove ``nick`` from ``room`` (they may join a public room again)."""
        return await self._submit(p.Kick(room=room, nick=nick, reason=reason, id=new_id()))

    async def ban(self, room: str, nick: str, reason: str | None = None) -> p.Ack:
        """Remove ``nick`` from ``room`` and keep them out until :meth:`unban`."""
        return await self._submit(p.Ban(room=room, nick=nick, reason=reason, id=new_id()))

    async def unban(self, room: str, nick: str) -> p.Ack:
        return await self._submit(p.Unban(room=room, nick=nick, id=new_id()))

    async def set_role(self, room: str, nick: str, role: Literal["owner", "op", "member"]) -> p.Ack:
        """Make ``nick`` an ``op`` or a plain ``member`` of ``room``, or its ``owner`` (the
        owner hands the room on and becomes an op)."""
        return await self._submit(p.SetRole(room=room, nick=nick, role=role, id=new_id()))

    async def set_topic(self, room: str, topic: str) -> p.Ack:
        return await self._submit(p.Topic(room=room, topic=topic, id=new_id()))

    async def history(
        self,
        room: str,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 100,
        thread: int | None = None,
        around: int | None = None,
    ) -> p.HistoryPage:
        """One page of a room's history (ascending by seq), as the server sent it: with
        protocol 2 a page may hold change entries (``kind`` "edit", "delete" or "react")
        beside the messages, which already read as they are now. ``thread``: the thread of
        that message (page on with ``after``); ``around``: ``limit`` entries centred on a seq.
        ``entries.RoomLog`` turns pages and events into the messages as they are now."""
        frame = p.History(
            room=room, before=before, after=after, limit=limit, thread=thread, around=around
        )
        page: p.HistoryPage = await self._request(frame)
        return page

    async def read(self, room: str, seq: int) -> None:
        """Move the read marker; kept until the connection is back if it is down."""
        self._reads[room] = max(seq, self._reads.get(room, 0))
        conn = self._conn
        if conn is not None and conn.ready.is_set():
            await self._flush_reads(conn)

    async def typing(self, room: str) -> None:
        """Tell the room you are typing (dropped while disconnected: it would be stale)."""
        conn = self._conn
        if conn is not None and conn.ready.is_set():
            with contextlib.suppress(ConnectionClosed):
                await conn.ws.send(p.encode(p.Typing(room=room)), text=True)

    async def search(self, q: str, *, room: str | None = None, limit: int = 50) -> p.Results:
        results: p.Results = await self._request(p.Search(q=q, room=room, limit=limit))
        return results

    async def list_rooms(
        self, *, limit: int = p.ROOMS_DEFAULT, cursor: str | None = None
    ) -> p.RoomList:
        """A page of the public rooms, biggest first; the reply's ``cursor`` asks for the next
        page (None after the last)."""
        rooms: p.RoomList = await self._request(p.Rooms(limit=limit, cursor=cursor))
        return rooms

    async def all_rooms(self) -> AsyncIterator[p.RoomInfo]:
        """Every public room, biggest first, a page at a time."""
        cursor: str | None = None
        while True:
            page = await self.list_rooms(limit=p.ROOMS_MAX, cursor=cursor)
            for room in page.rooms:
                yield room
            if page.cursor is None:
                return
            cursor = page.cursor

    async def members(
        self, room: str, after: str | None = None, limit: int | None = None
    ) -> p.MemberPage:
        """A page of ``room``'s members by nick, case-insensitively (after the nick
        ``after``; at most ``limit``, default and most ``p.JOINED_MEMBERS_MAX``), with the
        online ones among them; ``more`` says whether to ask again after the last one."""
        frame = p.Members(room=room, after=after, limit=limit or p.JOINED_MEMBERS_MAX)
        page: p.MemberPage = await self._request(frame)
        return page

    async def all_members(self, room: str) -> AsyncIterator[tuple[str, bool]]:
        """Every member of ``room`` (nick, online), by nick, a page at a time."""
        after: str | None = None
        while True:
            page = await self.members(room, after=after)
            online = set(page.online)
            for nick in page.members:
                yield nick, nick in online
            if not page.more or not page.members:
                return
            after = page.members[-1]

    async def block(self, nick: str) -> str:
        """Refuse ``nick``'s direct messages and hide your presence from them (blocking
        again does no harm); returns the nick as the account spells it."""
        blocked: p.Blocked = await self._request(p.Block(nick=nick))
        if self._blocked is not None:
            self._blocked[p.nick_key(blocked.nick)] = blocked.nick
        return blocked.nick

    async def unblock(self, nick: str) -> str:
        """Undo :meth:`block`; returns the nick as the account spells it."""
        unblocked: p.Unblocked = await self._request(p.Unblock(nick=nick))
        if self._blocked is not None:
            self._blocked.pop(p.nick_key(unblocked.nick), None)
        return unblocked.nick

    @property
    def blocked(self) -> list[str] | None:
        """Whom the user blocked, sorted case-insensitively: what the last ``welcome`` said,
        with the blocks and unblocks made through this client since. None when the server
        does not say (a server older than ``welcome.blocked``)."""
        if self._blocked is None:
            return None
        return sorted(self._blocked.values(), key=str.lower)

    async def change_password(self, old: str, new: str) -> None:
        """Change the account's password; the server revokes every other token of it."""
        await self._request(p.Password(old=old, new=new))

    async def logout(self, *, everywhere: bool = False) -> None:
        """Revoke this session's token (``everywhere``: every token of the account, which
        closes its other connections too) on the server, and close."""
        conn = await self._ready()
        self._closing = True
        with contextlib.suppress(ConnectionClosed):
            await conn.ws.send(p.encode(p.Logout(all=everywhere)), text=True)
            async with asyncio.timeout(self.open_timeout):
                await conn.ws.wait_closed()
        await self.close()
