"""Who is connected and subscribed where on this node, and fan-out to them.

Every frame to a client leaves through :meth:`Hub.write` or :meth:`Hub.deliver_room`,
synchronously, so frames reach a connection in the order the server produced them (the
ack before the sender's own message, history before live events). Neither path has
backpressure: a connection whose write buffer passes ``max_buffer`` is closed with 1013.

A subscription starts out *buffering*: while a ``join`` reads the backlog, live events
for the room are held; when the backlog has been written, held events newer than what
it covered are flushed, so the client sees no gap and no duplicate. Across nodes (Redis) a
message can arrive after the backlog that already held it: it is dropped the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast

from chat_server.protocol import CLOSE_TRY_AGAIN
from chat_server.ratelimit import Cooldown

log = logging.getLogger(__name__)


class Session:
    """One authenticated connection."""

    __slots__ = (
        "closing",
        "covered",
        "key",
        "nick",
        "rooms",
        "token_hash",
        "typing",
        "user_id",
        "ws",
    )

    def __init__(
        self,
        ws: ServerConnection,
        user_id: int,
        nick: str,
        token_hash: bytes,
        typing_interval: float = 3.0,
    ) -> None:
        self.ws = ws
        self.key = ws.id.hex
        self.user_id = user_id
        self.nick = nick
        self.token_hash = token_hash
        # room name -> None when live, or the events held while the backlog is read
        self.rooms: dict[str, list[tuple[bytes, int | None]] | None] = {}
        # room name -> the last seq its join backlog covered (later copies are stale)
        self.covered: dict[str, int] = {}
        self.closing = False
        self.typing = Cooldown(typing_interval)


class Hub:
    """Rooms to local subscribed sessions, users to their sessions, and fan-out."""

    def __init__(self, max_buffer: int) -> None:
        self.max_buffer = max_buffer
        self._rooms: dict[str, dict[Session, None]] = {}
        self._users: dict[int, dict[Session, None]] = {}
        self.slow_closed = 0

    # --- sessions -------------------------------------------------------------------------

    def attach(self, session: Session) -> bool:
        """Register a session; True when it is the user's first on this node."""
        sessions = self._users.setdefault(session.user_id, {})
        sessions[session] = None
        return len(sessions) == 1

    def detach(self, session: Session) -> bool:
        """Forget a session and its subscriptions; True when it was the user's last."""
        for room in list(session.rooms):
            self.unsubscribe(session, room)
        sessions = self._users.get(session.user_id)
        if sessions is None or session not in sessions:
            return False
        del sessions[session]
        if not sessions:
            del self._users[session.user_id]
            return True
        return False

    def sessions_of(self, user_id: int) -> list[Session]:
        return list(self._users.get(user_id, ()))

    def all_sessions(self) -> list[Session]:
        return [s for sessions in self._users.values() for s in sessions]

    def is_online(self, user_id: int) -> bool:
        return user_id in self._users

    @property
    def connection_count(self) -> int:
        return sum(len(sessions) for sessions in self._users.values())

    @property
    def room_count(self) -> int:
        return len(self._rooms)

    # --- subscriptions --------------------------------------------------------------------

    def subscribe(self, session: Session, room: str, *, live: bool = False) -> None:
        """Start receiving a room's events: held until :meth:`go_live` unless ``live``."""
        session.rooms[room] = None if live else []
        self._rooms.setdefault(room, {})[session] = None

    def go_live(self, session: Session, room: str, covered: int) -> None:
        """Flush events held since :meth:`subscribe` that are newer than ``covered``."""
        held = session.rooms.get(room)
        if held is None:
            return
        session.rooms[room] = None
        session.covered[room] = covered
        for data, seq in held:
            if seq is None or seq > covered:
                self.write(session, data)

    def unsubscribe(self, session: Session, room: str) -> None:
        session.rooms.pop(room, None)
        session.covered.pop(room, None)
        members = self._rooms.get(room)
        if members is not None:
            members.pop(session, None)
            if not members:
                del self._rooms[room]

    def subscribe_user(self, user_id: int, room: str) -> None:
        """Subscribe every session of a user, live (a new direct conversation)."""
        for session in self.sessions_of(user_id):
            if room not in session.rooms:
                self.subscribe(session, room, live=True)

    def leave_user(self, user_id: int, room: str, data: bytes, exclude: str | None = None) -> None:
        """Unsubscribe every session of a user from a room, telling each but ``exclude``."""
        for session in self.sessions_of(user_id):
            self.unsubscribe(session, room)
            if session.key != exclude:
                self.write(session, data)

    # --- writing --------------------------------------------------------------------------

    def write(self, session: Session, data: bytes) -> None:
        """Write one frame to one session, now."""
        if session.closing:
            return
        broadcast((session.ws,), data, text=True)
        self._check_buffer(session, len(data))

    def deliver_room(
        self, room: str, data: bytes, seq: int | None = None, exclude_user: int | None = None
    ) -> None:
        """Fan a room event out to this node's subscribed sessions, encoded once."""
        sessions = self._rooms.get(room)
        if not sessions:
            return
        live: list[Session] = []
        for session in sessions:
            if session.closing or session.user_id == exclude_user:
                continue
            held = session.rooms.get(room)
            if held is None:
                if seq is None or seq > session.covered.get(room, 0):
                    live.append(session)
            else:
                held.append((data, seq))
        if live:
            broadcast([s.ws for s in live], data, text=True)
            for session in live:
                self._check_buffer(session, len(data))

    def deliver_user(self, user_id: int, data: bytes, exclude: str | None = None) -> None:
        """Write an event to every session of one user but ``exclude`` (read markers)."""
        for session in self.sessions_of(user_id):
            if session.key != exclude:
                self.write(session, data)

    def _check_buffer(self, session: Session, written: int) -> None:
        """Close the session if what it left unread *before* this frame passes the limit.

        The frame just written does not count: one history page can be bigger than the
        limit (500 long messages), and a client that reads is not slow for asking for it.
        A buffer stays under ``max_buffer`` plus one frame.
        """
        transport: Any = session.ws.transport
        if transport is None or transport.get_write_buffer_size() - written <= self.max_buffer:
            return
        session.closing = True
        self.slow_closed += 1
        log.info("closing slow consumer %s (%s)", session.nick, session.ws.remote_address)
        asyncio.get_running_loop().create_task(
            session.ws.close(CLOSE_TRY_AGAIN, "slow consumer: reconnect and resume with since")
        )

    def close_all(self, sessions: Iterable[Session], code: int, reason: str) -> list[Any]:
        """Start closing sessions; return the close tasks to await."""
        loop = asyncio.get_running_loop()
        tasks = []
        for session in sessions:
            session.closing = True
            tasks.append(loop.create_task(session.ws.close(code, reason)))
        return tasks
