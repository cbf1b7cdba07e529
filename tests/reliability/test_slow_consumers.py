"""Clients that stop reading, and dead ones that never answer a ping, cannot hurt the others.

A slow consumer is closed with 1013 once its write buffer passes ``--max-buffer`` (so the
server's memory stays bounded whatever it does), while everyone else keeps receiving every
message in order; a zombie connection is closed after ``--ping-interval`` + ``--ping-timeout``
and its user goes offline for the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from chat_server import protocol as p
from tests.reliability.conftest import (
    WAIT,
    Member,
    ServerFactory,
    ServerProc,
    eventually,
    full_history,
    mint_tokens,
    raise_fd_limit,
    rss_kb,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

ROOM = "busy"
CHATTERS = 100
SLOW = 10
PER_CHATTER = 5
# ~4000 four-byte characters: ~16 KB a message, so that the chat would pile megabytes up in
# the server for every client that stopped reading, were they not closed.
BODY = "\N{GRINNING FACE}" * (p.MAX_BODY - 8)
MAX_BUFFER = 512 * 1024
IN_FLIGHT = 8  # messages on their way at once, in the whole room


async def open_ws(server: ServerProc, token: str, *, sock: socket.socket | None = None) -> Any:
    """A bare connection, logged in and joined to ROOM (its backlog read)."""
    ws = await connect(server.url, compression=None, max_size=None, sock=sock, close_timeout=5)
    await ws.send(json.dumps({"type": "hello", "token": token}))
    assert json.loads(await ws.recv())["type"] == "welcome"
    await ws.send(json.dumps({"type": "join", "room": ROOM}))
    while json.loads(await ws.recv())["type"] != "history":
        pass
    return ws


class Chatter:
    """Reads everything (every message, in order) while sending its messages with ids, one at
    a time and only a few at once in the whole room, as people chat: the test process shares
    two cores with the server, so a flood would make every reader a slow one."""

    def __init__(self, nick: str, ws: ClientConnection) -> None:
        self.nick = nick
        self.ws = ws
        self.received: list[tuple[int, str]] = []  # (seq, id)
        self._echo: asyncio.Queue[str] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosedOK):
            async for data in self.ws:
                frame = json.loads(data)
                if frame["type"] == "message":
                    self.received.append((frame["seq"], frame["id"]))
                    if frame["nick"] == self.nick:
                        self._echo.put_nowait(frame["id"])
                else:
                    assert frame["type"] in ("ack", "presence"), frame

    async def chat(self, phase: int, turns: asyncio.Semaphore) -> None:
        for n in range(PER_CHATTER):
            msg_id = f"{self.nick}-{phase}-{n}"
            async with turns:
                frame = {"type": "send", "room": ROOM, "body": BODY, "id": msg_id}
                await self.ws.send(json.dumps(frame))
                echo = asyncio.ensure_future(self._echo.get())
                done, _ = await asyncio.wait(
                    {echo, self._reader}, timeout=WAIT, return_when="FIRST_COMPLETED"
                )
                assert echo in done, f"{self.nick} lost its connection: {self._reader}"
                assert echo.result() == msg_id

    async def caught_up(self, total: int) -> None:
        await eventually(lambda: len(self.received) >= total, f"{self.nick} to read {total}")

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


async def chat(chatters: list[Chatter], phase: int) -> None:
    """Every chatter sends its messages; then every one has read the whole room so far."""
    turns = asyncio.Semaphore(IN_FLIGHT)
    async with asyncio.timeout(120):
        await asyncio.gather(*(c.chat(phase, turns) for c in chatters))
        total = (phase + 1) * CHATTERS * PER_CHATTER
        await asyncio.gather(*(c.caught_up(total) for c in chatters))


class SlowReader:
    """Stops reading once joined (a tiny socket receive buffer, reading paused); reads again
    only when told to, to see how the server closed it."""

    def __init__(self, nick: str, ws: ClientConnection) -> None:
        self.nick = nick
        self.ws = ws
        ws.transport.pause_reading()

    async def close_code(self) -> int | None:
        self.ws.transport.resume_reading()
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(WAIT):
                async for _ in self.ws:
                    pass
        close = self.ws.protocol.close_rcvd
        return close.code if close is not None else None


def small_socket(server: ServerProc) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.setblocking(False)
    return sock


class RssSampler:
    """The server's VmRSS, sampled from a thread until stopped: its peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_kb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            with contextlib.suppress(OSError, AssertionError):
                self.peak = max(self.peak, rss_kb(self.pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


async def test_slow_consumers_are_closed_and_the_others_get_every_message_in_order(
    reliable_server: ServerFactory,
) -> None:
    raise_fd_limit(4096)
    server = reliable_server("--max-buffer", str(MAX_BUFFER))
    nicks = [f"c{n}" for n in range(CHATTERS)] + [f"s{n}" for n in range(SLOW)] + ["reader"]
    tokens = await mint_tokens(server.db, nicks)
    server.start()
    chatters = [Chatter(nick, await open_ws(server, tokens[nick])) for nick in nicks[:CHATTERS]]
    # Warm-up: the same chat without slow readers, so that what the allocator and SQLite's
    # cache keep after a busy while is in the baseline.
    await chat(chatters, 0)
    slow = [
        SlowReader(nick, await open_ws(server, tokens[nick], sock=small_socket(server)))
        for nick in nicks[CHATTERS : CHATTERS + SLOW]
    ]
    baseline = rss_kb(server.pid)
    sampler = RssSampler(server.pid)
    chatting = asyncio.create_task(chat(chatters, 1))

    async def closed_as_slow(reader: SlowReader) -> int | None:
        """Read again once the server logged closing it (before its close timeout)."""
        line = f"closing slow consumer {reader.nick} "
        await eventually(lambda: line in server.log.read_text(), f"{reader.nick} to be cut")
        return await reader.close_code()

    codes = await asyncio.gather(*(closed_as_slow(reader) for reader in slow))
    await chatting
    peak = sampler.stop()

    assert codes == [1013] * SLOW
    stored = [(m.seq, m.id) for m in await full_history(server.url, tokens["reader"], ROOM)]
    total = 2 * CHATTERS * PER_CHATTER
    assert len(stored) == total
    for chatter in chatters:  # every message, in order, no gap, no repeat
        assert chatter.received == stored, chatter.nick
    # Were the slow ones not cut, each would hold this phase's chat (~8 MB) in the server: the
    # RSS would grow by ~50 MB (measured); cut, it grows by a few.
    chat_kb = CHATTERS * PER_CHATTER * len(BODY.encode()) // 1024
    assert peak - baseline < SLOW * chat_kb // 4, (baseline, peak, chat_kb)
    assert server.running
    server.assert_no_traceback()
    await asyncio.gather(*(c.close() for c in chatters))


PING = 0.5  # --ping-interval and --ping-timeout of the zombie test


async def test_zombie_connections_are_closed_after_ping_interval_and_timeout(
    reliable_server: ServerFactory,
) -> None:
    server = reliable_server("--ping-interval", str(PING), "--ping-timeout", str(PING))
    nicks = ["alive", *(f"z{n}" for n in range(5))]
    tokens = await mint_tokens(server.db, nicks)
    server.start()
    alive = Member(server.url, tokens["alive"])
    await alive.start(ROOM)
    zombies = []
    for nick in nicks[1:]:
        # Logged in and joined, then never reads again: pings go unanswered, as from a
        # laptop that went to sleep or a peer behind a dead NAT.
        ws = await open_ws(server, tokens[nick])
        ws.transport.pause_reading()
        zombies.append(ws)
    await eventually(lambda: server.health()["connections"] == len(nicks), "everyone connected")
    await alive.client.send("anyone there?", room=ROOM)

    # Dropped within ping_interval + ping_timeout: 5 s of room for a loaded machine, less
    # than the 10 s close timeout websockets would otherwise add.
    async with asyncio.timeout(2 * PING + 5):
        await eventually(lambda: server.health()["connections"] == 1, "the zombies closed")
        offline = {f"z{n}" for n in range(5)}
        await eventually(lambda: offline <= alive.went_offline, "the zombies to go offline")
    codes = []
    for ws in zombies:
        ws.transport.resume_reading()
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(WAIT):
                async for _ in ws:
                    pass
        codes.append(ws.protocol.close_rcvd.code if ws.protocol.close_rcvd else None)
    assert codes == [1011] * len(zombies)  # "keepalive ping timeout"
    # The live client answered every ping meanwhile: never dropped.
    assert alive.client.status.state == "connected" and alive.reconnects == 0
    await alive.close()
    server.assert_no_traceback()


async def fill_room(server: ServerProc, token: str, count: int) -> None:
    """``count`` messages of ~16 KB in ROOM, each acked (a few at a time, reading meanwhile)."""
    ws = await open_ws(server, token)
    for start in range(0, count, 10):
        batch = range(start, min(start + 10, count))
        for n in batch:
            frame = {"type": "send", "room": ROOM, "body": BODY, "id": f"f{n}"}
            await ws.send(json.dumps(frame))
        acks = 0
        while acks < len(batch):
            acks += json.loads(await ws.recv())["type"] == "ack"
    await ws.close()


async def test_a_history_page_bigger_than_the_buffer_limit_reaches_a_reader(
    reliable_server: ServerFactory,
) -> None:
    """Found by the slow-consumer test: a reader was cut (1013) for asking for one history
    page larger than --max-buffer, again on every retry, so it could never read the room.
    Now the page is cut to fit the buffer (``more``) and the reader pages on to the rest."""
    server = reliable_server("--max-buffer", str(64 * 1024))
    tokens = await mint_tokens(server.db, ["writer", "reader"])
    server.start()
    await fill_room(server, tokens["writer"], p.HISTORY_MAX + 1)
    ws = await open_ws(server, tokens["reader"], sock=small_socket(server))
    # 500 messages of ~16 KB: ~8 MB asked for at once, against a 64 KiB buffer
    seqs: list[int] = []
    before = 502
    for _ in range(p.HISTORY_MAX):  # bounded: at least one message a page
        frame = {"type": "history", "room": ROOM, "before": before, "limit": 500 - len(seqs)}
        await ws.send(json.dumps(frame))
        page = json.loads(await ws.recv())
        assert page["type"] == "history", page
        got = [m["seq"] for m in page["messages"]]
        assert got, page
        seqs = got + seqs
        before = got[0]
        if len(seqs) == 500:
            break
        assert page["more"], page  # a cut page says so
    assert seqs == list(range(2, 502))
    await ws.send(json.dumps({"type": "rooms", "ref": "still-there"}))
    assert json.loads(await ws.recv())["ref"] == "still-there"
    await ws.close()
    assert "closing slow consumer" not in server.log.read_text()


async def test_a_client_asking_for_pages_without_reading_them_is_cut(
    reliable_server: ServerFactory,
) -> None:
    server = reliable_server("--max-buffer", str(64 * 1024))
    tokens = await mint_tokens(server.db, ["writer", "greedy"])
    server.start()
    await fill_room(server, tokens["writer"], 100)
    greedy = SlowReader(
        "greedy", await open_ws(server, tokens["greedy"], sock=small_socket(server))
    )
    frame = json.dumps({"type": "history", "room": ROOM, "after": 0, "limit": 500})
    with contextlib.suppress(ConnectionClosed):
        for _ in range(50):  # 50 pages of 1.6 MB asked for, none read: memory must not grow
            await greedy.ws.send(frame)
    await eventually(lambda: "closing slow consumer greedy " in server.log.read_text(), "the cut")
    assert await greedy.close_code() == 1013
    server.assert_no_traceback()
