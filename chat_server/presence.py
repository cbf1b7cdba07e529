"""Online and offline across nodes, login outcomes shared between nodes, and revocation:
connections whose token was revoked or expired are closed."""

from __future__ import annotations

import asyncio
import logging
import time

from chat_server import access
from chat_server import protocol as p
from chat_server.context import Context
from chat_server.errors import StoreError

log = logging.getLogger("chat_server")


class Presence:
    """What the broker calls back with, and the task that sweeps revoked sessions."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.ctx.broker.start(self.ctx.hub, self.announce, self.login_elsewhere)
        self._sweeper = asyncio.create_task(self._sweep_revoked(), name="revocation-sweep")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # a dying database must not stop the shutdown
                log.warning("revocation sweep ended with %s: %s", type(exc).__name__, exc)
        await self.ctx.broker.close()

    async def announce(self, user_id: int, nick: str, status: str) -> None:
        """Tell the user's rooms that the user came online or went offline (on any node).

        Only where others may see it (``access.shows_presence``): the user's public rooms
        and the direct conversations they have written in, never to someone they blocked,
        and in a direct conversation not while either of the two blocks the other.
        """
        assert status in ("online", "offline")
        store, broker = self.ctx.store, self.ctx.broker
        rooms = await store.presence_rooms(user_id)
        if not rooms:
            return
        blocks = await store.blocks(user_id)
        for room in rooms:
            event = p.encode(p.Presence(room=room, nick=nick, status=status))  # type: ignore[arg-type]
            dm = p.dm_pair(room) is not None
            hidden = access.hidden_from(dm=dm, blocked=blocks.blocked, blocked_by=blocks.blocked_by)
            if hidden:
                broker.publish_room_except(room, event, hidden | {user_id})
            else:
                broker.publish_room(room, event, exclude_user=user_id)

    def login_elsewhere(self, key: str, failed: bool) -> None:
        """Another node's login outcome: failures are throttled across the whole chat."""
        if failed:
            self.ctx.throttle.failed(key, time.monotonic())
        else:
            self.ctx.throttle.succeeded(key)

    async def _sweep_revoked(self) -> None:
        """Close connections whose token was revoked or expired (CLI, logout, removal)."""
        ctx = self.ctx
        while True:
            await asyncio.sleep(ctx.settings.revocation_check)
            sessions = ctx.hub.all_sessions()
            if not sessions:
                continue
            try:
                live = await ctx.store.live_tokens({s.token_hash for s in sessions}, time.time())
            except StoreError as exc:
                log.warning("revocation check failed: %s", exc)
                continue
            dead = [s for s in sessions if s.token_hash not in live and not s.closing]
            if dead:
                log.info("closing %d connection(s) with revoked tokens", len(dead))
                ctx.hub.close_all(dead, p.CLOSE_POLICY, "token revoked")
