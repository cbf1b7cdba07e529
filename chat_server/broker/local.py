"""The in-process broker: one node, events go straight to the local hub."""

from __future__ import annotations

from chat_server.broker.base import Receiver


class LocalBroker:
    """Fan-out within one server process."""

    def __init__(self) -> None:
        self._receiver: Receiver | None = None

    async def start(self, receiver: Receiver) -> None:
        self._receiver = receiver

    async def close(self) -> None:
        self._receiver = None

    def publish_room(
        self, room: str, data: bytes, seq: int | None = None, exclude_user: int | None = None
    ) -> None:
        if self._receiver is not None:
            self._receiver.deliver_room(room, data, seq, exclude_user)

    def publish_user(self, user_id: int, data: bytes, exclude: str | None = None) -> None:
        if self._receiver is not None:
            self._receiver.deliver_user(user_id, data, exclude)

    def subscribe_user(self, user_id: int, room: str) -> None:
        if self._receiver is not None:
            self._receiver.subscribe_user(user_id, room)

    @property
    def healthy(self) -> bool:
        return True
