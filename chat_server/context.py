"""What every part of a running server shares: settings, storage, fan-out, the hub, the
metrics, the connection caps, the password queue, the login and signup limits, the per-user
limits, and a cache of rooms by name."""

from __future__ import annotations

import time
from typing import Any

from chat_server import protocol as p
from chat_server.addresses import TrustedProxies
from chat_server.admission import Caps
from chat_server.attempts import LoginAttempts, LoginPolicy, Signups
from chat_server.auth import Passwords
from chat_server.broker import Broker
from chat_server.config import Settings
from chat_server.doorman import Doorman
from chat_server.hub import Hub
from chat_server.metrics import NO_METRICS, Metrics, PrometheusMetrics
from chat_server.ratelimit import SharedBuckets
from chat_server.store import Room, RoomQuota, Store


class Context:
    """One per server process; handed to the login, the session loop and every request."""

    def __init__(
        self, settings: Settings, store: Store, broker: Broker, caps: Caps | None = None
    ) -> None:
        """``caps``: the connection caps in force (by default the settings', unfitted)."""
        self.settings = settings
        self.store = store
        self.broker = broker
        self.doorman = Doorman(
            caps or Caps.of(settings),
            TrustedProxies(settings.trusted_proxies),
            settings.max_early_returns,
        )
        self.hub = Hub(settings.max_buffer, settings.max_pending_output)
        self.metrics: Metrics = PrometheusMetrics(self.hub) if settings.metrics else NO_METRICS
        self.passwords = Passwords(settings.hash_concurrency, settings.hash_queue)
        policy = LoginPolicy(
            settings.login_failures, settings.nick_failures, settings.hashes_per_address
        )
        self.logins = LoginAttempts(policy)
        self.signups = Signups(settings.signup_rate)
        self.started = time.monotonic()
        self.limits = p.Limits(
            max_body=p.MAX_BODY,
            max_frame=p.MAX_FRAME,
            history_max=p.HISTORY_MAX,
            rate=p.Rate(per_second=settings.rate_per_second, burst=settings.rate_burst),
            reads=p.Rate(per_second=settings.read_rate, burst=settings.read_burst),
            search=p.Rate(per_second=settings.search_rate, burst=settings.search_burst),
            max_rooms=settings.max_rooms_per_user,
            max_blocks=settings.max_blocks_per_user,
            edit_window_s=settings.edit_window,
        )
        # one send bucket per user, shared by the user's connections on this node
        self.sends: SharedBuckets[int] = SharedBuckets(
            settings.rate_per_second, settings.rate_burst
        )
        # bytes of history pages and search results, per user (``requests/output.py``)
        self.read_bytes: SharedBuckets[int] = SharedBuckets(
            settings.read_bytes_rate, settings.read_bytes_burst
        )
        # old-password checks of ``password``, per user (each costs a hash, and a stolen
        # session could guess the password with them)
        tries = settings.password_tries
        self.password_tries: SharedBuckets[int] = SharedBuckets(tries.rate, tries.count)
        # users with a search under way on this node: one at a time each, so that
        # nobody queues more than one search (of up to ``search_timeout``) before others
        self.searching: set[int] = set()
        self.room_quota = RoomQuota(settings.max_rooms_per_user, settings.room_create_rate)
        # rooms never change name or kind, so a room read once is good for the process
        self.rooms: dict[str, Room] = {}

    async def room(self, name: str) -> Room | None:
        """The room called ``name``, or None when there is none."""
        room = self.rooms.get(name)
        if room is None:
            room = await self.store.room_by_name(name)
            if room is not None:
                self.rooms[name] = room
        return room

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.broker.healthy else "degraded",
            "connections": self.hub.connection_count,
            "rooms": self.hub.room_count,
            "uptime_s": round(time.monotonic() - self.started, 1),
        }
