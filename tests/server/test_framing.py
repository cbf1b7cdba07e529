"""The prepared-frame writer against the real library: pings, closes, deflate, slow readers."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
)
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from chat_server import framing
from chat_server import protocol as p
from chat_server.framing import frame_payload, text_frame
from tests.conftest import ChatServerUnderTest, Client, ServerFactory

FAST = {"rate_per_second": 1e6, "rate_burst": 10**6}


@pytest.mark.private_api
@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_prepared_frame_is_what_websockets_would_write(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    frame = text_frame(payload)
    assert frame == Frame(Opcode.TEXT, payload).serialize(mask=False)
    assert frame_payload(frame) == payload


def body(i: int) -> str:
    """Bodies from 5 to ~1900 characters, multi-byte UTF-8: every length encoding is used."""
    return f"{i:04d}:" + "é" * (i * 53 % 1900)


async def readers(
    stack: AsyncExitStack, server: ChatServerUnderTest, token: str, count: int, **kwargs: object
) -> list[Client]:
    """``count`` connections of one account, each joined to #general."""
    clients = []
    for _ in range(count):
        client = await stack.enter_async_context(server.client(**kwargs))
        await client.request({"type": "hello", "token": token}, "welcome")
        await client.join("general")
        clients.append(client)
    return clients


async def stream(client: Client, count: int, prefix: str = "m") -> None:
    """Send ``count`` messages without waiting for their acks (many events per loop tick)."""
    for i in range(1, count + 1):
        await client.send(
            {"type": "send", "room": "general", "body": body(i), "id": f"{prefix}{i}"}
        )


async def messages(client: Client, upto: int) -> list[tuple[int, str]]:
    """The (seq, body) of every message event until seq ``upto`` (a sender's acks skipped)."""
    got: list[tuple[int, str]] = []
    while not got or got[-1][0] < upto:
        frame = await client.recv_type("message", "ack", timeout=10)
        if frame["type"] == "message":
            got.append((frame["seq"], frame["body"]))
    return got


async def pinging(client: Client, stop: asyncio.Event) -> int:
    """Client pings (the server's library answers with pongs between our frames)."""
    pongs = 0
    while not stop.is_set():
        waiter = await client.ws.ping()
        await asyncio.wait_for(waiter, 10)
        pongs += 1
    return pongs


@pytest.mark.slow
async def test_many_connections_get_every_frame_intact_and_in_order_among_pings(
    make_server: ServerFactory,
) -> None:
    # the server's keepalive pings every 20 ms, and the clients ping it: the library's
    # own control frames interleave with the prepared frames on every connection
    # 40 connections of one user: past the default per-user cap, which is not tested here
    server: ChatServerUnderTest = await make_server(
        ping_interval=0.02, max_connections_per_user=40, **FAST
    )
    total = 300
    async with AsyncExitStack() as stack, server.login("alice") as alice:
        reader = await stack.enter_async_context(server.login("reader"))
        await reader.join("general")
        clients = [reader, *await readers(stack, server, reader.token, 39)]
        await alice.join("general")
        stop = asyncio.Event()
        pingers = [asyncio.create_task(pinging(c, stop)) for c in clients[:10]]
        await stream(alice, total)
        results = await asyncio.gather(*(messages(c, total) for c in clients))
        stop.set()
        assert all(await asyncio.gather(*pingers))
        expected = [(i, body(i)) for i in range(1, total + 1)]
        for got in results:
            assert got == expected
        # a history page bigger than 64 KiB (8-byte length) through the same writer
        page = await reader.request({"type": "history", "room": "general", "limit": 100}, "history")
        assert [(m["seq"], m["body"]) for m in page["messages"]] == expected[-100:]
        assert len(str(page).encode()) > 65536


