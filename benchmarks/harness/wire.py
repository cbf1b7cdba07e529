"""Pure wire helpers of the load generators: websocket frames, Engine.IO packets, dialects.

No sockets here. The subscribers read raw bytes after the HTTP upgrade and only parse frame
headers (the payload is looked at for a sample of messages), which keeps one load-generator
core ahead of the server under test.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from dataclasses import dataclass
from typing import Any

from benchmarks.harness import mqtt
from chat_server import protocol as p

OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

# Bodies carry the publisher's clock between two markers: "@@<monotonic_ns>@@<tag>".
MARK = b"@@"


def handshake_request(host: str, port: int, path: str) -> bytes:
    """The HTTP/1.1 upgrade request of a websocket client (no Origin: a terminal client)."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def retry_after(head: bytes) -> float | None:
    """The ``Retry-After`` seconds of an HTTP response head, or None."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"retry-after":
            try:
                return float(value.strip())
            except ValueError:
                return None
    return None


def close_wait(payload: bytes) -> float | None:
    """The wait a close frame's payload asks for (a stopping chat server's 1001)."""
    if len(payload) < 2:
        return None
    code = int.from_bytes(payload[:2], "big")
    return p.going_away_wait(code, payload[2:].decode("utf-8", "replace"))


def handshake_status(head: bytes) -> int:
    """The status code of an HTTP response head (``HTTP/1.1 101 Switching Protocols``)."""
    line = head.split(b"\r\n", 1)[0].split(b" ")
    if len(line) < 2 or not line[1].isdigit():
        raise ValueError(f"not an HTTP response: {head[:40]!r}")
    return int(line[1])


def encode_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """A final, masked client frame. The mask key is zero (valid, and free to apply)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + b"\x00\x00\x00\x00" + payload


def parse_frames(buf: bytes | bytearray, pos: int = 0) -> tuple[list[tuple[int, int, int]], int]:
    """Complete server frames in ``buf`` from ``pos``: ([(opcode, start, end)], next position).

    Server frames are unmasked; fragmented messages are not expected from the servers under
    test (a continuation frame is reported with opcode 0). Payloads are not copied.
    """
    frames: list[tuple[int, int, int]] = []
    size = len(buf)
    while size - pos >= 2:
        b0 = buf[pos]
        n = buf[pos + 1] & 0x7F
        start = pos + 2
        if n == 126:
            if size - pos < 4:
                break
            n = (buf[pos + 2] << 8) | buf[pos + 3]
            start = pos + 4
        elif n == 127:
            if size - pos < 10:
                break
            n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            start = pos + 10
        if buf[pos + 1] & 0x80:
            start += 4  # a masked frame (never sent by a server); skip the key
        end = start + n
        if end > size:
            break
        frames.append((b0 & 0x0F, start, end))
        pos = end
    return frames, pos


def stamp(payload: bytes | bytearray, start: int = 0, end: int | None = None) -> int | None:
    """The publisher's monotonic_ns carried in a body, or None when there is none."""
    i = payload.find(MARK, start, end)
    if i < 0:
        return None
    j = payload.find(MARK, i + 2, end)
    if j < 0:
        return None
    try:
        return int(payload[i + 2 : j])
    except ValueError:
        return None


def body(sent_ns: int, tag: str, size: int = 100) -> str:
    """A message body of about ``size`` characters carrying its send time and a tag."""
    text = f"@@{sent_ns}@@{tag} "
    return text + "x" * max(0, size - len(text))


# --- Engine.IO / Socket.IO (protocol 4/5) over a raw websocket ---------------------------


