"""A cheap raw-websocket client for the load generators: upgrade, then frame headers only.

One :class:`RawClient` is one connection, speaking one :class:`~benchmarks.harness.wire.Dialect`
(chat's JSON protocol, Engine.IO for the seed, bare text for the ceiling). It counts
delivered messages, times a sample of them, and can run a closed send loop (each ack, or
the client's own echo, lets the next message go).
"""

from __future__ import annotations

import asyncio
import collections
import json
import socket
import time
from typing import cast

from benchmarks.harness import mqtt, wire
from chat_tui.client.ids import new_id


class Refused(ConnectionError):
    """A handshake the server refused; ``retry_after``: the seconds its Retry-After gave."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Tally:
    """Counters shared by every client of one load-generator process."""

    def __init__(self) -> None:
        self.delivered = 0
        self.acked = 0
        self.errors = 0  # error frames received after login
        self.delivery_ns: list[int] = []  # publish-to-receive, sampled clients only
        self.ack_ns: list[int] = []  # send-to-ack round trips
        # a message's send time -> when the last of the ``latest`` clients received it
        self.latest: dict[int, int] = {}

    def take(self) -> tuple[list[int], list[int]]:
        out = (self.delivery_ns, self.ack_ns)
        self.delivery_ns, self.ack_ns = [], []
        return out


class RawClient(asyncio.Protocol):
    """One websocket connection to a system under test."""

    def __init__(
        self,
        dialect: wire.Dialect,
        tally: Tally,
        *,
        host: str,
        port: int,
        room: str,
        token: str = "",
        tag: str = "c0",
        count: bool = True,
        sample: bool = False,
        changes: float = 0.0,
        source: str = "",
        latest: bool = False,
    ) -> None:
        self.dialect = dialect
        self.tally = tally
        self.host = host
        self.port = port
        self.room = room
        self.token = token
        self.tag = tag
        self.own = f"@@{tag} ".encode()
        self.count = count
        self.sample = sample
        self.source = source  # the local address to connect from ("": the kernel's choice)
        self.latest = latest  # note when each message reached this client (tally.latest)
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.told: float | None = None  # the wait the server's close asked for (a 1001's)
        self.state = "upgrade"
        self.inflight: collections.deque[int] = collections.deque()
        self.sending = False
        self.sent = 0
        self.max_sends = 0
        self.deadline_ns = 0
        self.seq = 0
        self.waiters: collections.deque[tuple[bytes | tuple[bytes, ...], asyncio.Future[bytes]]] = (
            collections.deque()
        )
        # the "changes mix": of every ``period`` entries sent, one is a ``react`` and one an
        # ``edit`` (period 20: 10 %), on this client's own recent messages, whose seqs its
        # acks tell (``kinds``: what each send in flight was, in order)
        self.period = round(2 / changes) if changes > 0 else 0
        self.kinds: collections.deque[str] = collections.deque()
        self.mine: collections.deque[int] = collections.deque(maxlen=64)  # newest last
        self.reactable: collections.deque[int] = collections.deque(maxlen=64)
        self.entries = 0

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        path = self.dialect.path(self.room)
        self.transport.write(wire.handshake_request(self.host, self.port, path))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"{self.tag}: closed before ready: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)
        self.sending = False

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end])
            status = wire.handshake_status(head)
            del buf[: end + 4]
            if status != 101:
                self._fail(f"HTTP {status}", wire.retry_after(head))
                return
            self.upgraded = True
            self._on_upgrade()
        frames, pos = wire.parse_frames(buf)
        if not frames:
            return
        now = time.monotonic_ns()
        for opcode, start, end in frames:
            if opcode == wire.OP_TEXT:
                if self.state == "ready":
                    self._on_text(buf, start, end, now)
                else:
                    self._on_login(bytes(buf[start:end]))
            elif opcode == wire.OP_PING:
                self.write(bytes(buf[start:end]), wire.OP_PONG)
            elif opcode == wire.OP_PONG:
                self._resolve(bytes(buf[start:end]))
            elif opcode == wire.OP_CLOSE and self.transport is not None:
                self.told = wire.close_wait(bytes(buf[start:end]))
                self.write(bytes(buf[start : start + 2]), wire.OP_CLOSE)
                self.transport.close()
        del buf[:pos]

    # --- login -----------------------------------------------------------------------------

    def _on_upgrade(self) -> None:
        if self.dialect.engineio:
            self.state = "eio-open"
        elif self.dialect.name == "ceiling":
            self._set_ready()
        else:
            self.state = "welcome"
            hello = {"type": "hello", "token": self.token, "client": "bench"}
            self.write(json.dumps(hello).encode())

    def _on_login(self, payload: bytes) -> None:
        if self.dialect.engineio:
            kind, _ = wire.parse_eio(payload.decode())
            if kind == "open":
                self.write(b"40")
            elif kind == "connect":
                self._set_ready()
            elif kind == "ping":
                self.write(b"3")
            return
        frame = json.loads(payload)
        kind = frame.get("type")
        if kind == "error":
            self._fail(f"{frame.get('code')}: {frame.get('message')}")
        elif self.state == "welcome" and kind == "welcome":
            if self.room:
                self.state = "history"
                self.write(json.dumps({"type": "join", "room": self.room}).encode())
            else:
                self._set_ready()
        elif self.state == "history" and kind == "history":
            self._set_ready()

    def _set_ready(self) -> None:
        self.state = "ready"
        if not self.ready.done():
            self.ready.set_result(None)

    def _fail(self, reason: str, retry_after: float | None = None) -> None:
        if not self.ready.done():
            self.ready.set_exception(Refused(f"{self.tag}: {reason}", retry_after))
        if self.transport is not None:
            self.transport.close()

    # --- live traffic ----------------------------------------------------------------------

    def _on_text(self, buf: bytearray, start: int, end: int, now: int) -> None:
        dialect = self.dialect
        if self.waiters and buf.startswith(self.waiters[0][0], start):
            _, fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(bytes(buf[start:end]))
            return
        if dialect.ack and buf.startswith(dialect.ack, start):
            self._on_ack(now, buf, start)
            return
        if buf.startswith(b'{"type":"error"', start):
            self.tally.errors += 1  # a refused send: it will never be acked
            if self.inflight and buf.find(b'"code":"rate_limited"', start, end) < 0:
                self.inflight.popleft()
                if self.kinds:
                    self.kinds.popleft()
                self._next(now)
            return
        if not buf.startswith(dialect.delivery, start):
            if dialect.engineio and end - start == 1 and buf[start] == 0x32:  # "2": ping
                self.write(b"3")
            return
        if not dialect.ack and self.inflight and buf.find(self.own, start, end) >= 0:
            self._on_ack(now)  # our own echo is the ack
        if self.latest:
            sent = wire.stamp(buf, start, end)
            if sent is not None and now > self.tally.latest.get(sent, 0):
                self.tally.latest[sent] = now
        if self.count:
            self.tally.delivered += 1
            if self.sample:
                sent = wire.stamp(buf, start, end)
                if sent is not None:
                    self.tally.delivery_ns.append(now - sent)

    def _on_ack(self, now: int, payload: bytes | bytearray = b"", start: int = 0) -> None:
        if not self.inflight:
            return
        if self.period:
            self._mixed_ack(payload, start)
        self.tally.acked += 1
        self.tally.ack_ns.append(now - self.inflight.popleft())
        self._next(now)

    def _mixed_ack(self, payload: bytes | bytearray, start: int) -> None:
        """Note the seq of an acked message of our own: the target of later changes."""
        kind = self.kinds.popleft() if self.kinds else "change"
        if kind != "send":
            return
        i = payload.find(b'"seq":', start)
        if i < 0:
            return
        j = i + 6
        k = j
        while k < len(payload) and 0x30 <= payload[k] <= 0x39:
            k += 1
        if k > j:
            seq = int(payload[j:k])
            self.mine.append(seq)
            self.reactable.append(seq)

    def _next(self, now: int) -> None:
        if self.sending:
            if self.sent < self.max_sends and now < self.deadline_ns:
                self.send_one()
            else:
                self.sending = False

    def write(self, payload: bytes, opcode: int = wire.OP_TEXT) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(wire.encode_frame(payload, opcode))

    def send_one(self) -> None:
        """Publish one message stamped with the current time."""
        now = time.monotonic_ns()
        self.seq += 1
        self.sent += 1
        text = wire.body(now, self.tag)
        self.inflight.append(now)
        if self.period:
            self._send_mixed(now, text)
            return
        # idempotency keys as chat's own clients make them (time-ordered)
        self.write(self.dialect.publish(self.room, text, new_id(), self.tag))

    def _send_mixed(self, now: int, text: str) -> None:
        """One entry of the changes mix: a message, or a react or an edit of a recent
        message of ours (a message while none is acked yet). Every react is one that stores
        (a first reaction of ours to that message), so every change fans out like a
        message; the key carries the send time (a react has no body to carry it)."""
        self.entries += 1
        phase = self.entries % self.period
        frame: dict[str, object]
        if phase == 0 and self.reactable:
            key = f"@@{now}@@{new_id()}"
            target = self.reactable.pop()
            frame = {"type": "react", "room": self.room, "target": target, "emoji": "+1",
                     "id": key}  # fmt: skip
        elif phase == self.period // 2 and self.mine:
            key = f"@@{now}@@{new_id()}"
            frame = {"type": "edit", "room": self.room, "target": self.mine[-1], "body": text,
                     "id": key}  # fmt: skip
        else:
            self.kinds.append("send")
            self.write(self.dialect.publish(self.room, text, new_id(), self.tag))
            return
        self.kinds.append("change")
        self.write(json.dumps(frame, separators=(",", ":")).encode())

    def start_loop(self, window: int, duration_s: float, max_sends: int) -> None:
        """Keep ``window`` messages in flight until the deadline or ``max_sends``."""
        self.sending = True
        self.sent = 0
        self.max_sends = max_sends
        self.deadline_ns = time.monotonic_ns() + int(duration_s * 1e9)
        for _ in range(min(window, max_sends)):
            self.send_one()

    def _resolve(self, payload: bytes) -> None:
        if self.waiters and self.waiters[0][0] == b"\x00pong":
            _, fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(payload)

    async def ping(self, timeout: float = 10.0) -> int:
        """One websocket ping round trip on this connection, in ns."""
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiters.append((b"\x00pong", fut))
        start = time.monotonic_ns()
        self._send_ping()
        await asyncio.wait_for(fut, timeout)
        return time.monotonic_ns() - start

    def _send_ping(self) -> None:
        self.write(b"bench", wire.OP_PING)

    async def request(
        self, payload: bytes, reply_prefix: bytes | tuple[bytes, ...], timeout: float = 10.0
    ) -> int:
        """Send a request and wait for the reply starting with ``reply_prefix``; ns."""
        elapsed, _reply = await self.exchange(payload, reply_prefix, timeout)
        return elapsed

    async def exchange(
        self, payload: bytes, reply_prefix: bytes | tuple[bytes, ...], timeout: float = 10.0
    ) -> tuple[int, bytes]:
        """``request``, returning the reply too: (ns, reply)."""
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiters.append((reply_prefix, fut))
        start = time.monotonic_ns()
        self.write(payload)
        reply = await asyncio.wait_for(fut, timeout)
        elapsed = time.monotonic_ns() - start
        if reply.startswith(b'{"type":"error"'):
            raise RuntimeError(reply.decode()[:200])
        return elapsed, reply

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.write(b"\x03\xe8", wire.OP_CLOSE)
            self.transport.close()


class MqttClient(RawClient):
    """One MQTT 3.1.1 connection (QoS 0, clean session, no keep-alive): CONNECT, then
    SUBSCRIBE to the room's topic (a publisher subscribes too: its own copy is its ack)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.state = "connack"
        self.transport.write(mqtt.connect(f"{self.tag}-{id(self):x}"))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        packets, pos = mqtt.parse_packets(buf)
        if not packets:
            return
        now = time.monotonic_ns()
        for kind, flags, start, end in packets:
            if kind == mqtt.PUBLISH and self.state == "ready":
                _topic, payload = mqtt.publish_parts(buf, flags, start, end)
                self._on_text(buf, payload, end, now)
            elif kind == mqtt.CONNACK:
                code = mqtt.connack_code(buf, start, end)
                if code:
                    self._fail(f"CONNACK {code}")
                elif self.room:
                    self.state = "suback"
                    self.write(mqtt.subscribe(1, self.room))
                else:
                    self._set_ready()
            elif kind == mqtt.SUBACK:
                if buf[end - 1] == 0x80:
                    self._fail("SUBACK refused")
                else:
                    self._set_ready()
            elif kind == mqtt.PINGRESP:
                self._resolve(b"")
        del buf[:pos]

    def write(self, payload: bytes, opcode: int = wire.OP_TEXT) -> None:
        """Packets go as they are (``opcode`` is the websocket clients')."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(payload)

    def _send_ping(self) -> None:
        self.write(mqtt.PINGREQ_PACKET)  # its PINGRESP ends ``ping``

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.write(mqtt.DISCONNECT_PACKET)
            self.transport.close()


def client_class(dialect: wire.Dialect) -> type[RawClient]:
    return MqttClient if dialect.mqtt else RawClient


# Linux's IP_BIND_ADDRESS_NO_PORT (not in the socket module): a socket bound to a source
# address gets its port at connect, from the ports free for that destination, instead of a
# search at bind for a port free for every destination. With 18,000 sockets on a few source
# addresses that search took 77 % of a load generator's core after a server restart (py-spy
# --native: bind), and the clients timed out against a server at 10 % of its core.
IP_BIND_ADDRESS_NO_PORT = 24


def _socket_from(source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.setblocking(False)
        sock.bind((source, 0))
    except OSError:
        sock.close()
        raise
    return sock


async def _connect(client: RawClient) -> None:
    loop = asyncio.get_running_loop()
    if not client.source:
        await loop.create_connection(lambda: client, client.host, client.port)
        return
    sock = _socket_from(client.source)
    try:
        await loop.sock_connect(sock, (client.host, client.port))
        await loop.create_connection(lambda: client, sock=sock)
    except BaseException:
        sock.close()
        raise


async def open_client(client: RawClient, timeout: float = 30.0) -> RawClient:
    """Connect and log in (hello + join, Engine.IO open + connect, or just the upgrade)."""
    try:
        await asyncio.wait_for(_connect(client), timeout)
    except BaseException:
        client.ready.cancel()  # nobody will wait for it: a later refusal is not an error
        raise
    await asyncio.wait_for(client.ready, timeout)
    return client
