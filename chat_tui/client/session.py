"""Session: the websocket under a ChatClient, kept up across reconnects without gaps or repeats.

It owns the connection in a background task: it reconnects with backoff, re-joins every room
with ``since``, fills gaps from ``history after`` before delivering what follows them, and
routes each frame the server sends to the request, the room or the outbox it belongs to.
``ChatClient`` (``client.py``) puts the public requests on top; ``rooms`` keeps each room's
order and catch-up, ``calls`` matches replies to requests, ``outbox`` holds and writes the sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl as ssl_module
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, Final, Self

import msgspec
from websockets.exceptions import ConnectionClosed

from chat_server import protocol as p
from chat_tui import __version__
from chat_tui.client.calls import Call, Calls, Lost
from chat_tui.client.credentials import DEFAULT_URL
from chat_tui.client.errors import (
    AuthError,
    ClientError,
    ClosedError,
    ConnectError,
    RateLimited,
    ServerError,
)
from chat_tui.client.events import (
    Closed,
    Connected,
    Event,
    JoinResult,
    State,
    Status,
    StatusChanged,
    member_count,
)
from chat_tui.client.handshake import Connection, open_connection
from chat_tui.client.outbox import Outbox, Submission
from chat_tui.client.rooms import (
    CATCH_UP_PAGE,
    Room,
    Rooms,
    catch_up,
    change_event,
    change_record,
    notice_event,
    notice_record,
)
from chat_tui.client.sequencing import Backoff

log = logging.getLogger("chat_tui.client")

# A rate_limited request is made again after its retry_after when that is at most
# MAX_RETRY seconds (a read budget refills in a fraction of a second), and waits at least
# MIN_RETRY; a longer wait (the rooms a user may create an hour) is the caller's error.
MIN_RETRY = 0.05
MAX_RETRY = 5.0


# A re-join refused with one of these is asked again after a reconnect, not given up.
RETRY_LATER: Final = frozenset({"internal"})  # rate_limited: asked again in the call


class Session:
    """The connection's life: connect, serve, reconnect, resume, and stop for good."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        nick: str | None = None,
        password: str | None = None,
        invite: str | None = None,
        reconnect: bool = True,
        backoff: Backoff | None = None,
        open_timeout: float = 10.0,
        ssl: ssl_module.SSLContext | None = None,
        client_name: str = f"chat-tui/{__version__}",
    ) -> None:
        if token is None and (nick is None or password is None):
            raise ValueError("a token, or a nick and a password, are needed")
        self.url = url
        self.token = token
        self.nick = nick
        self._password = password
        self._invite = invite  # sent with the password until an account exists
        self.reconnect = reconnect
        self.backoff = backoff or Backoff()
        self.open_timeout = open_timeout
        self._ssl = ssl
        self._client_name = client_name
        self.welcome: p.Welcome | None = None
        # whom the user blocked, by nick key (as the server spells them): the welcome's list
        # and the blocks since; None while the server has not said (an older one never does)
        self._blocked: dict[str, str] | None = None
        self.status = Status("connecting")
        self._conn: Connection | None = None
        self._rooms = Rooms()
        self._calls = Calls()
        self._outbox = Outbox()
        self._reads: dict[str, int] = {}
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._final: ClientError | None = None
        self._done = asyncio.Event()
        self._changed = asyncio.Event()  # set whenever ready or done changes

    # --- lifecycle ----------------------------------------------------------------------

    async def connect(self) -> p.Welcome:
        """Connect and log in; raises ConnectError, AuthError or ServerError on the first try."""
        if self._runner is not None:
            raise RuntimeError("connect() was already called")
        self._set_status("connecting")
        try:
            conn = await self._open()
        except ClientError as exc:
            self._finish(exc)
            raise
        self._conn = conn  # now, not when the runner starts: close() must find it to close it
        self._runner = asyncio.create_task(self._run(conn), name="chat-client")
        return conn.welcome

    async def close(self) -> None:
        """Close the connection and stop; pending requests fail with ClosedError."""
        self._closing = True
        if self._conn is not None:
            await self._conn.ws.close()
        if self._runner is not None and self._runner is not asyncio.current_task():
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._finish(None)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def queued(self) -> int:
        """Sends not yet acknowledged (waiting in the outbox or in flight)."""
        return len(self._outbox)

    @property
    def closed(self) -> bool:
        return self._done.is_set()

    async def events(self) -> AsyncIterator[Event]:
        """The session's events, in order; ends with ``Closed``. One consumer only."""
        while True:
            event = await self._events.get()
            yield event
            if isinstance(event, Closed):
                return

    # --- connection ---------------------------------------------------------------------

    async def _open(self) -> Connection:
        """One connection attempt; the session keeps the welcome's token and nick for the next."""
        conn = await open_connection(
            self.url,
            token=self.token,
            nick=self.nick,
            password=self._password,
            invite=self._invite,
            client_name=self._client_name,
            open_timeout=self.open_timeout,
            ssl=self._ssl,
        )
        self.welcome = conn.welcome
        if conn.welcome.blocked is not None:
            self._blocked = {p.nick_key(nick): nick for nick in conn.welcome.blocked}
        self.token = conn.welcome.token
        self.nick = conn.welcome.nick
        self._invite = None
        return conn

    async def _run(self, conn: Connection) -> None:
        """Own the connection: serve it until it drops, reconnect with backoff, forever."""
        try:
            while True:
                told = await self._serve(conn)
                if self._closing or not self.reconnect:
                    break
                next_conn = await self._reconnect(told)
                if next_conn is None:
                    return
                conn = next_conn
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not hang every waiter forever
            log.exception("client connection task failed")
            self._finish(ClientError(f"internal client error: {exc}"))
            return
        self._finish(None if self._closing else ConnectError("connection lost"))

    async def _reconnect(self, told_to_wait: float | None) -> Connection | None:
        """Connect again, waiting first at least ``told_to_wait`` (a stopping server's 1001
        says when to come back, so that its crowd does not all return in one second)."""
        attempt = 0
        while not self._closing:
            delay = self.backoff.after(attempt, told_to_wait)
            told_to_wait = None
            attempt += 1
            self._set_status("reconnecting", retry_in=delay)
            await asyncio.sleep(delay)
            self._set_status("connecting")
            try:
                return await self._open()
            except RateLimited as exc:
                log.info("reconnect refused for now: %s", exc)
                told_to_wait = exc.retry_after
            except ServerError as exc:
                # the protocol says to retry these later: a server failure, and a limit that
                # frees by itself (the user's other connections, one of them perhaps this
                # client's own, dead but not yet noticed by the server)
                if exc.code not in ("internal", "rate_limited"):
                    self._finish(exc)
                    return None
                log.info("reconnect refused for now: %s", exc)
            except AuthError as exc:
                self._finish(exc)
                return None
            except ConnectError as exc:
                log.info("reconnect failed: %s", exc)
        return None

    async def _serve(self, conn: Connection) -> float | None:
        """Read ``conn`` until it closes: then the wait its close asked for, if any."""
        self._conn = conn
        resume = self._spawn(self._resume(conn))
        writer = self._spawn(self._outbox.write(conn, self._calls.next_ref))
        try:
            async for data in conn.ws:
                try:
                    frame = p.decode_server_frame(data)
                except (msgspec.DecodeError, ValueError) as exc:
                    log.warning("ignoring a frame the client cannot read: %s", exc)
                    continue
                self._on_frame(frame)
        except ConnectionClosed:
            pass
        finally:
            self._conn = None
            conn.ready.clear()
            self._changed.set()
            resume.cancel()
            writer.cancel()
            self._calls.lose_all()
            self._outbox.rewind()
            self._rooms.connection_lost()
        return p.going_away_wait(conn.ws.close_code, conn.ws.close_reason)

    async def _resume(self, conn: Connection) -> None:
        """Re-join every room with ``since``; then the session is ready for requests."""
        rooms = list(self._rooms)
        rejoins = [
            self._call(conn, p.Join(room=room.name, since=room.seq.last), auto=True)
            for room in rooms
        ]
        results = await asyncio.gather(*rejoins, return_exceptions=True)
        if any(isinstance(r, ServerError) and r.code in RETRY_LATER for r in results):
            # the server could not answer now (its storage failed): the rooms are still
            # the user's; connect again after the backoff and re-join them then
            log.info("re-joining was refused for now; reconnecting later")
            await conn.ws.close()
            return
        for room, result in zip(rooms, results, strict=True):
            if isinstance(result, ServerError):  # left, forbidden or removed meanwhile
                log.info("cannot re-join %s: %s", room.name, result)
                self._rooms.drop(room.name)
                # the room is no longer the user's: shown as a room left elsewhere is
                self._emit(p.Left(room=room.name))
            elif isinstance(result, BaseException):
                return  # the connection dropped again
        conn.ready.set()
        self._changed.set()
        await self._flush_reads(conn)
        self._set_status("connected")
        self._emit(Connected(conn.welcome))

    async def _flush_reads(self, conn: Connection) -> None:
        reads, self._reads = self._reads, {}
        try:
            for room, seq in reads.items():
                await conn.ws.send(p.encode(p.Read(room=room, seq=seq)), text=True)
        except ConnectionClosed:
            for room, seq in reads.items():
                self._reads.setdefault(room, seq)

    # --- requests and replies -------------------------------------------------------------

    async def _ready(self) -> Connection:
        """The connection, once it is up and resumed; ClosedError if the client stopped."""
        while True:
            self._check_open()
            conn = self._conn
            if conn is not None and conn.ready.is_set():
                return conn
            self._changed.clear()
            await self._changed.wait()

    async def _submit(self, frame: Submission) -> p.Ack:
        """Make a request answered by ``ack`` (send, edit, delete, react), once whatever
        happens to the connection: while disconnected it waits in the outbox, and goes out
        (again) with the same ``id`` after a reconnect; the server's idempotency makes a
        repeat harmless. A second call with the ``id`` of one pending shares its ack."""
        self._check_open()
        pending = self._outbox.get(frame.id)
        if pending is not None:
            return await asyncio.shield(pending.future)
        future = self._outbox.add(frame.id, frame)
        self._queue_changed()
        try:
            return await asyncio.shield(future)
        finally:
            if not future.done():  # the caller gave up: do not send it later
                self._outbox.drop(frame.id)
                self._queue_changed()

    async def _request(self, frame: p.AnyClientFrame) -> Any:
        """Send a request and wait for its reply, retrying on the next connection if one drops."""
        while True:
            conn = await self._ready()
            try:
                return await self._call(conn, frame)
            except Lost:
                continue

    async def _call(self, conn: Connection, frame: p.AnyClientFrame, auto: bool = False) -> Any:
        """One request on this connection; made again after ``retry_after`` when the server
        says ``rate_limited`` for a moment (a re-join of many rooms can pass the read budget)."""
        while True:
            try:
                return await self._calls.call(conn.ws, frame, auto=auto)
            except ServerError as exc:
                wait = exc.retry_after
                if exc.code != "rate_limited" or wait is None or wait > MAX_RETRY:
                    raise
                log.debug(
                    "%s over the server's budget: again in %.3f s", type(frame).__name__, wait
                )
                await asyncio.sleep(max(MIN_RETRY, wait))

    def _on_frame(self, frame: p.AnyServerFrame) -> None:
        if isinstance(frame, p.Message):
            self._deliver(
                p.MessageRecord(
                    room=frame.room,
                    seq=frame.seq,
                    nick=frame.nick,
                    body=frame.body,
                    ts=frame.ts,
                    id=frame.id,
                    reply_to=frame.reply_to,
                    thread=frame.thread,
                )
            )
        elif isinstance(frame, p.EditEvent | p.DeleteEvent | p.ReactEvent):
            self._deliver(change_record(frame))
        elif isinstance(frame, p.Notice):
            self._deliver(notice_record(frame))
        elif isinstance(frame, p.InviteEvent):
            self._emit(frame)
        elif isinstance(frame, p.Left) and frame.ref is None:
            # kicked (``by``), or left on another connection: not re-joined after a reconnect
            self._rooms.drop(frame.room)
            self._emit(frame)
        elif isinstance(frame, p.Ack):
            self._acked(frame)
        elif isinstance(frame, p.Error):
            self._error(frame)
        elif isinstance(frame, p.Presence | p.TypingEvent | p.ReadEvent):
            self._emit(frame)
        elif isinstance(frame, p.Joined):
            self._calls.joined(frame)
        elif isinstance(frame, p.HistoryPage):
            call = self._calls.take(frame.ref)
            if call is not None:
                if call.joined is not None:
                    call.future.set_result(self._joined(call, call.joined, frame))
                else:
                    call.future.set_result(frame)
        else:
            call = self._calls.take(getattr(frame, "ref", None))
            if call is not None:
                call.future.set_result(frame)

    def _joined(self, call: Call, joined: p.Joined, page: p.HistoryPage) -> JoinResult:
        since = call.frame.since if isinstance(call.frame, p.Join) else None
        room, events = self._rooms.joined(joined, page, since, resumed=call.auto)
        for event in events:
            self._emit(event)
        self._maybe_fill(room)
        messages = [m for m in page.messages if m.kind is None]
        changes = [c for m in page.messages if (c := change_event(m)) is not None]
        notices = [n for m in page.messages if (n := notice_event(m)) is not None]
        return JoinResult(
            joined.room,
            joined.last_seq,
            joined.members,
            joined.online,
            messages,
            page.more,
            changes,
            notices,
            joined.topic,
            joined.private,
            dict(joined.roles),
            page.floor,
            joined.retention_s,
            member_count(joined),
        )

    def _deliver(self, message: p.MessageRecord) -> None:
        room, ready = self._rooms.message(message)
        for event in ready:
            self._emit(event)
        self._maybe_fill(room)

    def _maybe_fill(self, room: Room) -> None:
        if room.filling or self._conn is None or not room.behind:
            return
        room.filling = True
        self._spawn(self._fill(room, self._conn))

    async def _fill(self, room: Room, conn: Connection) -> None:
        """Catch the room up on this connection (a drop stops it; the re-join takes over)."""

        async def fetch(name: str, after: int) -> p.HistoryPage:
            frame = p.History(room=name, after=after, limit=CATCH_UP_PAGE)
            page: p.HistoryPage = await self._call(conn, frame)
            return page

        try:
            await catch_up(room, fetch, self._emit)
        except (Lost, ServerError) as exc:
            log.info("catching up %s stopped: %s", room.name, exc)
        finally:
            room.filling = False

    def _acked(self, ack: p.Ack) -> None:
        self._outbox.acked(ack)
        self._queue_changed()

    def _error(self, error: p.Error) -> None:
        if self._calls.refused(error):
            return
        if self._outbox.refused(error):
            self._queue_changed()
            return
        log.warning("server error: %s %s", error.code, error.message)

    # --- small helpers ------------------------------------------------------------------

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _emit(self, event: Event) -> None:
        # A change entry (protocol 2's edit, delete, react) or a notice travels through the
        # room's order as the record history lists; it reaches the user as the live frame
        # that made it.
        if isinstance(event, p.MessageRecord) and event.kind is not None:
            live = change_event(event) or notice_event(event)
            if live is None:
                return
            event = live
        self._events.put_nowait(event)

    def _set_status(self, state: State, retry_in: float | None = None) -> None:
        error = str(self._final) if self._final is not None else None
        self.status = Status(state, retry_in, len(self._outbox), error)
        self._emit(StatusChanged(self.status))

    def _queue_changed(self) -> None:
        if self.status.queued != len(self._outbox) and self.status.state != "connected":
            self._set_status(self.status.state, self.status.retry_in)
        else:
            self.status = replace(self.status, queued=len(self._outbox))

    def _check_open(self) -> None:
        if self._done.is_set():
            raise self._final or ClosedError("the client is closed")

    def _finish(self, error: ClientError | None) -> None:
        """Stop for good: fail what is pending and emit ``Closed`` once."""
        if self._done.is_set():
            return
        self._final = error
        self._done.set()
        self._changed.set()
        failure = error or ClosedError("the client is closed")
        self._outbox.fail(failure)
        self._calls.fail_all(failure)
        for task in list(self._tasks):
            task.cancel()
        self._set_status("closed")
        self._emit(Closed(error))
