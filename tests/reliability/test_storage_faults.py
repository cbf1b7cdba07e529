"""Storage faults under a live stream: a full disk, a database file that turns read-only, and
PostgreSQL stopped and started again.

What a user must see: while the fault lasts, a send gets an ``error`` frame and no ``ack``,
the connection stays open, reading keeps working; once the fault clears, the same message
sent again is stored (once) without anyone restarting the server, and every member's view of
the room equals the stored history, with no gap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from chat_tui.client import ChatClient
from chat_tui.client.errors import ServerError
from tests.conftest import ServerFactory as InProcessFactory
from tests.reliability.conftest import (
    FAST_BACKOFF,
    WAIT,
    Member,
    ServerFactory,
    assert_no_gap,
    eventually,
    full_history,
    mint_tokens,
)
from tests.reliability.fault_support import Immutable, private_postgres, small_disk

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

BODY = "a message long enough to take a page of the log " * 60  # ~3 kB: the WAL must grow


async def _send(member: Member, body: str) -> int:
    ack = await asyncio.wait_for(member.client.send(body, room="feed"), WAIT)
    return ack.seq


async def _send_until_refused(member: Member, acked: list[int], tries: int = 400) -> str:
    """Send until the server refuses one; returns that message's id (never acked)."""
    for n in range(tries):
        msg_id = f"during-{n}"
        try:
            ack = await asyncio.wait_for(
                member.client.send(f"{n} {BODY}", room="feed", id=msg_id), WAIT
            )
        except ServerError as exc:
            assert exc.code == "internal", exc
            return msg_id
        acked.append(ack.seq)
    raise AssertionError(f"{tries} sends went through: the fault did not stop writes")


async def _resend_until_acked(member: Member, msg_id: str, body: str) -> int:
    """The same message again (the same id) until the store takes it: the fault is over."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        try:
            ack = await asyncio.wait_for(member.client.send(body, room="feed", id=msg_id), WAIT)
            return ack.seq
        except ServerError as exc:
            assert exc.code == "internal", exc
            assert asyncio.get_running_loop().time() < deadline, "the service never came back"
            await asyncio.sleep(0.2)


async def _check_views(url: str, token: str, members: list[Member], acked: list[int]) -> None:
    """Stored history = the acks = what every member was shown, without gap or repeat."""
    stored = await asyncio.wait_for(full_history(url, token, "feed"), WAIT)
    assert_no_gap(stored)
    assert [m.seq for m in stored] == acked
    for member in members:
        await eventually(lambda: member.last("feed") == acked[-1], "the last message")  # noqa: B023
        assert [(m.seq, m.body) for m in member.seen["feed"]] == [(m.seq, m.body) for m in stored]
        assert member.reconnects == 0, "a storage fault cost a connection"


async def _sqlite_fault_run(
    reliable_server: ServerFactory, db: Path, fault: AbstractContextManager[Any]
) -> None:
    """The stream, the fault (a context manager), recovery, and the checks."""
    tokens = await mint_tokens(db, ["alice", "bob"])
    server = reliable_server(db=db, name="faulty")
    server.start()
    alice, bob = Member(server.url, tokens["alice"]), Member(server.url, tokens["bob"])
    try:
        await asyncio.wait_for(alice.start("feed"), WAIT)
        await asyncio.wait_for(bob.start("feed"), WAIT)
        acked = [(await _send(alice, f"before {n}")) for n in range(3)]
        with fault:
            refused = await _send_until_refused(alice, acked)
            # reading needs no write: history, and a new login with a token, still work
            page = await asyncio.wait_for(bob.client.history("feed", after=0, limit=500), WAIT)
            assert [m.seq for m in page.messages] == acked
            async with ChatClient(server.url, token=tokens["bob"], reconnect=False) as again:
                assert (await again.join("feed")).last_seq == acked[-1]
            assert server.running
        acked.append(await _resend_until_acked(alice, refused, "after the fault"))
        acked += [(await _send(alice, f"after {n}")) for n in range(3)]
        await _check_views(server.url, tokens["bob"], [alice, bob], acked)
        assert server.starts == 1 and server.running, "the server was restarted or died"
    finally:
        await alice.close()
        await bob.close()
    server.stop()
    server.assert_no_traceback()


async def test_a_full_disk_refuses_sends_and_service_resumes_when_space_is_freed(
    reliable_server: ServerFactory, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk") as disk:

        @contextmanager
        def full() -> Iterator[None]:
            assert disk.fill() > 0
            try:
                yield
            finally:
                disk.free()  # an operator deletes what filled the disk

        await _sqlite_fault_run(reliable_server, disk.path / "chat.db", full())


async def test_a_read_only_database_file_refuses_sends_and_service_resumes(
    reliable_server: ServerFactory, tmp_path: Path
) -> None:
    db = tmp_path / "ro" / "chat.db"
    db.parent.mkdir()
    await _sqlite_fault_run(reliable_server, db, Immutable(db))


@pytest.mark.parametrize("mode", ["fast", "immediate"])  # an operator's stop, or a crash
async def test_postgres_stopped_and_started_mid_stream(
    make_server: InProcessFactory, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    caplog.set_level(logging.WARNING)
    with private_postgres() as pg:
        server = await make_server(database_url=pg.url, rate_per_second=1000.0, rate_burst=1000)
        clients = []
        for nick in (
            "alice",
            "bob",
            "carol",
        ):  # password logins: accounts made the way users make them
            async with ChatClient(server.url, nick=nick, password="pw-" + nick) as signup:
                assert signup.welcome is not None
                clients.append(signup.welcome.token)
        alice = Member(server.url, clients[0], backoff=FAST_BACKOFF)
        bob = Member(server.url, clients[1], backoff=FAST_BACKOFF)
        carol = Member(server.url, clients[2], backoff=FAST_BACKOFF)
        try:
            for member in (alice, bob, carol):
                await asyncio.wait_for(member.start("feed"), WAIT)
            acked = [(await _send(alice, f"before {n}")) for n in range(3)]
            pg.stop(mode)
            refused = await _send_until_refused(alice, acked, tries=50)
            assert not pg.accepts()
            # carol's network drops now: her client's logins fail while the database is down
            conn = carol.client._conn  # private: there is no public way to cut a cable
            assert conn is not None
            conn.ws.transport.abort()
            await eventually(
                lambda: any("login failed on storage" in r.getMessage() for r in caplog.records),
                "a login attempt during the outage",
            )
            pg.start()
            acked.append(await _resend_until_acked(alice, refused, "after the restart"))
            acked += [(await _send(alice, f"after {n}")) for n in range(3)]
            await _check_views(server.url, clients[1], [alice, bob], acked)
            # carol's client kept trying, and shows her the whole room once it is back in
            await eventually(lambda: carol.last("feed") == acked[-1], "carol to come back")
            assert [m.seq for m in carol.seen["feed"]] == acked
            assert not carol.client.closed
        finally:
            for member in (alice, bob, carol):
                await member.close()
        tracebacks = [r for r in caplog.records if r.exc_info]
        assert not tracebacks, f"the server logged a traceback: {tracebacks[0].getMessage()}"
