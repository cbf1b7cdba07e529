"""The fan-out contract: how a committed event reaches every node's connections.

Publishing is synchronous and fire-and-forget, so events published in seq order leave in
seq order; an implementation that crosses the network queues them internally. Every node
(the publisher included) hands what it receives to its Receiver, the local hub.
"""

from __future__ import annotations

from typing import Protocol


class Receiver(Protocol):
    """What a broker delivers to: the node's hub."""

    def deliver_room(
        self, room: str, data: bytes, seq: int | None = None, exclude_user: int | None = None
    ) -> None: ...

    def deliver_user(self, user_id: int, data: bytes, exclude: str | None = None) -> None: ...

    def subscribe_user(self, user_id: int, room: str) -> None: ...


class Broker(Protocol):
    async def start(self, receiver: Receiver) -> None: ...

    async def close(self) -> None: ...

    def publish_room(
        self, room: str, data: bytes, seq: int | None = None, exclude_user: int | None = None
    ) -> None:
        """An event for a room's subscribed connections (``seq`` for messages)."""

    def publish_user(self, user_id: int, data: bytes, exclude: str | None = None) -> None:
        """An event for every connection of one user, but the session ``exclude``."""

    def subscribe_user(self, user_id: int, room: str) -> None:
        """Subscribe a user's open connections to a room (a new direct conversation)."""

    @property
    def healthy(self) -> bool: ...
