"""The in-process broker: one node, events go straight to the local hub."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from chat_server.broker.base import LagHook, LoginHook, PresenceHook, Receiver, SignupHook


class LocalBroker:
    """Fan-out within one server process."""

    def __init__(self) -> None:
        self._receiver: Receiver | None = None
        self._online: set[int] = set()

    async def start(
        self,
        receiver: Receiver,
        presence: PresenceHook | None = None,
        logins: LoginHook | None = None,
        signups: SignupHook | None = None,
        lag: LagHook | None = None,
    ) -> None:
        """``lag``: events never cross a network here, so it is never called."""
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

    def publish_room_except(self, room: str, data: bytes, exclude_users: Collection[int]) -> None:
        if self._receiver is not None:
            self._receiver.deliver_room_except(room, data, frozenset(exclude_users))

    def publish_user_rooms(self, user_id: int, events: Sequence[tuple[str, bytes]]) -> None:
        if self._receiver is not None:
            self._receiver.deliver_user_rooms(user_id, events)

    def subscribe_user(self, user_id: int, room: str) -> None:
        if self._receiver is not None:
            self._receiver.subscribe_user(user_id, room)

    def leave_user(self, user_id: int, room: str, data: bytes, exclude: str | None = None) -> None:
        if self._receiver is not None:
            self._receiver.leave_user(user_id, room, data, exclude)

    def share_login(self, key: str, address: str) -> None:
        pass  # one node: its limits have counted it already

    def share_signup(self, address: str) -> None:
        pass  # one node: its limits have counted it already

    async def user_online(self, user_id: int, nick: str) -> bool:
        self._online.add(user_id)
        return True

    async def user_offline(self, user_id: int) -> bool:
        self._online.discard(user_id)
        return True

    async def online(self, user_ids: Collection[int]) -> set[int]:
        return self._online.intersection(user_ids)

    @property
    def healthy(self) -> bool:
        return True
