"""A reconnect re-joins every room at once, and asks a history page of each room far behind:
the server's read budget (``--read-burst``) is sized so that this never passes it, and a
client that does pass a smaller one is answered ``rate_limited`` and asks again later."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from chat_server import protocol as p
from chat_server.errors import StoreError
from chat_tui.client.events import Connected, StatusChanged
from chat_tui.client.sequencing import Backoff
from tests.client.conftest import RestartableServer, ServerMaker
from tests.client.test_client import Watcher, post

RETRIED = "over the server's budget"
# many messages from one user, and many rooms created by one: not what these tests are about
FAST_WRITERS = {"rate_per_second": 100_000.0, "rate_burst": 100_000, "room_create_rate": 1000}


async def outage(chat: RestartableServer, watcher: Watcher) -> None:
    """Stop the server until the client notices, then start it again."""
    await chat.stop()
    await watcher.until(
        lambda seen: any(
            isinstance(e, StatusChanged) and e.status.state == "reconnecting" for e in seen
        )
    )
    await chat.start()


async def resume(chat: RestartableServer, rooms: int, behind: dict[str, int]) -> list[str]:
    """A client in ``rooms`` rooms reconnects after ``behind[room]`` messages were posted to
    some of them; returns its log of requests made again. Every message arrives once, in order."""
    bob = await chat.account("bob")
    names = [f"room{i:03d}" for i in range(rooms)]
    # the reconnect waits 4-8 s: time to post what the client then catches up on
    alice = chat.client(await chat.account("alice"), backoff=Backoff(base=8.0, factor=1.0, cap=8.0))
    async with alice:
        watcher = Watcher(alice)
        await asyncio.gather(*(alice.join(name) for name in names))
        await outage(chat, watcher)
        for room, count in behind.items():
            await post(chat, bob, room, [f"{room} {n}" for n in range(count)])
        await watcher.until(lambda seen: sum(isinstance(e, Connected) for e in seen) == 2, 30)
        for room, count in behind.items():
            seqs = await watcher.messages_up_to(room, count)
            assert seqs == list(range(1, count + 1)), room
    return names


@pytest.mark.slow
async def test_resuming_fifty_rooms_far_behind_stays_within_the_default_budget(
    make_chat: ServerMaker, caplog: pytest.LogCaptureFixture
) -> None:
    chat: RestartableServer = await make_chat(**FAST_WRITERS)
    assert chat.running is not None
    limits = chat.running.ctx.limits
    assert limits.reads is not None and limits.reads.burst >= 2 * 50  # a join and a page per room
    caplog.set_level(logging.DEBUG, logger="chat_tui.client")
    behind = {f"room{i:03d}": p.HISTORY_MAX + 20 for i in range(10)}  # join + a page each
    await resume(chat, 50, behind)
    assert not [r for r in caplog.records if RETRIED in r.getMessage()]


@pytest.mark.slow
async def test_a_resume_over_a_small_budget_asks_again_and_misses_nothing(
    make_chat: ServerMaker, caplog: pytest.LogCaptureFixture
) -> None:
    chat: RestartableServer = await make_chat(read_burst=5, read_rate=20.0, **FAST_WRITERS)
    caplog.set_level(logging.DEBUG, logger="chat_tui.client")
    behind = {f"room{i:03d}": 3 for i in range(20)}
    await resume(chat, 20, behind)
    assert [r for r in caplog.records if RETRIED in r.getMessage()]  # it was refused, and waited


@pytest.mark.slow
async def test_a_rejoin_the_storage_fails_keeps_the_room_and_is_asked_again(
    make_chat: ServerMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by a reconnect storm into a server short of file descriptors: its answer to the
    # re-join was ``internal``, and the client dropped the room for good.
    chat: RestartableServer = await make_chat(**FAST_WRITERS)
    bob = await chat.account("bob")
    alice = chat.client(await chat.account("alice"), backoff=Backoff(base=0.2, factor=1.0, cap=0.2))
    async with alice:
        watcher = Watcher(alice)
        await alice.join("ops")
        await outage(chat, watcher)
        assert chat.running is not None
        store = chat.running.ctx.store
        real_join = store.join
        failures = [StoreError("database is locked")]

        async def join_failing_once(*args: Any, **kwargs: Any) -> Any:
            if failures:
                raise failures.pop()
            return await real_join(*args, **kwargs)

        monkeypatch.setattr(store, "join", join_failing_once)
        await watcher.until(lambda seen: sum(isinstance(e, Connected) for e in seen) == 2, 30)
        assert not failures, "the storage failed the first re-join"
        assert not [e for e in watcher.seen if isinstance(e, p.Left)]  # the room was kept
        await post(chat, bob, "ops", ["still here"])
        assert await watcher.messages_up_to("ops", 1) == [1]
