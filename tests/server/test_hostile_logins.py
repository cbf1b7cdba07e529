"""Password hellos from one address cannot take the server's cores: one is checked at a time
(``--hashes-per-address``), and an address that keeps coming back before the wait it was
told is over has its sockets closed at accept (``--max-early-returns``), while people on
other addresses log in as usual."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage

from chat_server.auth import Priority
from chat_server.ratelimit import Allowance
from tests.conftest import ServerFactory
from tests.server.test_login_limits import (
    GUESSER,
    OWNER,
    TIMEOUT,
    assert_rate_limited,
    hello,
    passwords,
)


async def test_one_address_has_one_password_check_at_a_time(make_server: ServerFactory) -> None:
    server = await make_server(hashes_per_address=1, hash_concurrency=1)
    gate = passwords(server).gate
    await gate.acquire(Priority.LOGIN)  # hold the one slot: the first hello waits its turn
    try:
        first = asyncio.create_task(hello(server, GUESSER, "first", "pw-1"))
        async with asyncio.timeout(TIMEOUT):
            while gate.waiting == 0:  # noqa: ASYNC110 (the gate has no event to wait on)
                await asyncio.sleep(0.01)
        second = await hello(server, GUESSER, "second", "pw-2")  # at once, no hash
        assert assert_rate_limited(second, "too many attempts") == 1.0
        elsewhere = asyncio.create_task(hello(server, OWNER, "third", "pw-3"))
        async with asyncio.timeout(TIMEOUT):
            while gate.waiting < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # another address is let in line
    finally:
        gate.release()
    replies = await asyncio.gather(first, elsewhere)
    assert [r.frame["type"] for r in replies] == ["welcome", "welcome"]
    assert [r.frame["nick"] for r in replies] == ["first", "third"]


async def test_a_guesser_that_ignores_retry_after_is_shut_out_while_the_owner_gets_in(
    make_server: ServerFactory,
) -> None:
    server = await make_server(
        login_failures=Allowance(2, 60.0), nick_failures=Allowance(2, 60.0), max_early_returns=3
    )
    async with server.login("alice", "alice-pw"):
        pass
    count = passwords(server)
    for n in range(2):
        assert (await hello(server, GUESSER, "alice", f"guess-{n}")).code == "auth_failed"
    verifies = count.verifies
    # told to wait, and back at once: three early returns are heard (and refused again)
    for n in range(1 + 3):
        reply = await hello(server, GUESSER, "alice", f"again-{n}")
        assert assert_rate_limited(reply, "too many attempts") > 20.0
    # the fourth is closed at accept, before the websocket handshake
    with pytest.raises(InvalidMessage):
        async with asyncio.timeout(TIMEOUT):
            await hello(server, GUESSER, "alice", "again-4")
    assert server.running.ctx.doorman.shut >= 1
    # the owner, elsewhere, on her first try; the guesser cost no hash since its limit
    owner = await hello(server, OWNER, "alice", "alice-pw")
    assert owner.frame["type"] == "welcome", owner.frame
    assert count.verifies == verifies + 1
    # a token hello from the shut address is closed too: that address was told to wait
    async with asyncio.timeout(TIMEOUT):
        with pytest.raises(InvalidMessage):
            async with connect(server.url, local_addr=(GUESSER, 0)):
                pass
