"""The connection handler: login, then one loop turning client frames into replies.

Errors become ``error`` frames here and nowhere else. Sends do not block the loop: they
are queued for the next group commit, and the ack (then the fan-out of the message) is
written from the commit's callback, in seq order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from chat_server import protocol as p
from chat_server.auth import LoginThrottle, Passwords, new_token, token_hash
from chat_server.broker import Broker
from chat_server.config import Settings
from chat_server.errors import ProtocolError, StoreError
from chat_server.hub import Hub, Session
from chat_server.ratelimit import TokenBucket
from chat_server.store import NewMessage, Room, Store, Stored, User, search_words

log = logging.getLogger("chat_server")


class ChatServer:
    """The application: accounts, rooms, messages; one instance per server process."""

    def __init__(self, settings: Settings, store: Store, broker: Broker) -> None:
        self.settings = settings
        self.store = store
        self.broker = broker
        self.hub = Hub(settings.max_buffer)
        self.passwords = Passwords(settings.hash_concurrency)
        self.throttle = LoginThrottle(settings.login_throttle_base, settings.login_throttle_max)
        self.started = time.monotonic()
        self._rooms: dict[str, Room] = {}
        self._limits = p.Limits(
            max_body=p.MAX_BODY,
            max_frame=p.MAX_FRAME,
            history_max=p.HISTORY_MAX,
            rate=p.Rate(per_second=settings.rate_per_second, burst=settings.rate_burst),
        )
        self._sweeper: asyncio.Task[None] | None = None
        self._logins: set[asyncio.Task[Any]] = set()  # handlers still before their welcome
        self._stopping = False

    async def start(self) -> None:
        await self.broker.start(self.hub, self._announce, self._login_elsewhere)
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
        await self.broker.close()

    # --- connection lifecycle -------------------------------------------------------------

    def abandon_logins(self) -> None:
        """At shutdown: stop the logins in progress (queued for a password hash, waiting for
        their turn) rather than work through them for clients that are being disconnected."""
        self._stopping = True
        for task in self._logins:
            task.cancel()

    async def handle(self, ws: ServerConnection) -> None:
        """The websockets handler: one call per connection."""
        task = asyncio.current_task()
        assert task is not None
        self._logins.add(task)
        try:
            session = await self._login(ws)
        except asyncio.CancelledError:
            if self._stopping:
                return
            raise
        finally:
            self._logins.discard(task)
        if session is None:
            return
        first = self.hub.attach(session)
        log.info("connect %s from %s", session.nick, _peer(ws))
        try:
            if first and await self.broker.user_online(session.user_id, session.nick):
                await self._announce(session.user_id, session.nick, "online")
            await self._serve(session)
        except ConnectionClosed:
            pass
        finally:
            last = self.hub.detach(session)
            log.info("disconnect %s (%s)", session.nick, ws.close_code)
            if last and await self.broker.user_offline(session.user_id):
                with contextlib.suppress(StoreError):
                    await self._announce(session.user_id, session.nick, "offline")

    async def _login(self, ws: ServerConnection) -> Session | None:
        """Read frames until a valid hello; None when the connection was closed instead."""
        deadline = asyncio.get_running_loop().time() + self.settings.hello_timeout
        abuse = TokenBucket(self.settings.abuse_per_second, self.settings.abuse_burst, 0.0)
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        data = await ws.recv()
                except TimeoutError:
                    log.info("auth failure from %s: no hello in time", _peer(ws))
                    await ws.close(p.CLOSE_POLICY, "no hello in time")
                    return None
                if isinstance(data, bytes):
                    await ws.close(p.CLOSE_UNSUPPORTED, "binary frames are not supported")
                    return None
                try:
                    frame = p.decode_client_frame(data)
                    if not isinstance(frame, p.Hello):
                        raise ProtocolError("auth_required", "say hello first", frame.ref)
                    return await self._authenticate(ws, frame)
                except ProtocolError as exc:
                    await ws.send(p.error_frame(exc.code, exc.message, exc.ref), text=True)
                    if exc.code == "auth_failed":
                        await ws.close(p.CLOSE_POLICY, "authentication failed")
                        return None
                    if not abuse.take(time.monotonic()):
                        await ws.close(p.CLOSE_POLICY, "too many bad frames")
                        return None
                except StoreError as exc:
                    log.error("login failed on storage: %s", exc)
                    await ws.send(p.error_frame("internal", "storage unavailable"), text=True)
                except ConnectionClosed:
                    raise
                except Exception:  # a bug must cost one request, never the connection
                    log.exception("login request failed")
                    await ws.send(p.error_frame("internal", "the request failed"), text=True)
        except ConnectionClosed:
            return None

    async def _authenticate(self, ws: ServerConnection, hello: p.Hello) -> Session:
        created = False
        if hello.token is not None:
            token = hello.token
            digest = token_hash(token)
            found = await self.store.user_by_token(digest, time.time())
            if found is None:
                log.info("auth failure from %s: unknown token", _peer(ws))
                raise ProtocolError("auth_failed", "unknown or revoked token", hello.ref)
            user = found
        else:
            assert hello.nick is not None and hello.password is not None
            user, created = await self._password_login(ws, hello.nick, hello.password, hello.ref)
            token = new_token()
            digest = token_hash(token)
            ttl = self.settings.token_ttl
            await self.store.add_token(user.id, digest, time.time() + ttl if ttl else None)
        rooms = await self.store.user_rooms(user.id)
        welcome = p.Welcome(
            nick=user.nick,
            token=token,
            created=created,
            protocol=p.PROTOCOL_VERSION,
            server=self.settings.server_name,
            limits=self._limits,
            rooms=rooms,
            ref=hello.ref,
        )
        await ws.send(p.encode(welcome), text=True)
        return Session(ws, user.id, user.nick, digest, self.settings.typing_interval)

    async def _password_login(
        self, ws: ServerConnection, nick: str, password: str, ref: str | None
    ) -> tuple[User, bool]:
        key = p.nick_key(nick)
        lock = await self._wait_turn(ws, key)
        try:
            user = await self.store.user_by_nick(nick)
            if user is None and self.settings.signup:
                digest = await self.passwords.hash(password)
                try:
                    return await self.store.create_user(nick, digest), True
                except Exception as exc:  # lost a race for the nick
                    log.info("signup of %s failed: %s", nick, exc)
                    user = await self.store.user_by_nick(nick)
            ok = False
            if user is not None and user.password_hash is not None and not user.removed:
                ok, rehashed = await self.passwords.verify(user.password_hash, password)
                if ok and rehashed is not None:
                    await self.store.set_password_hash(user.id, rehashed)
            if not ok or user is None:
                self.throttle.failed(key, time.monotonic())
                self.broker.share_login(key, failed=True)
                reason = "unknown nick" if user is None else "wrong password"
                log.info("auth failure from %s: %s for %s", _peer(ws), reason, nick)
                raise ProtocolError("auth_failed", "wrong nick or password", ref)
            self.throttle.succeeded(key)
            self.broker.share_login(key, failed=False)
            return user, False
        finally:
            self.throttle.release(lock)

    async def _wait_turn(self, ws: ServerConnection, key: str) -> asyncio.Lock:
        """The nick's turn to try a password, or ConnectionClosed if the connection closes
        first: a guess whose client left (or whose server is stopping) is not tried, and
        does not keep a shutdown waiting for the delays of every guess queued behind it."""
        turn = asyncio.ensure_future(self.throttle.wait_turn(key))
        closed = asyncio.ensure_future(ws.wait_closed())
        try:
            await asyncio.wait((turn, closed), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # this handler was cancelled: never keep the nick locked
            turn.cancel()
            await asyncio.wait((turn,))
            if not turn.cancelled():
                self.throttle.release(turn.result())
            raise
        finally:
            closed.cancel()
        if not turn.done():
            turn.cancel()
            await asyncio.wait((turn,))  # wait_turn releases the lock when cancelled
        if turn.cancelled():
            raise ws.close_exc
        return turn.result()

    async def _serve(self, session: Session) -> None:
        ws = session.ws
        now = time.monotonic()
        sends = TokenBucket(self.settings.rate_per_second, self.settings.rate_burst, now)
        abuse = TokenBucket(self.settings.abuse_per_second, self.settings.abuse_burst, now)
        async for data in ws:
            if isinstance(data, bytes):
                await ws.close(p.CLOSE_UNSUPPORTED, "binary frames are not supported")
                return
            ref: str | None = None
            try:
                frame = p.decode_client_frame(data)
                ref = frame.ref
                if isinstance(frame, p.Send):
                    if not sends.take(time.monotonic()):
                        raise ProtocolError("rate_limited", "slow down", ref)
                    await self._send(session, frame)
                elif isinstance(frame, p.Logout):
                    await self.store.revoke_token(session.token_hash)
                    log.info("logout %s", session.nick)
                    await ws.close(p.CLOSE_NORMAL, "logged out")
                    return
                else:
                    await self._dispatch(session, frame)
            except ProtocolError as exc:
                self.hub.write(session, p.error_frame(exc.code, exc.message, exc.ref))
                if exc.code != "rate_limited" and not abuse.take(time.monotonic()):
                    await ws.close(p.CLOSE_POLICY, "too many bad frames")
                    return
            except StoreError as exc:
                log.error("storage error for %s: %s", session.nick, exc)
                self.hub.write(session, p.error_frame("internal", "storage unavailable", ref))
            except ConnectionClosed:
                raise
            except Exception:  # a bug must cost one request, never the connection
                log.exception("request from %s failed", session.nick)
                self.hub.write(session, p.error_frame("internal", "the request failed", ref))

    # --- requests -------------------------------------------------------------------------

    async def _dispatch(self, session: Session, frame: p.AnyClientFrame) -> None:
        match frame:
            case p.Join():
                await self._join(session, frame)
            case p.Leave():
                await self._leave(session, frame)
            case p.History():
                # a room this connection has joined needs no membership lookup: leaving
                # it (here or on any node) takes it out of session.rooms first
                room = self._rooms.get(frame.room) if frame.room in session.rooms else None
                if room is None:
                    room = await self._member_room(session, frame.room, frame.ref)
                page = await self.store.history(
                    room, before=frame.before, after=frame.after, limit=frame.limit
                )
                reply = p.HistoryPage(
                    room=room.name, messages=page.messages, more=page.more, ref=frame.ref
                )
                self.hub.write(session, p.encode(reply))
            case p.Read():
                room = await self._member_room(session, frame.room, frame.ref)
                moved = await self.store.mark_read(session.user_id, room.id, frame.seq)
                if moved is not None:
                    event = p.encode(p.ReadEvent(room=room.name, seq=moved))
                    self.broker.publish_user(session.user_id, event, exclude=session.key)
            case p.Typing():
                if frame.room not in session.rooms:
                    await self._member_room(session, frame.room, frame.ref)
                if session.typing.allow(frame.room, time.monotonic()):
                    event = p.encode(p.TypingEvent(room=frame.room, nick=session.nick))
                    self.broker.publish_room(frame.room, event, exclude_user=session.user_id)
            case p.Search():
                room_id = None
                if frame.room is not None:
                    room_id = (await self._member_room(session, frame.room, frame.ref)).id
                hits = await self.store.search(
                    session.user_id, search_words(frame.q), room_id, frame.limit
                )
                self.hub.write(session, p.encode(p.Results(messages=hits, ref=frame.ref)))
            case p.Rooms():
                rooms = await self.store.public_rooms()
                self.hub.write(session, p.encode(p.RoomList(rooms=rooms, ref=frame.ref)))
            case p.Hello():
                raise ProtocolError("bad_request", "already logged in", frame.ref)
            case _:  # pragma: no cover - Send and Logout are handled by the loop
                raise ProtocolError("bad_request", "unexpected frame", frame.ref)

    async def _room(self, name: str) -> Room | None:
        room = self._rooms.get(name)
        if room is None:
            room = await self.store.room_by_name(name)
            if room is not None:
                self._rooms[name] = room
        return room

    def _check_dm_access(self, session: Session, name: str, ref: str | None) -> None:
        pair = p.dm_pair(name)
        if pair is not None and p.nick_key(session.nick) not in pair:
            raise ProtocolError("forbidden", "this is someone else's direct conversation", ref)

    async def _member_room(self, session: Session, name: str, ref: str | None) -> Room:
        """The room, when the user is a member of it; otherwise the error to report."""
        self._check_dm_access(session, name, ref)
        room = await self._room(name)
        if room is None or not await self.store.is_member(session.user_id, room.id):
            raise ProtocolError("not_member", f"you are not a member of {name}", ref)
        return room

    async def _join(self, session: Session, frame: p.Join) -> None:
        name = frame.room
        self._check_dm_access(session, name, frame.ref)
        pair = p.dm_pair(name)
        if pair is not None:
            other_key = pair[1] if pair[0] == p.nick_key(session.nick) else pair[0]
            other = await self.store.user_by_nick(other_key)
            if other is None:
                raise ProtocolError("not_found", f"no user {other_key}", frame.ref)
            room, new_member = await self.store.open_dm(name, (session.user_id, other.id))
            if new_member:
                self.broker.subscribe_user(other.id, name)
        else:
            room, new_member = await self.store.join(session.user_id, name, False)
        self._rooms[name] = room
        self.hub.subscribe(session, name)
        try:
            last = await self.store.last_seq(room.id)
            members = await self.store.members(room.id)
            online = await self.broker.online([user_id for user_id, _ in members])
            if frame.since is None:
                page = await self.store.history(room, limit=p.JOIN_BACKLOG, upto=last)
            else:
                page = await self.store.history(
                    room, after=frame.since, limit=p.HISTORY_MAX, upto=last
                )
        except BaseException:
            self.hub.unsubscribe(session, name)
            raise
        if new_member:
            event = p.Presence(room=name, nick=session.nick, status="joined")
            self.broker.publish_room(name, p.encode(event), exclude_user=session.user_id)
        joined = p.Joined(
            room=name,
            last_seq=last,
            members=[nick for _, nick in members],
            online=[nick for user_id, nick in members if user_id in online],
            ref=frame.ref,
        )
        self.hub.write(session, p.encode(joined))
        history = p.HistoryPage(room=name, messages=page.messages, more=page.more, ref=frame.ref)
        self.hub.write(session, p.encode(history))
        self.hub.go_live(session, name, last)

    async def _leave(self, session: Session, frame: p.Leave) -> None:
        room = await self._member_room(session, frame.room, frame.ref)
        await self.store.leave(session.user_id, room.id)
        self.hub.unsubscribe(session, room.name)
        left = p.encode(p.Left(room=room.name))
        self.broker.leave_user(session.user_id, room.name, left, exclude=session.key)
        self.hub.write(session, p.encode(p.Left(room=room.name, ref=frame.ref)))
        event = p.Presence(room=room.name, nick=session.nick, status="left")
        self.broker.publish_room(room.name, p.encode(event))

    async def _send(self, session: Session, frame: p.Send) -> None:
        if frame.to is not None:
            target = await self.store.user_by_nick(frame.to)
            if target is None or target.removed:
                raise ProtocolError("not_found", f"no user {frame.to}", frame.ref)
            if target.id == session.user_id:
                raise ProtocolError("bad_request", "you cannot message yourself", frame.ref)
            name = p.dm_room(session.nick, target.nick)
            room, new_member = await self.store.open_dm(name, (session.user_id, target.id))
            self._rooms[name] = room
            if new_member:
                self.broker.subscribe_user(session.user_id, name)
                self.broker.subscribe_user(target.id, name)
        else:
            assert frame.room is not None
            self._check_dm_access(session, frame.room, frame.ref)
            found = await self._room(frame.room)
            if found is None:
                raise ProtocolError(
                    "not_member", f"you are not a member of {frame.room}", frame.ref
                )
            room = found
        message = NewMessage(session.user_id, session.nick, room.id, frame.id, frame.body)
        future = self.store.submit(message)
        future.add_done_callback(functools.partial(self._committed, session, frame.ref))

    def _committed(self, session: Session, ref: str | None, future: asyncio.Future[Any]) -> None:
        """After the commit: the ack to the sender, then the message to the room."""
        if future.cancelled():
            return
        exc = future.exception()
        if isinstance(exc, ProtocolError):
            self.hub.write(session, p.error_frame(exc.code, exc.message, ref))
            return
        if exc is not None:
            log.error("send by %s failed: %s", session.nick, exc)
            self.hub.write(session, p.error_frame("internal", "the message was not stored", ref))
            return
        stored: Stored = future.result()
        ack = p.Ack(id=stored.client_id, room=stored.room, seq=stored.seq, ts=stored.ts, ref=ref)
        self.hub.write(session, p.encode(ack))
        if stored.new:
            event = p.Message(
                room=stored.room,
                seq=stored.seq,
                nick=stored.nick,
                body=stored.body,
                ts=stored.ts,
                id=stored.client_id,
            )
            self.broker.publish_room(stored.room, p.encode(event), stored.seq)

    # --- presence and revocation ----------------------------------------------------------

    async def _announce(self, user_id: int, nick: str, status: str) -> None:
        """Tell the user's rooms that the user came online or went offline (on any node)."""
        assert status in ("online", "offline")
        for room in await self.store.room_names(user_id):
            event = p.Presence(room=room, nick=nick, status=status)  # type: ignore[arg-type]
            self.broker.publish_room(room, p.encode(event), exclude_user=user_id)

    def _login_elsewhere(self, key: str, failed: bool) -> None:
        """Another node's login outcome: failures are throttled across the whole chat."""
        if failed:
            self.throttle.failed(key, time.monotonic())
        else:
            self.throttle.succeeded(key)

    async def _sweep_revoked(self) -> None:
        """Close connections whose token was revoked or expired (CLI, logout, removal)."""
        while True:
            await asyncio.sleep(self.settings.revocation_check)
            sessions = self.hub.all_sessions()
            if not sessions:
                continue
            try:
                live = await self.store.live_tokens({s.token_hash for s in sessions}, time.time())
            except StoreError as exc:
                log.warning("revocation check failed: %s", exc)
                continue
            dead = [s for s in sessions if s.token_hash not in live and not s.closing]
            if dead:
                log.info("closing %d connection(s) with revoked tokens", len(dead))
                self.hub.close_all(dead, p.CLOSE_POLICY, "token revoked")

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.broker.healthy else "degraded",
            "connections": self.hub.connection_count,
            "rooms": self.hub.room_count,
            "uptime_s": round(time.monotonic() - self.started, 1),
        }


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
