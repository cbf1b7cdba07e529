"""The prepared-frame writer: one encoded text frame serves every connection of a fan-out.

Server frames are unmasked, so with no extension negotiated the bytes of a text frame
(header + payload) are the same for every connection, like gorilla/websocket's
``PreparedMessage``: the hub builds them once per event (:func:`text_frame`) instead of
websockets' ``broadcast()`` serializing a ``Frame`` per connection. Frames queued for a
connection during one loop tick are written at the end of it in a single
``transport.write`` (one ``send()`` for a burst of events instead of one each).

websockets has no prepared-frame API (its maintainer: private internals are at your own
risk), so this module, and only this one, reaches under its connection objects
(``protocol.state``, ``transport``, ``send_in_progress``,
``protocol.expect_continuation_frame``). :func:`supports_prepared_frames` checks on the
first connection that they are all there, with the expected types; if a release renamed
one, every frame goes through the library's public ``broadcast()`` instead (one warning in
the log, fan-out slower, nothing broken), and ``tests/server/test_framing.py``, run in CI
against the newest websockets release too, fails. :func:`abort`, which drops a socket the
connection caps refuse (chat_server/doorman.py), uses ``transport`` too, with the public
``close()`` as its fallback. A connection is written to only when it is OPEN
and the library is not in the middle of a fragmented send (so a frame never lands between
the library's fragments or after its close frame); with an extension such as
permessage-deflate the frame goes through ``broadcast()`` as well. Frames the library
writes itself (pings, pongs, the closing handshake) are whole frames written
synchronously, so they interleave with these only at frame boundaries.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.frames import CloseCode
from websockets.protocol import State

__all__ = [
    "FrameWriter",
    "Outbox",
    "abort",
    "broadcast",
    "frame_payload",
    "probe",
    "supports_prepared_frames",
    "text_frame",
]

log = logging.getLogger(__name__)

OPEN = State.OPEN
_FIN_TEXT = 0x81  # FIN + opcode 1 (text); no RSV bit (no extension), no MASK bit (server)
_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")


def text_frame(payload: bytes) -> bytes:
    """The wire bytes of an unmasked, final, uncompressed text frame carrying ``payload``
    (UTF-8 already): what websockets' ``Frame.serialize(mask=False)`` writes (RFC 6455 5.2)."""
    length = len(payload)
    if length < 126:
        return _SHORT.pack(_FIN_TEXT, length) + payload
    if length < 65536:
        return _MEDIUM.pack(_FIN_TEXT, 126, length) + payload
    return _LONG.pack(_FIN_TEXT, 127, length) + payload


_capable: bool | None = None  # what the first connection's check found


def probe(ws: ServerConnection) -> bool:
    """Whether this connection has every internal the prepared-frame writer uses."""
    protocol = getattr(ws, "protocol", None)
    transport = getattr(ws, "transport", None)
    return (
        protocol is not None
        and isinstance(getattr(protocol, "state", None), State)
        and isinstance(getattr(protocol, "expect_continuation_frame", None), bool)
        and isinstance(getattr(protocol, "extensions", None), list)
        and hasattr(ws, "send_in_progress")
        and all(
            callable(getattr(transport, name, None))
            for name in ("write", "is_closing", "get_write_buffer_size")
        )
    )


def supports_prepared_frames(ws: ServerConnection) -> bool:
    """Whether prepared frames may be written to this connection's transport directly:
    the library's internals are as this module expects (checked once, on the first
    connection), and no extension transforms frames."""
    global _capable
    if _capable is None:
        _capable = probe(ws)
        if not _capable:
            log.warning(
                "this websockets release lacks the internals of the prepared-frame writer:"
                " every frame goes through websockets.broadcast() (slower fan-out)"
            )
    return _capable and not ws.protocol.extensions


_closing: set[asyncio.Task[None]] = set()  # fallback closes under way (tasks need a reference)


def abort(ws: ServerConnection) -> None:
    """Drop a connection's socket now, with no closing handshake: for a socket refused at
    accept, before websockets has read a byte of it, so that it holds a descriptor no longer.

    Without the transport (a websockets release renamed it), the connection is closed with
    the public ``close()`` instead: code 1013 once it is open, else, since there is no
    handshake to close, when the library gives up on it (``close_timeout``) at the latest.
    """
    transport = getattr(ws, "transport", None)
    if callable(getattr(transport, "abort", None)):
        transport.abort()  # type: ignore[union-attr]
        return
    task = asyncio.get_running_loop().create_task(ws.close(CloseCode.TRY_AGAIN_LATER))
    _closing.add(task)
    task.add_done_callback(_closing.discard)


def frame_payload(frame: bytes) -> bytes:
    """The payload of a frame made by :func:`text_frame` (for the library's own send)."""
    code = frame[1]
    return frame[2 if code < 126 else 4 if code == 126 else 10 :]


class Outbox:
    """One connection and the frames queued for it in this loop tick.

    ``frames`` is None, one frame, or a list of them: a lone frame (the common case below
    saturation) is kept as bytes, which the cyclic GC does not track, so fanning one event out
    to 1000 connections allocates no container per connection (a list per connection per
    event kept the GC busy and promoted them to the oldest generation: longer full
    collections, in the latency tail). ``closing`` is set once the server gave up on the
    connection (slow consumer, revoked token, shutdown): nothing more is written to it.
    """

    __slots__ = ("closing", "frames", "prepared", "protocol", "transport", "ws")

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.protocol = ws.protocol
        self.transport: Any = getattr(ws, "transport", None)
        # extensions are negotiated in the handshake, which is over: fixed from here on
        self.prepared = supports_prepared_frames(ws)
        self.frames: bytes | list[bytes] | None = None
        self.closing = False


