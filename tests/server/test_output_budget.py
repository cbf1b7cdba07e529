"""Connections that ask for a lot and do not read cannot make the server hold a lot.

The attack (reproduced on the old server): a user posts long messages, then connections
`join since:0` and ask for 500-message pages three times without reading; one page was
8 MB and the server's memory grew by gigabytes. Now a reply is counted against the
connection's budget (``--max-buffer``) and the server's (``--max-pending-output``) before
it is written: a page is cut to fit (``more``), a connection with no room left is closed
1013, and when the server as a whole is busy sending, big replies are refused with
``rate_limited`` and ``retry_after``. Meanwhile another user chats as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from chat_server import protocol as p
from chat_server.hub import RESERVE, Hub
from chat_server.ratelimit import Allowance
from chat_server.store import NewMessage
from tests.conftest import ChatServerUnderTest, ServerFactory

pytestmark = pytest.mark.slow

BODY = "語" * p.MAX_BODY  # 12 KB of UTF-8 a message
MESSAGES = 60  # ~720 KB in the room, far more than a connection's budget below
MAX_BUFFER = 256 * 1024
SLACK = 64 * 1024  # one small frame past a budget (a fan-out event, an ack, an error)
FAST = {"rate_per_second": 1e6, "rate_burst": 10**6, "bad_frames": Allowance(10**6, 1.0)}


async def fill(server: ChatServerUnderTest) -> str:
    """Alice's long messages in #general; returns mallory's token."""
    async with server.login("alice") as alice:
        await alice.join("general")
        for i in range(MESSAGES):
            await alice.say("general", BODY, f"long-{i}")
    async with server.login("mallory") as mallory:
        return mallory.token


async def hostile(server: ChatServerUnderTest, token: str) -> ClientConnection:
    """Logs in, stops reading (a tiny receive buffer, reading paused), then asks for the
    whole room four times over: a join from seq 0 and three 500-message pages."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.running.port))
    sock.setblocking(False)
    ws = await connect(server.url, sock=sock, compression=None, max_size=None, close_timeout=2)
    await ws.send(json.dumps({"type": "hello", "token": token}))
    assert json.loads(await ws.recv())["type"] == "welcome"
    ws.transport.pause_reading()
    await ws.send(json.dumps({"type": "join", "room": "general", "since": 0, "ref": "j"}))
    for n in range(3):
        frame = {"type": "history", "room": "general", "after": 0, "limit": 500, "ref": f"h{n}"}
        await ws.send(json.dumps(frame))
    return ws


async def outcome(ws: ClientConnection) -> list[dict[str, Any]]:
    """Read again: every frame the hostile connection was sent, until it is closed."""
    ws.transport.resume_reading()
    frames: list[dict[str, Any]] = []
    with contextlib.suppress(ConnectionClosed, TimeoutError):
        async with asyncio.timeout(5):
            async for data in ws:
                frames.append(json.loads(data))
    return frames


@contextlib.asynccontextmanager
async def peaks(hub: Hub) -> AsyncIterator[dict[str, int]]:
    """The most any connection, and all of them together, had on its way, sampled."""
    seen = {"connection": 0, "total": 0}

    async def sample() -> None:
        while True:
            pending = [hub.writer.pending(s) for s in hub.all_sessions()]
            seen["connection"] = max(seen["connection"], *pending, 0)
            seen["total"] = max(seen["total"], sum(pending))
            await asyncio.sleep(0.002)

    task = asyncio.create_task(sample())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def bystander_chats(server: ChatServerUnderTest) -> None:
    """Bob logs in, joins, sends and pages back as usual, and gets every reply."""
    async with server.login("bob") as bob:
        joined, history = await bob.join("general")
        assert joined["last_seq"] >= MESSAGES
        assert history["messages"], history
        ack = await bob.say("general", "still here", "bob-1")
        assert ack["seq"] > MESSAGES
        # a small page is never refused for someone else's flood (hub.RESERVE)
        page = await bob.request({"type": "history", "room": "general", "limit": 5}, "history")
        assert [m["seq"] for m in page["messages"]][-1] == ack["seq"], page


async def test_a_connection_that_does_not_read_holds_no_more_than_its_budget(
    make_server: ServerFactory,
) -> None:
    server = await make_server(max_buffer=MAX_BUFFER, **FAST)
    token = await fill(server)
    hub = server.running.ctx.hub
    async with peaks(hub) as seen:
        attackers = [await hostile(server, token) for _ in range(4)]
        await bystander_chats(server)
        await asyncio.sleep(0.5)  # the attackers' requests are all answered by now
    assert seen["connection"] <= MAX_BUFFER + SLACK, seen
    for ws in attackers:
        frames = await outcome(ws)
        pages = [f for f in frames if f["type"] == "history"]
        assert pages, frames
        # what was sent was cut to fit and says so; whatever did not fit closed it 1013
        assert all(page["more"] for page in pages), [len(pg["messages"]) for pg in pages]
        assert sum(len(pg["messages"]) for pg in pages) < 4 * MESSAGES
        assert ws.close_code in (None, p.CLOSE_TRY_AGAIN), ws.close_code
        await ws.close()


