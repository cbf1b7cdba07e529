"""A reconnect storm: a thousand connected clients lose the server at once and all come back.

The server is restarted by an operator (SIGTERM) or crashes (SIGKILL), and starts again on the
same port; the real :class:`ChatClient` reconnects with jittered backoff, re-joins with ``since``
and sends what it queued meanwhile. Everyone must end up with the same history as the server stored, without a
gap or a repeat, and ``/healthz`` must answer all through the storm.
"""

from __future__ import annotations

import asyncio
import signal

import pytest

from chat_tui.sequencing import Backoff
from tests.reliability.conftest import (
    Member,
    ServerFactory,
    assert_no_gap,
    eventually,
    full_history,
    health_poller,
    mint_tokens,
    raise_fd_limit,
)

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
