"""Online and offline across nodes, failed logins and signups shared between nodes, and
revocation: connections whose token was revoked or expired are closed."""

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
        metrics = self.ctx.metrics
        await self.ctx.broker.start(
            self.ctx.hub,
            self.announce,
            self.login_elsewhere,
            self.signup_elsewhere,
            lag=metrics.lag if metrics.enabled else None,
        )
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
        rooms = await store.presence_rooms(user_id, p.PRESENCE_MEMBERS_MAX)
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

    def login_elsewhere(self, key: str, address: str | None) -> None:
        """A failed login on another node: the limits hold for the whole chat."""
        self.ctx.logins.failed(key, address, time.monotonic())

    def signup_elsewhere(self, address: str) -> None:
        """A signup let through on another node: one allowance per address for the chat."""
        self.ctx.signups.spend(address, time.monotonic())

    async def _sweep_revoked(self) -> None:
        """Close connections whose token was revoked (logout, a password change, the command
        line, a removal: on any node, within ``revocation_poll`` plus one query) or expired
        (checked every ``revocation_check``).

        Every revocation deletes a token, and every deleted token moves the store's version:
        only then are this node's tokens asked about (one query per 500 connections). An
        expiry needs no query: each connection knows when its token expires."""
        ctx = self.ctx
        settings = ctx.settings
        seen: int | None = None
        checked = time.monotonic()
        while True:
            await asyncio.sleep(settings.revocation_poll)
            try:
                version = await ctx.store.revocation_version()
            except StoreError as exc:
                log.warning("revocation check failed: %s", exc)
                continue
            if version != seen:
                seen = version
                await self.close_revoked()
            now = time.monotonic()
            if now - checked >= settings.revocation_check:
                checked = now
                self.close_expired(time.time())

    def close_expired(self, now: float) -> None:
        """Close this node's connections whose token expired by ``now`` (epoch seconds)."""
        hub = self.ctx.hub
        dead = [
            s
            for s in hub.all_sessions()
            if s.expires_at is not None and s.expires_at <= now and not s.closing
        ]
        if dead:
            log.info("closing %d connection(s) with expired tokens", len(dead))
            hub.close_all(dead, p.CLOSE_POLICY, "token expired")

    async def close_revoked(self) -> None:
        """Close this node's connections whose token is no longer valid."""
        ctx = self.ctx
        sessions = ctx.hub.all_sessions()
        if not sessions:
            return
        try:
            live = await ctx.store.live_tokens({s.token_hash for s in sessions}, time.time())
        except StoreError as exc:
            log.warning("revocation check failed: %s", exc)
            return
        dead = [s for s in sessions if s.token_hash not in live and not s.closing]
        if dead:
            log.info("closing %d connection(s) with revoked tokens", len(dead))
            ctx.hub.close_all(dead, p.CLOSE_POLICY, "token revoked")