def parse_eio(text: str) -> tuple[str, Any]:
    """One Engine.IO packet: ("open", dict), ("ping", None), ("connect", dict), ("event",
    [name, *args]), ("disconnect", None), ("close", None), or ("other", text)."""
    if not text:
        raise ValueError("empty Engine.IO packet")
    kind = text[0]
    if kind == "0":
        return "open", json.loads(text[1:])
    if kind == "1":
        return "close", None
    if kind == "2":
        return "ping", None
    if kind == "4":
        sio = text[1:2]
        rest = text[2:]
        if sio == "0":
            return "connect", json.loads(rest) if rest else {}
        if sio == "1":
            return "disconnect", None
        if sio == "2":
            if rest[:1] != "[":  # "42/namespace,[...]" or an ack id before the array
                rest = rest[rest.index("[") :]
            event = json.loads(rest)
            if not isinstance(event, list) or not event:
                raise ValueError(f"bad Socket.IO event: {text[:60]!r}")
            return "event", event
    return "other", text


def eio_event(name: str, data: Any) -> str:
    """A Socket.IO EVENT packet in an Engine.IO MESSAGE packet: ``42["name",data]``."""
    return "42" + json.dumps([name, data], separators=(",", ":"))


# --- dialects: how each system under test is spoken to -----------------------------------


@dataclass(frozen=True)
class Dialect:
    """The wire shape of one system under test, for the raw clients."""

    name: str
    # prefix(es) of a payload that is a delivered message (b"" = every text frame)
    delivery: bytes | tuple[bytes, ...]
    # prefix of a payload that acknowledges the client's own send (b"" = its own echo)
    ack: bytes
    engineio: bool = False
    mqtt: bool = False  # MQTT 3.1.1 packets on the bare TCP stream, no websocket

    def path(self, room: str) -> str:
        if self.engineio:
            return "/socket.io/?EIO=4&transport=websocket"
        if self.name == "ceiling":
            return f"/{room}"
        return "/ws"

    def publish(self, room: str, text: str, key: str, nick: str = "bench") -> bytes:
        """The frame payload that publishes ``text`` to ``room``."""
        if self.mqtt:
            return mqtt.publish(room, text.encode())
        if self.engineio:
            date = "26.11.2026 05:00:00"
            return eio_event("message", {"nickname": nick, "message": text, "date": date}).encode()
        if self.name == "ceiling":
            return text.encode()
        frame = {"type": "send", "room": room, "body": text, "id": key}
        return json.dumps(frame, separators=(",", ":")).encode()


CHAT = Dialect("chat", delivery=b'{"type":"message"', ack=b'{"type":"ack"')
CEILING = Dialect("ceiling", delivery=b"", ack=b"")
SEED = Dialect("seed", delivery=b'42["response"', ack=b"", engineio=True)
# chat, counting the changes a publisher of the "changes mix" sends (``edit``, ``react``) as
# deliveries too: they fan out like messages
CHAT_MIX = Dialect(
    "chat-mix",
    delivery=(b'{"type":"message"', b'{"type":"edit"', b'{"type":"react"'),
    ack=b'{"type":"ack"',
)
# chat with --metrics: the same wire
CHAT_METRICS = Dialect("chat-metrics", delivery=CHAT.delivery, ack=CHAT.ack)
# the per-commit baselines (SQLite, PostgreSQL) speak chat's wire shape
COMMIT = Dialect("sqlite-per-commit", delivery=b'{"type":"message"', ack=b'{"type":"ack"')
PG_COMMIT = Dialect("pg-per-commit", delivery=COMMIT.delivery, ack=COMMIT.ack)
# mosquitto: QoS 0 PUBLISH to the room's topic; every subscriber (the publisher too) gets a
# copy, the publisher's own is its ack, as the ceiling's echo is
MOSQUITTO = Dialect("mosquitto", delivery=b"", ack=b"", mqtt=True)
SEED_THREADING = Dialect("seed-threading", delivery=SEED.delivery, ack=b"", engineio=True)
DIALECTS = {
    d.name: d
    for d in (
        CHAT,
        CHAT_MIX,
        CHAT_METRICS,
        CEILING,
        SEED,
        SEED_THREADING,
        COMMIT,
        PG_COMMIT,
        MOSQUITTO,
    )
}
