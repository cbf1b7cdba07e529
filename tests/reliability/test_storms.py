"""A reconnect storm: a thousand connected clients lose the server at once and all come back.

The server is restarted by an operator (SIGTERM) or crashes (SIGKILL), and starts again on the
same port; the real :class:`ChatClient` reconnects with jittered backoff, re-joins with ``since``
and sends what it queued meanwhile. Everyone must end up with the same history as the server
stored, without a gap or a repeat, and ``/healthz`` must answer all through the storm. And the
reverse: hundreds of connections dropped at once must not hurt the ones that stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from chat_tui.client.sequencing import Backoff
from tests.reliability.conftest import (
    WAIT,
    Member,
    ServerFactory,
    assert_no_gap,
    eventually,
    full_history,
    health_poller,
    mint_tokens,
    raise_fd_limit,
)
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

CLIENTS = 1000
USERS = 50  # several connections share a user (and a token), as tabs and devices do
ROOMS = [f"storm-{n}" for n in range(10)]
# Jittered like the default, quicker to start: a thousand clients spread over ~2 s windows.
STORM_BACKOFF = Backoff(base=0.25, factor=2.0, cap=4.0)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["restart", "crash"])
async def test_a_thousand_clients_reconnect_after_a_restart_and_converge(
    reliable_server: ServerFactory, stop: signal.Signals
) -> None:
    # Before the server starts: it inherits the limit.
    assert raise_fd_limit(4 * CLIENTS) > CLIENTS + 200, "the storm needs ulimit -n above 1200"
    server = reliable_server()
    nicks = [f"user{n}" for n in range(USERS)]
    tokens = await mint_tokens(server.db, [*nicks, "reader"])
    server.start()
    members = [
        Member(server.url, tokens[nicks[n % USERS]], backoff=STORM_BACKOFF) for n in range(CLIENTS)
    ]
    rooms = [ROOMS[n % len(ROOMS)] for n in range(CLIENTS)]
    talkers = members[: len(ROOMS)]  # one in each room
    opening = asyncio.Semaphore(50)

    async def start(member: Member, room: str) -> None:
        async with opening:
            await member.start(room)

    await asyncio.gather(*(start(m, room) for m, room in zip(members, rooms, strict=True)))
    await eventually(lambda: server.health()["connections"] == CLIENTS, "all connected")

    async def talk(round_: int) -> None:
        await asyncio.gather(
            *(
                t.client.send(f"round {round_}", room=room)
                for t, room in zip(talkers, ROOMS, strict=True)
            )
        )

    await talk(0)
    server.signal(stop)
    assert await asyncio.to_thread(server.wait) == (0 if stop == signal.SIGTERM else -stop)
    queued = asyncio.create_task(talk(1))  # sent while the server is down: outbox
    await asyncio.to_thread(server.start)

    async with health_poller(server) as answers:
        await eventually(
            lambda: (
                all(m.client.status.state == "connected" for m in members)
                and server.health()["connections"] == CLIENTS
            ),
            "every client to reconnect",
            timeout=120,
        )
        await queued
        await talk(2)
        stored = {room: await full_history(server.url, tokens["reader"], room) for room in ROOMS}
        await eventually(
            lambda: all(
                m.last(room) == len(stored[room]) for m, room in zip(members, rooms, strict=True)
            ),
            "every client to catch up",
            timeout=60,
        )
    assert len(answers) >= 2  # /healthz answered all along (a failed poll raises)

    for room, messages in stored.items():
        assert_no_gap(messages)
        assert [m.body for m in messages] == ["round 0", "round 1", "round 2"], room
    for member, room in zip(members, rooms, strict=True):
        assert [(m.seq, m.id) for m in member.seen[room]] == [(m.seq, m.id) for m in stored[room]]
    assert sum(m.reconnects for m in members) >= CLIENTS  # every one of them came back
    closing = asyncio.Semaphore(100)

    async def close(member: Member) -> None:
        async with closing:
            await member.close()

    await asyncio.gather(*(close(m) for m in members))
    server.assert_no_traceback()


LEAVERS = 300  # connections of 100 users that drop all at once, reconnect, drop again
STAYERS = 20


async def test_a_storm_of_dropped_connections_leaves_the_others_unharmed(
    reliable_server: ServerFactory,
) -> None:
    """Hundreds of connections reset at once (a Wi-Fi access point dying, a NAT flushed),
    three times, while the others chat: the server fans out to the survivors without a gap,
    the dropped users go offline for them, and nothing is logged as a crash."""
    assert raise_fd_limit(4 * LEAVERS) > LEAVERS + 200
    server = reliable_server()
    leaver_nicks = [f"gone{n}" for n in range(LEAVERS // 3)]
    stayer_nicks = [f"stay{n}" for n in range(STAYERS)]
    tokens = await mint_tokens(server.db, [*leaver_nicks, *stayer_nicks, "reader"])
    server.start()
    room = ROOMS[0]
    stayers = [Member(server.url, tokens[nick]) for nick in stayer_nicks]
    await asyncio.gather(*(m.start(room) for m in stayers))
    chatting = asyncio.create_task(chat_until_cancelled(stayers, room))
    opening = asyncio.Semaphore(50)

    async def drop_in(nick: str) -> Any:
        async with opening:
            ws = await connect(server.url, compression=None, open_timeout=WAIT)
            await ws.send(json.dumps({"type": "hello", "token": tokens[nick]}))
            await ws.recv()
            await ws.send(json.dumps({"type": "join", "room": room}))
            return ws

    for _ in range(3):
        leavers = await asyncio.gather(
            *(drop_in(leaver_nicks[n % len(leaver_nicks)]) for n in range(LEAVERS))
        )
        await eventually(
            lambda: server.health()["connections"] == LEAVERS + STAYERS, "the leavers in"
        )
        for stayer in stayers:
            stayer.went_offline.clear()
        for ws in leavers:  # a reset, no close frame
            ws.transport.abort()
        await eventually(lambda: server.health()["connections"] == STAYERS, "the leavers out")
        await eventually(
            lambda: all(m.went_offline == set(leaver_nicks) for m in stayers),
            "everyone to see the leavers go offline",
        )
    chatting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await chatting
    stored = await full_history(server.url, tokens["reader"], room)
    assert_no_gap(stored)
    assert len(stored) > STAYERS  # they chatted all along
    await eventually(
        lambda: all(m.last(room) == len(stored) for m in stayers), "the stayers to catch up"
    )
    for stayer in stayers:
        assert [(m.seq, m.id) for m in stayer.seen[room]] == [(m.seq, m.id) for m in stored]
        assert stayer.reconnects == 0
    await asyncio.gather(*(m.close() for m in stayers))
    server.assert_no_traceback()


async def chat_until_cancelled(members: list[Member], room: str) -> None:
    """Everyone says something, in turn, until cancelled (a send in flight is awaited)."""
    n = 0
    while True:
        await asyncio.shield(members[n % len(members)].client.send(f"line {n}", room=room))
        n += 1


async def test_a_server_out_of_file_descriptors_keeps_serving_and_recovers(
    reliable_server: ServerFactory,
) -> None:
    """A connection flood runs the server out of file descriptors (its ``ulimit -n``): the
    clients already there keep chatting without a gap, the flood is refused without a crash,
    and once it is gone new clients log in again."""
    assert raise_fd_limit(2000) > 1000
    server = reliable_server()
    server.open_files = 120
    stayer_nicks = [f"stay{n}" for n in range(STAYERS)]
    tokens = await mint_tokens(server.db, [*stayer_nicks, "flood", "late", "reader"])
    server.start()
    room = ROOMS[0]
    stayers = [Member(server.url, tokens[nick]) for nick in stayer_nicks]
    await asyncio.gather(*(m.start(room) for m in stayers))
    chatting = asyncio.create_task(chat_until_cancelled(stayers, room))

    async def flood_in() -> Any:
        """A connection, logged in if the server could; None if it was refused."""
        try:
            ws = await connect(server.url, compression=None, open_timeout=WAIT)
        except (OSError, TimeoutError, InvalidHandshake):
            return None
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps({"type": "hello", "token": tokens["flood"]}))
            await ws.recv()
        return ws

    flood = [ws for ws in await asyncio.gather(*(flood_in() for _ in range(300))) if ws]
    assert flood  # some got in: the server ran out of descriptors while they were connected
    seen = min(len(m.seen[room]) for m in stayers)
    await eventually(
        lambda: all(len(m.seen[room]) > seen + 20 for m in stayers),
        "the stayers to keep chatting during the flood",
    )
    await asyncio.gather(*(ws.close() for ws in flood))
    await eventually(lambda: server.health()["connections"] == STAYERS, "the flood gone")
    late = Member(server.url, tokens["late"])
    await late.start(room)
    await late.client.send("made it", room=room)
    chatting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await chatting
    stored = await full_history(server.url, tokens["reader"], room)
    assert_no_gap(stored)
    assert "made it" in [m.body for m in stored]
    await eventually(
        lambda: all(m.last(room) == len(stored) for m in stayers), "the stayers to catch up"
    )
    for stayer in stayers:
        assert [(m.seq, m.id) for m in stayer.seen[room]] == [(m.seq, m.id) for m in stored]
    await asyncio.gather(*(m.close() for m in [*stayers, late]))
    assert server.running


async def test_clients_keep_reconnecting_through_a_server_whose_storage_fails(
    reliable_server: ServerFactory,
) -> None:
    """Found by a reconnect storm into a server restarted with too small a ``ulimit -n``: the
    hellos it accepted got ``internal`` (SQLite could not open the files its reads need), and
    the client took that as final and stopped reconnecting for good. The protocol says to
    retry an ``internal`` error later; once the storage answers again, all are back.

    Which descriptor limit starves the storage and not the door varies from run to run, so
    the storage fails here the same way every time: the table a login reads is renamed away
    while the server is down, and renamed back while the clients are being refused."""
    server = reliable_server("--metrics")
    tokens = await mint_tokens(server.db, [f"back{n}" for n in range(STAYERS)])
    server.start()
    members = [Member(server.url, token) for token in tokens.values()]
    await asyncio.gather(*(m.start(ROOMS[0]) for m in members))
    before = [m.reconnects for m in members]
    await asyncio.to_thread(server.kill)
    await asyncio.to_thread(rename_table, server.db, "tokens", "tokens_away")
    await asyncio.to_thread(server.start)

    # the clients are refused (``internal``: the log says so once, then counts) and every one
    # tries again, more than once
    await eventually(
        lambda: (
            internal_errors(server) >= 3 * STAYERS
            and all(m.reconnects >= n + 3 for m, n in zip(members, before, strict=True))
        ),
        "every client to be refused by the storage and to try again",
    )
    assert "login failed on storage: no such table: tokens" in server.log_text()
    assert [m for m in members if m.client.closed] == []  # not one gave up
    await asyncio.to_thread(rename_table, server.db, "tokens_away", "tokens")
    await eventually(
        lambda: all(m.client.status.state == "connected" for m in members),
        "every client to come back",
    )
    acks = await asyncio.gather(*(m.client.send("back", room=ROOMS[0]) for m in members))
    assert sorted(ack.seq for ack in acks) == list(range(1, STAYERS + 1))
    await asyncio.gather(*(m.close() for m in members))


def internal_errors(server: ServerProcess) -> float:
    """The server's count of ``internal`` error frames sent, from its ``/metrics``."""
    with urllib.request.urlopen(f"{server.http}/metrics", timeout=WAIT) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "chat_errors_total" and sample.labels.get("code") == "internal"
    )


def rename_table(db: Path, old: str, new: str) -> None:
    """``ALTER TABLE old RENAME TO new``, from outside the server (as an operator's mistake, or
    a disk that stops answering, would break it)."""
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute(f"ALTER TABLE {old} RENAME TO {new}")
