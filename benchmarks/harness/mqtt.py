"""Pure MQTT 3.1.1 packets for the load generators: the few a QoS 0 client needs.

CONNECT (clean session), SUBSCRIBE (one topic, QoS 0), PUBLISH (QoS 0), PINGREQ and
DISCONNECT are written; CONNACK, SUBACK, PUBLISH and PINGRESP are read. No sockets here
(the client is ``client.MqttClient``), as ``wire`` is for the websocket systems.
"""

from __future__ import annotations

import struct

CONNECT = 1
CONNACK = 2
PUBLISH = 3
SUBSCRIBE = 8
SUBACK = 9
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"
MAX_REMAINING = 268_435_455  # four bytes of variable-length integer


def _remaining(n: int) -> bytes:
    """The variable-length "remaining length" of a fixed header (1-4 bytes)."""
    if not 0 <= n <= MAX_REMAINING:
        raise ValueError(f"remaining length {n} out of range")
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    if len(data) > 0xFFFF:
        raise ValueError("MQTT string longer than 65535 bytes")
    return struct.pack("!H", len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _remaining(len(body)) + body


def connect(client_id: str, keepalive: int = 0) -> bytes:
    """CONNECT, protocol level 4 (3.1.1), clean session, no will, no credentials;
    ``keepalive`` 0: the broker never drops a silent client."""
    header = _string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive)
    return _packet(CONNECT << 4, header + _string(client_id))


def subscribe(packet_id: int, topic: str) -> bytes:
    """SUBSCRIBE to one topic filter at QoS 0 (the fixed header's flags must be 0b0010)."""
    return _packet(SUBSCRIBE << 4 | 0x2, struct.pack("!H", packet_id) + _string(topic) + b"\x00")


def publish(topic: str, payload: bytes) -> bytes:
    """PUBLISH at QoS 0, not retained (so no packet id)."""
    return _packet(PUBLISH << 4, _string(topic) + payload)


def parse_packets(
    buf: bytes | bytearray, pos: int = 0
) -> tuple[list[tuple[int, int, int, int]], int]:
    """Complete packets in ``buf`` from ``pos``: ([(type, flags, start, end)], next position),
    ``start:end`` being the packet after its fixed header. Payloads are not copied."""
    packets: list[tuple[int, int, int, int]] = []
    size = len(buf)
    while size - pos >= 2:
        first = buf[pos]
        n = shift = 0
        i = pos + 1
        while True:
            if i >= size:
                return packets, pos
            byte = buf[i]
            n |= (byte & 0x7F) << shift
            i += 1
            if not byte & 0x80:
                break
            shift += 7
            if shift > 21:
                raise ValueError("malformed remaining length")
        if i + n > size:
            break
        packets.append((first >> 4, first & 0x0F, i, i + n))
        pos = i + n
    return packets, pos


def publish_parts(buf: bytes | bytearray, flags: int, start: int, end: int) -> tuple[str, int]:
    """The topic of a PUBLISH packet's body ``buf[start:end]`` and where its payload starts
    (after the packet id, which QoS 1 and 2 have)."""
    length = (buf[start] << 8) | buf[start + 1]
    topic_end = start + 2 + length
    if topic_end > end:
        raise ValueError("PUBLISH topic runs past the packet")
    payload = topic_end + (2 if flags & 0x06 else 0)
    return bytes(buf[start + 2 : topic_end]).decode(), payload


def connack_code(buf: bytes | bytearray, start: int, end: int) -> int:
    """The return code of a CONNACK (0: accepted)."""
    if end - start != 2:
        raise ValueError("CONNACK of the wrong length")
    return buf[start + 1]
