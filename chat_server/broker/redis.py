"""Fan-out across server nodes through Redis pub/sub (redis-py asyncio), and presence.

Every event goes to one channel, ``<prefix>:events``; every node (the publisher included)
subscribes to it and hands what arrives to its hub, which writes to the node's own
subscribed connections and ignores the rest. Events are published only after their
message committed, so Redis carries nothing that is not in the database: pub/sub is
at-most-once, and clients fill any gap from history by seq.

While Redis is unreachable the node keeps serving: events go straight to its own hub (its
own clients stay live, other nodes' clients catch up by seq later), ``healthy`` is False
(``/healthz`` says degraded), and the subscriber reconnects and resubscribes with backoff.

Failed logins (nick key and client address) and signups (client address) travel on the
channel too, so the limits on failed logins and on signups per address hold for the whole
chat, not per node.

Presence: each node keeps a hash ``<prefix>:node:<id>`` (user id -> nick) of the users it
serves, and its liveness deadline in the sorted set ``<prefix>:nodes``, refreshed by a
heartbeat every third of ``presence_ttl``. A node whose deadline passed is dead: the first
node whose heartbeat sees it removes it and announces its users offline (those no live
node has). The checks run as Lua scripts (``presence_scripts.py``), so two nodes never both
decide the same change. The scripts name keys built from the prefix, which suits one Redis
server (not a cluster); the events' wire form is in ``envelope.py``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import uuid
from collections.abc import Collection, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from chat_server.broker.base import LagHook, LoginHook, PresenceHook, Receiver, SignupHook
from chat_server.broker.envelope import (
    Envelope,
    LeaveUser,
    LoginResult,
    RoomEvent,
    RoomEventExcept,
    Signup,
    SubscribeUser,
    UserEvent,
    UserRoomEvents,
    decode_envelope,
    deliver,
    encode_envelope,
)
from chat_server.broker.presence_scripts import HEARTBEAT, LEAVE, OFFLINE, ONLINE, ONLINE_SET

log = logging.getLogger(__name__)

_REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)
_SUBSCRIBE_ERRORS: tuple[type[Exception], ...] = (*_REDIS_ERRORS, TimeoutError)
_OUTBOX_MAX = 10_000
_BACKOFF_MAX = 2.0


class RedisBroker:
    """The Broker protocol over Redis: fan-out to every node, presence across nodes."""

    def __init__(self, url: str, *, prefix: str = "chat", presence_ttl: float = 30.0) -> None:
        self.url = url
        self.prefix = prefix
        self.presence_ttl = presence_ttl
        self.node = uuid.uuid4().hex[:16]
        self.channel = f"{prefix}:events"
        # Commands retry once at once (a pooled connection may have gone stale while
        # Redis restarted); the subscription never retries by itself, so the subscriber
        # sees every loss and says so.
        self._redis: Redis = Redis.from_url(
            url, socket_timeout=5.0, socket_connect_timeout=2.0, retry=Retry(NoBackoff(), 1)
        )
        self._sub_redis: Redis = Redis.from_url(
            url, socket_timeout=None, socket_connect_timeout=2.0, retry=Retry(NoBackoff(), 0)
        )
        self._receiver: Receiver | None = None
        self._presence: PresenceHook | None = None
        self._logins: LoginHook | None = None
        self._signups: SignupHook | None = None
        self._lag: LagHook | None = None
        self._up = False
        self._outbox: collections.deque[Envelope] = collections.deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while the outbox is empty
        self._idle.set()
        self._beat_now = asyncio.Event()
        self._local: dict[int, str] = {}  # users served by this node -> nick
        # users who came or went while Redis was unreachable: only this node's clients
        # heard about it; the first heartbeat after Redis is back tells the others
        self._unsynced: dict[int, str] = {}
        # ...announced twice, on two heartbeats in a row: a node that resubscribed a moment
        # after this one (Redis pub/sub keeps nothing for late subscribers) hears the second
        self._announce_again: dict[int, str] = {}
        self._presence_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.reconnects = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def start(
        self,
        receiver: Receiver,
        presence: PresenceHook | None = None,
        logins: LoginHook | None = None,
        signups: SignupHook | None = None,
        lag: LagHook | None = None,
    ) -> None:
        """Start the publisher, the subscriber and the heartbeat; Redis may be down."""
        self._receiver = receiver
        self._lag = lag
        self._presence = presence
        self._logins = logins
        self._signups = signups
        subscribed = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._subscriber(subscribed), name="redis-subscriber"),
            asyncio.create_task(self._publisher(), name="redis-publisher"),
            asyncio.create_task(self._heartbeat(), name="redis-heartbeat"),
        ]
        # Wait a little for the first subscription, so the first events are not local-only.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await subscribed.wait()

    async def close(self) -> None:
        """Publish what is queued (briefly), leave the presence set, stop."""
        if self._up:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._idle.wait()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._up:
            with contextlib.suppress(*_REDIS_ERRORS):
                await self._script(LEAVE, self.node)
        self._up = False
        for client in (self._redis, self._sub_redis):
            with contextlib.suppress(*_REDIS_ERRORS):
                await client.aclose()
        self._receiver = None

    @property
    def healthy(self) -> bool:
        return self._up

    def _down(self, what: str, exc: BaseException) -> None:
        if self._up:
            log.warning("redis unavailable (%s: %s); serving this node's clients only", what, exc)
        self._up = False

    # --- publishing -----------------------------------------------------------------------

    def publish_room(
        self, room: str, data: bytes, seq: int | None = None, exclude_user: int | None = None
    ) -> None:
        self._publish(RoomEvent(room, data, seq, exclude_user, time.time()))

    def publish_user(self, user_id: int, data: bytes, exclude: str | None = None) -> None:
        self._publish(UserEvent(user_id, data, exclude))

    def publish_room_except(self, room: str, data: bytes, exclude_users: Collection[int]) -> None:
        self._publish(RoomEventExcept(room, data, sorted(exclude_users)))

    def publish_user_rooms(self, user_id: int, events: Sequence[tuple[str, bytes]]) -> None:
        self._publish(UserRoomEvents(user_id, list(events)))

    def subscribe_user(self, user_id: int, room: str) -> None:
        self._publish(SubscribeUser(user_id, room))

    def leave_user(self, user_id: int, room: str, data: bytes, exclude: str | None = None) -> None:
        self._publish(LeaveUser(user_id, room, data, exclude))

    def share_login(self, key: str, address: str) -> None:
        self._publish(LoginResult(self.node, key, True, address))

    def share_signup(self, address: str) -> None:
        self._publish(Signup(self.node, address))

    def _publish(self, envelope: Envelope) -> None:
        if self._receiver is None:
            return
        if not self._up or len(self._outbox) >= _OUTBOX_MAX:
            deliver(self._receiver, envelope)  # degraded: this node's clients only
            return
        self._outbox.append(envelope)
        self._idle.clear()
        self._wake.set()

    async def _publisher(self) -> None:
        """Publish queued events in order, pipelined; on failure deliver them locally."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                batch = [self._outbox.popleft() for _ in range(min(len(self._outbox), 1000))]
                try:
                    pipe = self._redis.pipeline(transaction=False)
                    for envelope in batch:
                        pipe.publish(self.channel, encode_envelope(envelope))
                    await pipe.execute()
                except _REDIS_ERRORS as exc:
                    self._down("publish", exc)
                    batch.extend(self._outbox)
                    self._outbox.clear()
                    if self._receiver is not None:
                        for envelope in batch:
                            deliver(self._receiver, envelope)
            self._idle.set()

    # --- receiving ------------------------------------------------------------------------

    async def _subscriber(self, subscribed: asyncio.Event) -> None:
        """Stay subscribed: reconnect with backoff whenever Redis fails."""
        delay = 0.05
        while True:
            pubsub = self._sub_redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                async with asyncio.timeout(5.0):
                    while True:
                        confirm = await pubsub.get_message(timeout=1.0)
                        if confirm is not None and confirm["type"] == "subscribe":
                            break
                if subscribed.is_set():
                    self.reconnects += 1
                    log.warning("redis is back; subscribed to %s again", self.channel)
                subscribed.set()
                self._up = True
                self._beat_now.set()
                delay = 0.05
                while self._up:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message["type"] == "message":
                        self._receive(message["data"])
            except _SUBSCRIBE_ERRORS as exc:
                self._down("subscribe", exc)
            except Exception as exc:  # a bug must not end fan-out for good: start over
                log.exception("the redis subscriber failed")
                self._down("subscribe", exc)
            finally:
                with contextlib.suppress(*_REDIS_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX)

    def _receive(self, data: Any) -> None:
        envelope = decode_envelope(data) if isinstance(data, bytes) else None
        if envelope is None:
            log.warning("ignoring a malformed event on %s", self.channel)
            return
        if isinstance(envelope, LoginResult):
            if envelope.failed and envelope.node != self.node and self._logins is not None:
                self._logins(envelope.key, envelope.address)
        elif isinstance(envelope, Signup):
            if envelope.node != self.node and self._signups is not None:
                self._signups(envelope.address)
        elif self._receiver is not None:
            deliver(self._receiver, envelope)
            if self._lag is not None and isinstance(envelope, RoomEvent) and envelope.sent:
                self._lag(time.time() - envelope.sent)

    # --- presence -------------------------------------------------------------------------

    async def _script(self, script: str, *args: str | int) -> Any:
        return await self._redis.eval(script, 0, self.prefix, *args)

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.presence_ttl * 1000))

    async def user_online(self, user_id: int, nick: str) -> bool:
        self._local[user_id] = nick
        if self._up:
            async with self._presence_lock:
                try:
                    first = await self._script(ONLINE, self.node, self._ttl_ms, user_id, nick)
                    return bool(first)
                except _REDIS_ERRORS as exc:
                    self._down("presence", exc)
        self._unsynced[user_id] = nick
        return True

    async def user_offline(self, user_id: int) -> bool:
        nick = self._local.pop(user_id, None)
        if self._up:
            async with self._presence_lock:
                try:
                    return bool(await self._script(OFFLINE, self.node, user_id))
                except _REDIS_ERRORS as exc:
                    self._down("presence", exc)
        if nick is not None:
            self._unsynced[user_id] = nick
        return True

    async def online(self, user_ids: Collection[int]) -> set[int]:
        local = {user_id for user_id in user_ids if user_id in self._local}
        rest = [user_id for user_id in user_ids if user_id not in local]
        if not rest or not self._up:
            return local
        try:
            found = await self._script(ONLINE_SET, *rest)
        except _REDIS_ERRORS as exc:
            self._down("presence", exc)
            return local
        return local | {int(uid) for uid in found}

    async def _heartbeat(self) -> None:
        """Keep this node alive in Redis, and announce the users of dead nodes offline."""
        first = True
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.presence_ttl / 3):
                    await self._beat_now.wait()
            self._beat_now.clear()
            if not self._up:
                continue
            users = dict(self._local)
            args: list[str | int] = [self.node, self._ttl_ms]
            for user_id, nick in users.items():
                args += [user_id, nick]
            try:
                async with self._presence_lock:
                    added, gone = await self._script(HEARTBEAT, *args)
            except _REDIS_ERRORS as exc:
                self._down("heartbeat", exc)
                continue
            if self._presence is None:
                continue
            changes: list[tuple[int, str, str]] = [
                (int(gone[i]), gone[i + 1].decode(), "offline") for i in range(0, len(gone), 2)
            ]
            unsynced, self._unsynced = self._unsynced, {}
            if added and not first:
                # Others took this node for dead (or Redis lost its data): say we are here.
                unsynced.update(users)
            first = False
            again, self._announce_again = self._announce_again, dict(unsynced)
            unsynced = {**again, **unsynced}
            online = await self.online(unsynced)
            changes += [
                (user_id, nick, "online" if user_id in online else "offline")
                for user_id, nick in unsynced.items()
            ]
            for user_id, nick, status in changes:
                try:
                    await self._presence(user_id, nick, status)
                except Exception:  # one user's announcement must not stop the heartbeat
                    log.exception("announcing %s %s failed", nick, status)
