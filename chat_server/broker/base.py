"""The fan-out contract: how a committed event reaches every node's connections.

Publishing is synchronous and fire-and-forget, so events published in seq order leave in
seq order; an implementation that crosses the network queues them internally. Every node
(the publisher included) hands what it receives to its Receiver, the local hub.

Presence spans nodes: the handler tells the broker when a user's first connection on this
node comes and the last one goes, and the broker says whether that changes the user's
presence for the whole chat. Presence decided elsewhere (a node died, so its users went
offline) comes back through the PresenceHook.

The per-address limits on failed logins and on signups span nodes the same way: each node
keeps its own count and shares what it let through (``share_login``, ``share_signup``); the
others' count it through the LoginHook and the SignupHook.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Protocol

PresenceHook = Callable[[int, str, str], Awaitable[None]]
"""Announce (user id, nick, ``online``/``offline``) to the user's rooms."""

LoginHook = Callable[[str, str | None], None]
"""Record a failed login (nick key, client address) from another node in the login limits."""

SignupHook = Callable[[str], None]
"""Record a signup (client address) let through by another node in the signup limits."""

LagHook = Callable[[float], None]
"""Observe the seconds from a node publishing a room event to this node receiving it."""


class Receiver(Protocol):
    """What a broker delivers to: the node's hub."""

    def deliver_room(
        self, room: str, data: bytes, seq: int | None = None, exclude_user: int | None = None
    ) -> None: ...

    def deliver_user(self, user_id: int, data: bytes, exclude: str | None = None) -> None: ...

    def deliver_room_except(
        self, room: str, data: bytes, exclude_users: Collection[int]
    ) -> None: ...

    def deliver_user_rooms(self, user_id: int, events: Sequence[tuple[str, bytes]]) -> None: ...

    def subscribe_user(self, user_id: int, room: str) -> None: ...

    def leave_user(
        self, user_id: int, room: str, data: bytes, exclude: str | None = None
    ) -> None: ...


class Broker(Protocol):
    async def start(
        self,
        receiver: Receiver,
        presence: PresenceHook | None = None,
        logins: LoginHook | None = None,
        signups: SignupHook | None = None,
        lag: LagHook | None = None,
    ) -> None: ...

    async def close(self) -> None: ...

    def publish_room(
        self, room: str, data: bytes, seq: int | None = None, exclude_user: int | None = None
    ) -> None:
        """An event for a room's subscribed connections (``seq`` for messages)."""

    def publish_user(self, user_id: int, data: bytes, exclude: str | None = None) -> None:
        """An event for every connection of one user, but the session ``exclude``."""

    def publish_room_except(self, room: str, data: bytes, exclude_users: Collection[int]) -> None:
        """A room event (no seq) for every subscribed connection but those of
        ``exclude_users``: presence that people someone blocked must not see. Rare, so
        the fan-out may check each recipient; messages take ``publish_room``."""

    def publish_user_rooms(self, user_id: int, events: Sequence[tuple[str, bytes]]) -> None:
        """Room events (room, data; no seq) for one user's connections subscribed to each
        room: someone's presence as that user alone should now see it (after a block)."""

    def subscribe_user(self, user_id: int, room: str) -> None:
        """Subscribe a user's open connections to a room (a new direct conversation)."""

    def leave_user(self, user_id: int, room: str, data: bytes, exclude: str | None = None) -> None:
        """Unsubscribe a user's connections from a room they left, sending them ``data``."""

    def share_login(self, key: str, address: str) -> None:
        """Tell the other nodes of a failed login (nick key, client address), so the limits
        on failed logins hold chat-wide. The publishing node is not told: it counted it."""

    def share_signup(self, address: str) -> None:
        """Tell the other nodes that ``address`` was let create an account, so the signup
        limit holds chat-wide. The publishing node is not told: it counted it."""

    async def user_online(self, user_id: int, nick: str) -> bool:
        """The user's first connection on this node: True when no node had the user."""
        ...

    async def user_offline(self, user_id: int) -> bool:
        """The user's last connection on this node went: True when no node has the user."""
        ...

    async def online(self, user_ids: Collection[int]) -> set[int]:
        """Those of ``user_ids`` connected to some node."""
        ...

    @property
    def healthy(self) -> bool:
        """False while fan-out across nodes is impaired (``/healthz`` says degraded)."""
        ...
