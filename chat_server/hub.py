"""Who is connected and subscribed where on this node, and fan-out to them.

Every frame to a client leaves through :meth:`Hub.write` (now) or :meth:`Hub.deliver_room`
(encoded once into a prepared frame, queued, and written with whatever else piled up for
the connection at the end of the loop tick: chat_server/framing.py). A write flushes what
is queued for its connection first, so frames reach a connection in the order the server
produced them (the ack before the sender's own message, history before live events).
Neither path has backpressure: a connection whose write buffer passes ``max_buffer`` is
closed with 1013.

Who receives which room's events from which seq on is the pure
:class:`~chat_server.subscriptions.Subscriptions`; this module keeps the sessions and
writes to them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from websockets.asyncio.server import ServerConnection

from chat_server.addresses import peer
from chat_server.framing import FrameWriter, Outbox, text_frame
from chat_server.protocol import CLOSE_TRY_AGAIN
from chat_server.ratelimit import Cooldown, TokenBucket
from chat_server.subscriptions import ALWAYS, Subscriptions

log = logging.getLogger(__name__)

# what any connection may have on its way even when the server is over --max-pending-output:
# a page of a hundred ordinary messages
RESERVE = 64 * 1024


class Session(Outbox):
    """One authenticated connection (and its outbox: see chat_server/framing.py)."""

    __slots__ = (
        "abuse",
        "expires_at",
        "key",
        "nick",
        "password_tries",
        "read_bytes",
        "reads",
        "rooms",
        "searches",
        "sends",
        "token_hash",
        "typing",
        "user_id",
    )

    def __init__(
        self,
        ws: ServerConnection,
        user_id: int,
        nick: str,
        token_hash: bytes,
        expires_at: float | None = None,
        *,
        sends: TokenBucket,
        reads: TokenBucket,
        searches: TokenBucket,
        abuse: TokenBucket,
        password_tries: TokenBucket,
        read_bytes: TokenBucket,
        typing_interval: float = 3.0,
    ) -> None:
        super().__init__(ws)
        self.key = ws.id.hex
        self.user_id = user_id
        self.nick = nick
        self.token_hash = token_hash
        self.expires_at = expires_at  # the token's expiry (epoch seconds); None: never
        self.rooms: set[str] = set()  # subscribed rooms, live or held
        self.sends = sends  # the send rate limit: the user's, shared by their connections
        self.reads = reads  # history, search, rooms and join
        self.searches = searches  # search, besides reads
        self.abuse = abuse  # bad requests tolerated before the connection is closed
        self.typing = Cooldown(typing_interval)
        # old-password checks, the user's across their connections (ctx.password_tries)
        self.password_tries = password_tries
        # the bytes of pages and results, the user's across their connections
        self.read_bytes = read_bytes


class Hub:
    """Rooms to local subscribed sessions, users to their sessions, and fan-out."""

    def __init__(self, max_buffer: int, max_pending: int = 1 << 62) -> None:
        self.max_buffer = max_buffer
        self.max_pending = max_pending  # bytes on their way to all connections together
        self._pending_total = 0
        self._pending_at = -1.0
        self._pending_visited = 0  # connections the last sum went over
        self.subscriptions: Subscriptions[Session] = Subscriptions()
        self._users: dict[int, dict[Session, None]] = {}
        self.writer: FrameWriter[Session] = FrameWriter(max_buffer, self._slow)
        self.slow_closed = 0
        self.delivered = 0  # events written to connections by room fan-out
        # closed as slow and not gone yet: their unread output still takes memory (until
        # the peer reads it or the close times out), so it still counts in the total
        self._shedding: dict[Session, None] = {}

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
    def user_count(self) -> int:
        return len(self._users)

    @property
    def room_count(self) -> int:
        return self.subscriptions.room_count

    # --- subscriptions --------------------------------------------------------------------

    def subscribe(self, session: Session, room: str, *, live: bool = False) -> None:
        """Start receiving a room's events: held until :meth:`go_live` unless ``live``."""
        self.subscriptions.subscribe(session, room, live=live)

    def go_live(self, session: Session, room: str, covered: int) -> None:
        """Write the events held since :meth:`subscribe` that are newer than ``covered``."""
        for data in self.subscriptions.go_live(session, room, covered):
            self.writer.queue(session, text_frame(data))
        self.writer.schedule()

    def unsubscribe(self, session: Session, room: str) -> None:
        self.subscriptions.unsubscribe(session, room)

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

    # --- output budgets -------------------------------------------------------------------

    def pending_total(self) -> int:
        """Bytes on their way to every connection of this node: a big reply asks, the
        fan-out's hot path does not. Summed at most ten times a second, and less often with
        more than 2,000 connections (about once a second at 18,000, every 2 s past 40,000),
        so the sums cost at most 20,000 connections' worth a second up to 40,000; the replies
        in between add what they write (``room_for``); what the fan-out writes meanwhile
        waits for the next sum (a room's fan-out is bounded per connection, ``max_buffer``).
        (Summing 100,000 connections' worth a second, a restart's 18,000 re-joins spent 13 %
        of the event loop in it: py-spy, c100k.)"""
        now = time.monotonic()
        if now - self._pending_at > min(2.0, 0.1 * max(1.0, self._pending_visited / 2_000)):
            pending = self.writer.pending
            sessions = dict.fromkeys(self.all_sessions()) | self._shedding
            self._pending_total = sum(pending(s) for s in sessions)
            self._pending_visited = len(sessions)
            self._pending_at = now
        return self._pending_total

    def room_for(self, session: Session) -> tuple[int, int]:
        """How many more bytes a reply may add: within the connection's ``max_buffer``, and
        within the server's ``max_pending`` (a big reply is fitted to the smaller).

        Every connection may have ``RESERVE`` on its way even when the server is over its
        total: someone else's flood never refuses a bystander's page, and the overshoot is
        at most ``RESERVE`` a connection."""
        pending = self.writer.pending(session)
        own = self.max_buffer - pending
        server = max(self.max_pending - self.pending_total(), RESERVE - pending)
        return own, server

    def account(self, data: bytes) -> None:
        """Count a big reply just written in the cached total until the next sum."""
        self._pending_total += len(data)

    def close_slow(self, session: Session) -> None:
        """Close a connection whose unread output leaves no room for its reply (1013)."""
        if not session.closing:
            session.closing = True
            self._slow(session)

    def write(self, session: Session, data: bytes) -> None:
        """Write one frame to one session, now (after what is queued for it)."""
        if not session.closing:
            self.writer.write_now(session, text_frame(data))

    def deliver_room(
        self, room: str, data: bytes, seq: int | None = None, exclude_user: int | None = None
    ) -> None:
        """Fan a room event out to this node's subscribed sessions, encoded once.

        The hot path of the server: one comparison and one list append per subscriber
        (``Subscriptions.recipients`` inlined); the writes happen once per connection at
        the end of the loop tick.
        """
        subscriptions = self.subscriptions
        subscriptions.hold(room, data, seq, exclude_user)
        live = subscriptions.live.get(room)
        if not live:
            return
        frame = text_frame(data)
        after = ALWAYS if seq is None else seq
        writer = self.writer
        dirty = writer.dirty
        skipped = 0  # the sender's own sessions, and those that read it in their backlog
        for session, covered in live.items():
            if after > covered and session.user_id != exclude_user:
                frames = session.frames
                if frames is None:
                    session.frames = frame
                    dirty.append(session)
                elif isinstance(frames, list):
                    frames.append(frame)
                else:
                    session.frames = [frames, frame]
            else:
                skipped += 1
        self.delivered += len(live) - skipped  # per call, not per recipient
        writer.schedule()

    def deliver_room_except(self, room: str, data: bytes, exclude_users: Collection[int]) -> None:
        """A room event (no seq) for every subscribed session but those of ``exclude_users``
        (presence hidden from people someone blocked): rare, so a set lookup per session."""
        subscriptions = self.subscriptions
        subscriptions.hold(room, data, exclude_users=exclude_users)
        live = subscriptions.live.get(room)
        if not live:
            return
        frame = text_frame(data)
        for session in live:
            if session.user_id not in exclude_users:
                self.writer.queue(session, frame)
                self.delivered += 1
        self.writer.schedule()

    def deliver_user_rooms(self, user_id: int, events: Sequence[tuple[str, bytes]]) -> None:
        """Room events (no seq) for one user's sessions subscribed to each room: live ones
        get them now, held ones (a ``join`` reading its backlog) after the backlog."""
        subscriptions = self.subscriptions
        for session in self.sessions_of(user_id):
            if session.closing:
                continue
            for room, data in events:
                if room in session.rooms and not subscriptions.hold_for(session, room, data):
                    self.writer.queue(session, text_frame(data))
        self.writer.schedule()

    def deliver_user(self, user_id: int, data: bytes, exclude: str | None = None) -> None:
        """Write an event to every session of one user but ``exclude`` (read markers)."""
        for session in self.sessions_of(user_id):
            if session.key != exclude:
                self.write(session, data)

    def _slow(self, session: Session) -> None:
        """The writer found a slow consumer (already marked closing): close it with 1013.

        The frame just written does not count: one history page can be bigger than the
        limit (500 long messages), and a client that reads is not slow for asking for it.
        A buffer stays under ``max_buffer`` plus one frame.
        """
        self.slow_closed += 1
        where = peer(session.ws)  # behind a trusted proxy: the client it named
        log.info(
            "closing slow consumer %s (%s)", session.nick, where,
            extra={"event": "slow_consumer", "nick": session.nick, "peer": where, "code": 1013},
        )  # fmt: skip
        self._shedding[session] = None
        closing = asyncio.get_running_loop().create_task(
            session.ws.close(CLOSE_TRY_AGAIN, "slow consumer: reconnect and resume with since")
        )
        closing.add_done_callback(lambda _: self._shedding.pop(session, None))

    def close_all(self, sessions: Iterable[Session], code: int, reason: str) -> list[Any]:
        """Start closing sessions; return the close tasks to await."""
        loop = asyncio.get_running_loop()
        tasks = []
        for session in sessions:
            session.closing = True
            tasks.append(loop.create_task(session.ws.close(code, reason)))
        return tasks