async def test_the_server_bounds_what_all_connections_have_on_their_way(
    make_server: ServerFactory,
) -> None:
    total = 512 * 1024
    server = await make_server(max_buffer=MAX_BUFFER, max_pending_output=total, **FAST)
    token = await fill(server)
    hub = server.running.ctx.hub
    async with peaks(hub) as seen:
        attackers = [await hostile(server, token) for _ in range(8)]
        await bystander_chats(server)
        await asyncio.sleep(0.5)
    # past the total by at most what every connection may always have (the bystander's)
    assert seen["total"] <= total + (len(attackers) + 1) * RESERVE + 2 * SLACK, seen
    squeezed = 0  # replies refused, or cut to what a connection may always have
    for ws in attackers:
        frames = await outcome(ws)
        busy = [f for f in frames if f["type"] == "error" and f["code"] == "rate_limited"]
        assert all(0 < f["retry_after"] <= 5 for f in busy), busy
        pages = [f for f in frames if f["type"] == "history"]
        assert all(page["more"] for page in pages)  # cut to fit: never the whole room
        small = [pg for pg in pages if len(json.dumps(pg, ensure_ascii=False)) <= RESERVE]
        squeezed += len(busy) + len(small)
        await ws.close()
    assert squeezed > 0, "8 x 256 KiB cannot fit in 512 KiB: some replies were refused or cut"
    # once the attackers are gone, a page is a page again
    async with server.login("carol") as carol:
        _, history = await carol.join("general")
        assert history["messages"] and history["more"]  # the newest that fit, more before


async def test_a_burst_of_big_pages_does_not_hold_up_someone_elses_ack(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that pipelines 150 big history pages has them read at once (websockets
    hands over what is buffered without waiting): served back to back, they held the event
    loop for the whole burst (a second and more with 32 such connections), and everyone
    else's acks waited. A connection now lets the others go after a couple of milliseconds
    of its own requests, so the bystander's ack goes out in the middle of the burst. (The
    user's read bytes would refuse most of these pages: not what is tested here.)"""
    unlimited = 1 << 40
    server = await make_server(read_bytes_rate=unlimited, read_bytes_burst=unlimited)
    async with server.login("alice") as alice:
        await alice.join("general")
    store = server.running.ctx.store
    writer = await store.user_by_nick("alice")
    room = await store.room_by_name("general")
    assert writer is not None and room is not None
    await asyncio.gather(
        *(
            store.submit(NewMessage(writer.id, "alice", room.id, f"m{i}", f"{i} " + "x" * 2000))
            for i in range(200)
        )
    )
    written: list[tuple[str, bytes]] = []  # (whose connection, the frame's start), in order
    hub = server.running.ctx.hub
    write = hub.write

    def recorded(session: Any, data: bytes) -> None:
        written.append((session.nick, bytes(data[:24])))
        write(session, data)

    burst = 150
    async with server.login("mallory") as mallory, server.login("bob") as bob:
        await mallory.join("general")
        await bob.join("general")
        monkeypatch.setattr(hub, "write", recorded)
        page = {"type": "history", "room": "general", "limit": 200}
        for i in range(burst):  # all on the wire before the bystander speaks
            await mallory.ws.send(json.dumps({**page, "ref": f"p{i}"}))
        await bob.say("general", "still here", "bob-1")
        for _ in range(burst):
            assert (await mallory.recv_type("history"))["messages"]
    pages = [
        i for i, (nick, data) in enumerate(written) if nick == "mallory" and b"history" in data
    ]
    acks = [i for i, (nick, data) in enumerate(written) if nick == "bob" and b'"ack"' in data]
    assert len(pages) == burst and len(acks) == 1
    assert acks[0] < pages[-1], "bob's ack waited for the whole burst"


async def test_pages_cost_their_bytes_from_the_users_budget_on_every_connection(
    make_server: ServerFactory,
) -> None:
    """One user's pages of long messages, on any of their connections, cost bytes from one
    budget: past its burst the next page (or search, or members page) is refused with a
    ``retry_after`` that pays the debt back, while another user pages as usual and the
    same user still joins rooms."""
    server = await make_server(read_bytes_rate=64 * 1024, read_bytes_burst=256 * 1024, **FAST)
    token = await fill(server)  # 60 messages of 12 KB: one page of them is ~720 KB
    async with server.resume(token) as mallory, server.resume(token) as again:
        await mallory.join("general")
        page = await mallory.request(
            {"type": "history", "room": "general", "limit": 500}, "history"
        )
        assert len(page["messages"]) == MESSAGES  # the first page is whole: it fit the burst
        for client, ask in (
            (mallory, {"type": "history", "room": "general", "limit": 5}),
            (again, {"type": "history", "room": "general", "limit": 5}),
            (again, {"type": "search", "q": "語"}),
            (again, {"type": "members", "room": "general"}),
        ):
            refused = await client.request(ask, "history", "results", "members")
            assert (refused["type"], refused["code"]) == ("error", "rate_limited"), refused
            # the debt (~720 - 256 KB) at 64 KB a second
            assert 5 < refused["retry_after"] <= 8, refused
        joined, _ = await again.join("random")  # a join is never refused for it
        assert joined["room"] == "random"
        async with server.login("bob") as bob:  # someone else's budget is their own
            await bob.join("general")
            theirs = await bob.request(
                {"type": "history", "room": "general", "limit": 500}, "history"
            )
            assert len(theirs["messages"]) == MESSAGES