B = TypeVar("B", bound=Outbox)


class FrameWriter(Generic[B]):
    """Writes prepared frames to outboxes, now or coalesced at the end of the loop tick.

    After each write, an outbox whose transport holds more than ``max_buffer`` bytes that
    the peer has not read, not counting the last frame written, is handed to ``on_slow``
    (the caller closes it): there is no backpressure on this path.
    """

    def __init__(self, max_buffer: int, on_slow: Callable[[B], None]) -> None:
        self.max_buffer = max_buffer
        self.on_slow = on_slow
        # outboxes with queued frames; the hub appends to it directly on its hot path
        self.dirty: list[B] = []
        self._scheduled = False

    def queue(self, box: B, frame: bytes) -> None:
        """Queue a frame for the end of this loop tick (then :meth:`schedule`)."""
        frames = box.frames
        if frames is None:
            box.frames = frame
            self.dirty.append(box)
        elif isinstance(frames, list):
            frames.append(frame)
        else:
            box.frames = [frames, frame]

    def schedule(self) -> None:
        """Make sure :meth:`flush` runs once the current loop tick's callbacks are done."""
        if not self._scheduled and self.dirty:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    @staticmethod
    def pending(box: B) -> int:
        """Bytes on their way to a connection: written and not yet taken by the peer (the
        transport's buffer), and queued for the end of this tick."""
        transport = box.transport
        size = transport.get_write_buffer_size() if transport is not None else 0
        frames = box.frames
        if frames is not None:
            size += len(frames) if isinstance(frames, bytes) else sum(map(len, frames))
        return size

    def write_now(self, box: B, frame: bytes) -> None:
        """Write what is queued for ``box``, then ``frame``, now (keeps the order)."""
        frames = box.frames
        if frames is None:
            box.frames = frame
        elif isinstance(frames, list):
            frames.append(frame)
        else:
            box.frames = [frames, frame]
        self._write(box)

    def flush(self) -> None:
        """Write every queued frame: one write per connection, in queued order.

        The loop is the fan-out's hot path, hence inlined: connections that are closing,
        mid-fragment or use an extension take :meth:`_write`'s general path.
        """
        self._scheduled = False
        dirty, self.dirty = self.dirty, []
        limit = self.max_buffer
        last: bytes | list[bytes] | None = None
        joined = b""
        for box in dirty:
            frames = box.frames
            if frames is None:  # already written by write_now
                continue
            protocol = box.protocol
            if (
                box.closing
                or not box.prepared
                or protocol.state is not OPEN
                or protocol.expect_continuation_frame
                or box.ws.send_in_progress is not None
            ):
                self._write(box)
                continue
            box.frames = None
            # one room's subscribers mostly share the same frames: join them once
            if frames is not last:
                if isinstance(frames, bytes):
                    joined = frames
                elif frames != last:
                    joined = b"".join(frames)
                last = frames
            transport = box.transport
            if transport.is_closing():
                continue
            try:
                transport.write(joined)
            except Exception as exc:  # one failing connection must not stop the fan-out
                log.warning("write to %s failed: %s", box.ws.remote_address, exc)
                continue
            tail = frames if isinstance(frames, bytes) else frames[-1]
            if transport.get_write_buffer_size() - len(tail) > limit:
                box.closing = True
                self.on_slow(box)

    def _write(self, box: B) -> None:
        """Write what is queued for one connection, or drop it if the connection cannot
        take a frame now (closing, or between the fragments of the library's own send)."""
        queued = box.frames
        assert queued is not None
        box.frames = None
        frames = [queued] if isinstance(queued, bytes) else queued
        if box.closing:
            return
        ws = box.ws
        if not box.prepared:
            # an extension (permessage-deflate) transforms frames, or the internals are
            # not there: the library's public broadcast(), which skips a connection that
            # is not open or is between the fragments of a message
            try:
                for frame in frames:
                    broadcast((ws,), frame_payload(frame), text=True)
            except Exception as exc:  # one failing connection must not stop the fan-out
                log.warning("write to %s failed: %s", ws.remote_address, exc)
                return
            self._check_buffer(box, frames[-1])
            return
        if box.protocol.state is not OPEN:
            return  # closing: the library's close frame may already be out
        if ws.send_in_progress is not None or box.protocol.expect_continuation_frame:
            log.warning("skipped %d frame(s): a fragmented message is being sent", len(frames))
            return
        transport = box.transport
        if transport.is_closing():
            return
        try:
            transport.write(queued if isinstance(queued, bytes) else b"".join(frames))
        except Exception as exc:  # one failing connection must not stop the fan-out
            log.warning("write to %s failed: %s", ws.remote_address, exc)
            return
        self._check_buffer(box, frames[-1])

    def _check_buffer(self, box: B, last: bytes) -> None:
        """Hand a connection whose unread output passed the limit to ``on_slow``."""
        transport = box.transport
        if transport is None or box.closing:
            return
        if transport.get_write_buffer_size() - len(last) > self.max_buffer:
            box.closing = True
            self.on_slow(box)