async def test_connections_closing_mid_stream_are_skipped_without_error(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server: ChatServerUnderTest = await make_server(**FAST)
    total = 200
    caplog.set_level(logging.WARNING)
    async with AsyncExitStack() as stack, server.login("alice") as alice:
        reader = await stack.enter_async_context(server.login("reader"))
        await reader.join("general")
        leaving = await readers(stack, server, reader.token, 20)
        staying = [reader, *await readers(stack, server, reader.token, 9)]
        await alice.join("general")
        sender = asyncio.create_task(stream(alice, total))
        await asyncio.gather(*(c.recv_type("message") for c in leaving))
        # they close while the server is queueing frames for them
        await asyncio.gather(*(c.ws.close() for c in leaving))
        await sender
        expected = [(i, body(i)) for i in range(1, total + 1)]
        for got in await asyncio.gather(*(messages(c, total) for c in staying)):
            assert got == expected
        assert all(c.ws.close_code == 1000 for c in leaving)
        await alice.say("general", "still here", "after")
        for client in staying:
            assert (await client.recv_type("message"))["body"] == "still here"
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == []


async def test_a_logout_after_queued_events_closes_cleanly(server: ChatServerUnderTest) -> None:
    """The library's own close frame comes after our frames, never in the middle of one."""
    async with server.login("alice") as alice, server.login("bob") as bob:
        await alice.join("general")
        await bob.join("general")
        await stream(alice, 20)
        await bob.send({"type": "logout"})
        codes = []
        try:
            while True:
                await bob.recv()
        except ConnectionClosed as closed:
            codes.append(closed.rcvd.code if closed.rcvd else None)
        assert codes == [1000]  # a clean closing handshake: no frame was cut
        assert [s for s, _ in await messages(alice, 20)] == list(range(1, 21))


class RecordingDeflate(ClientPerMessageDeflateFactory):
    """permessage-deflate that notes, per text frame received, whether it was compressed."""

    def __init__(self) -> None:
        super().__init__()
        self.compressed: list[bool] = []

    def process_response_params(
        self, params: Sequence[Any], accepted_extensions: Sequence[Extension]
    ) -> PerMessageDeflate:
        extension = super().process_response_params(params, accepted_extensions)
        decode = extension.decode

        def recording(frame: Frame, *, max_size: int | None = None) -> Frame:
            if frame.opcode is Opcode.TEXT:
                self.compressed.append(frame.rsv1)
            return decode(frame, max_size=max_size)

        extension.decode = recording  # type: ignore[method-assign]
        return extension


def opcodes(stream: bytes) -> list[int]:
    """The opcodes of the (unmasked) server frames in a byte stream, in order."""
    found, i = [], 0
    while i + 2 <= len(stream):
        opcode, length = stream[i] & 0x0F, stream[i + 1] & 0x7F
        i += 2
        if length >= 126:
            size = 2 if length == 126 else 8
            length, i = int.from_bytes(stream[i : i + size]), i + size
        found.append(opcode)
        i += length
    return found


@pytest.mark.private_api
async def test_nothing_is_written_after_the_librarys_close_frame(
    server: ChatServerUnderTest,
) -> None:
    async with server.login("bob") as bob:
        await bob.join("general")
        received = bytearray()
        receive_data = bob.ws.protocol.receive_data

        def recording(data: bytes | bytearray) -> None:
            received.extend(data)
            receive_data(data)

        bob.ws.protocol.receive_data = recording  # type: ignore[method-assign]
        [session] = server.running.ctx.hub.all_sessions()
        event = p.encode(p.Presence(room="general", nick="carol", status="joined"))
        server.running.ctx.hub.deliver_room("general", event)  # queued until the tick ends
        await session.ws.close(1001, "going away")  # the library's close frame: now
        await bob.ws.wait_closed()
        assert opcodes(bytes(received)) == [Opcode.CLOSE.value]
        assert bob.ws.close_code == 1001


async def test_permessage_deflate_connections_use_the_library_send(
    make_server: ServerFactory,
) -> None:
    server: ChatServerUnderTest = await make_server(compression="deflate", **FAST)
    total = 150
    async with AsyncExitStack() as stack, server.login("alice") as alice:
        reader = await stack.enter_async_context(server.login("reader"))
        await reader.join("general")
        recording = RecordingDeflate()
        deflated = [reader, *await readers(stack, server, reader.token, 3)]
        deflated += await readers(
            stack, server, reader.token, 1, compression=None, extensions=[recording]
        )
        plain = await readers(stack, server, reader.token, 5, compression=None)
        assert all(c.ws.protocol.extensions for c in deflated)
        assert not any(c.ws.protocol.extensions for c in plain)
        await alice.join("general")
        await stream(alice, total)
        expected = [(i, body(i)) for i in range(1, total + 1)]
        for got in await asyncio.gather(*(messages(c, total) for c in deflated + plain)):
            assert got == expected
        # the messages went through the library's compressor, not as prepared frames
        assert len(recording.compressed) > total and all(recording.compressed)


@pytest.mark.slow
async def test_a_slow_deflate_consumer_is_still_closed_with_1013(
    make_server: ServerFactory,
) -> None:
    server: ChatServerUnderTest = await make_server(
        compression="deflate", max_buffer=256 * 1024, **FAST
    )
    # random bodies compress to ~3/4: ~8 MB for the one who does not read, more than the
    # socket buffers and the 256 KiB limit
    count = 3000
    bodies = [secrets.token_urlsafe(2920) for _ in range(count)]
    async with (
        server.login("alice") as alice,
        server.login("bob") as bob,
        server.client(max_queue=1) as slow,
    ):
        await slow.request({"type": "hello", "token": bob.token}, "welcome")
        await slow.join("general")
        await alice.join("general")
        await bob.join("general")
        for i, text in enumerate(bodies):
            await alice.send({"type": "send", "room": "general", "body": text, "id": f"b{i}"})
        got: list[str] = []
        while len(got) < count:
            got.append((await bob.recv_type("message", timeout=15))["body"])
        assert got == bodies
        codes = []
        try:
            while True:
                await slow.recv(timeout=15)
        except ConnectionClosed as closed:
            codes.append(closed.rcvd.code if closed.rcvd else None)
        assert codes == [1013]


async def _fragments(first_sent: asyncio.Event, release: asyncio.Event) -> AsyncIterator[str]:
    yield "frag-one "
    first_sent.set()
    await release.wait()
    yield "frag-two"


@pytest.mark.private_api
async def test_a_connection_mid_fragmented_send_is_skipped_not_corrupted(
    server: ChatServerUnderTest,
) -> None:
    """Were a prepared frame written between two fragments of the library's own send, the
    client would fail the connection (1002); instead that event is skipped for it."""
    async with server.login("alice") as alice, server.login("bob") as bob:
        await alice.join("general")
        await bob.join("general")
        [session] = [s for s in server.running.ctx.hub.all_sessions() if s.nick == "bob"]
        first_sent, release = asyncio.Event(), asyncio.Event()
        fragmented = asyncio.create_task(session.ws.send(_fragments(first_sent, release)))
        await asyncio.wait_for(first_sent.wait(), 10)
        await alice.say("general", "during the fragments", "m1")
        release.set()
        await fragmented
        await alice.say("general", "after the fragments", "m2")
        assert await bob.ws.recv(decode=True) == "frag-one frag-two"
        after = await bob.recv_type("message")
        assert after["body"] == "after the fragments"
        assert bob.ws.close_code is None


# --- the capability check: websockets' internals, and the public fallback -------------------


@pytest.mark.private_api
async def test_the_installed_websockets_has_every_internal_the_writer_uses(
    server: ChatServerUnderTest,
) -> None:
    # run in CI against the newest websockets release too: a renamed internal fails here
    async with server.login("alice") as alice:
        await alice.join("general")
        [session] = server.running.ctx.hub.all_sessions()
        assert framing.probe(session.ws)
        assert session.prepared


async def test_without_those_internals_every_frame_goes_through_broadcast(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(framing, "_capable", False)  # what a failed probe leaves behind
    written: list[int] = []
    real = framing.broadcast

    def counting(connections: Any, message: Any, **kwargs: Any) -> None:
        written.append(len(message))
        real(connections, message, **kwargs)

    monkeypatch.setattr(framing, "broadcast", counting)
    server: ChatServerUnderTest = await make_server(**FAST)
    total = 120
    async with AsyncExitStack() as stack, server.login("alice") as alice:
        reader = await stack.enter_async_context(server.login("reader"))
        await reader.join("general")
        clients = [reader, *await readers(stack, server, reader.token, 4)]
        await alice.join("general")
        assert not any(s.prepared for s in server.running.ctx.hub.all_sessions())
        await stream(alice, total)
        expected = [(i, body(i)) for i in range(1, total + 1)]
        for got in await asyncio.gather(*(messages(c, total) for c in clients)):
            assert got == expected
    assert len(written) >= total * len(clients)  # every one of them through the library


def test_a_connection_missing_an_internal_fails_the_probe() -> None:
    class Renamed:
        """What a release that renamed ``send_in_progress`` would hand us."""

        protocol = type("P", (), {"state": State.OPEN, "expect_continuation_frame": False,
                                  "extensions": []})()  # fmt: skip
        transport = asyncio.Transport()

    assert not framing.probe(Renamed())  # type: ignore[arg-type]


# --- abort: dropping a refused socket ------------------------------------------------------


@pytest.mark.private_api
async def test_abort_drops_the_socket_without_a_closing_handshake(
    server: ChatServerUnderTest,
) -> None:
    async with server.login("alice") as alice:
        [session] = server.running.ctx.hub.all_sessions()
        framing.abort(session.ws)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await alice.recv()
        assert closed.value.rcvd is None  # no close frame: the socket was just dropped


class WithoutTransport:
    """A server connection as a websockets release that renamed ``transport`` would hand
    it to us: everything else is the real connection's."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws

    def __getattr__(self, name: str) -> Any:
        if name == "transport":
            raise AttributeError(name)
        return getattr(self._ws, name)


async def test_without_the_transport_abort_closes_with_the_public_api(
    server: ChatServerUnderTest,
) -> None:
    async with server.login("alice") as alice:
        [session] = server.running.ctx.hub.all_sessions()
        framing.abort(WithoutTransport(session.ws))  # type: ignore[arg-type]
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await alice.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
