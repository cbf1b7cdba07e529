"""The limits on logins against a real server, with clients on several loopback addresses.

Guessers, signup flooders and a full password-hash queue are refused at once
(``rate_limited`` with ``retry_after``, then 1008) without a hash, while the people they
would otherwise hold up (the nick's owner, an existing user, a newcomer elsewhere) get in on
their first try. The server counts its argon2 calls (``ctx.passwords``), so a test can tell
a refusal that cost nothing from a failure that cost a hash.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import connect

from chat_server.auth import Passwords, Priority
from chat_server.config import LOGIN_FAILURES, NICK_FAILURES
from chat_server.ratelimit import Allowance
from tests.conftest import ChatServerUnderTest, ServerFactory
from tests.raw import Frame, recv

TIMEOUT = 10.0
PLENTY = Allowance(1_000_000, 1.0)

GUESSER, OWNER, NEWCOMER = "127.0.0.2", "127.0.0.3", "127.0.0.4"


@dataclass
class Reply:
    frame: Frame
    close_code: int | None  # None: still open (after a welcome)

    @property
    def code(self) -> str:
        return str(self.frame.get("code", self.frame["type"]))


async def hello(
    server: ChatServerUnderTest, source: str, nick: str, password: str, **extra: Any
) -> Reply:
    """A password hello from ``source`` (127.0.0.x): the reply, and how the server closed."""
    async with connect(server.url, local_addr=(source, 0), compression=None) as ws:
        await ws.send(json.dumps({"type": "hello", "nick": nick, "password": password, **extra}))
        frame = await recv(ws, TIMEOUT)
        if frame["type"] == "welcome":
            return Reply(frame, None)
        async with asyncio.timeout(TIMEOUT):
            await ws.wait_closed()
        return Reply(frame, ws.close_code)


async def until(condition: Callable[[], bool]) -> None:
    """Wait (polling: the server's state has no event to wait on) until ``condition``."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def passwords(server: ChatServerUnderTest) -> Passwords:
    return server.running.ctx.passwords


def assert_rate_limited(reply: Reply, message: str) -> float:
    """The refusal a rate-limited hello gets; returns its retry_after."""
    assert reply.code == "rate_limited", reply.frame
    assert reply.frame["message"] == message
    assert reply.close_code == 1008
    retry_after = reply.frame["retry_after"]
    assert isinstance(retry_after, float) and retry_after > 0
    return retry_after


async def test_a_rate_limited_hello_is_answered_at_once_then_closed(
    make_server: ServerFactory,
) -> None:
    server = await make_server(login_failures=Allowance(2, 60.0), signup="closed")
    count = passwords(server)
    for _ in range(2):
        reply = await hello(server, GUESSER, "nobody", "guess")
        assert (reply.code, reply.close_code) == ("auth_failed", 1008)
    verifies = count.verifies
    reply = await hello(server, GUESSER, "nobody", "guess", ref="h1")
    retry_after = reply.frame.pop("retry_after")
    assert reply.frame == {
        "type": "error",
        "code": "rate_limited",
        "message": "too many attempts",
        "ref": "h1",
    }
    # one failure is forgiven every 30 s (2 per 60 s): less than that to wait
    assert 20.0 < retry_after <= 30.0
    assert reply.close_code == 1008
    assert count.verifies == verifies  # refused without a hash
    # another address is not concerned
    reply = await hello(server, OWNER, "nobody", "guess")
    assert (reply.code, reply.close_code) == ("auth_failed", 1008)


async def test_an_unknown_nick_costs_a_verify_like_a_wrong_password(
    make_server: ServerFactory,
) -> None:
    """On a closed server an unknown nick is checked against a dummy hash: one argon2
    verify, as for a real nick, so its answer takes as long (no nick enumeration)."""
    server = await make_server(signup="closed")
    await server.running.store.create_user("member", await Passwords().hash("right-pw"))
    count = passwords(server)
    before = count.verifies
    unknown = await hello(server, GUESSER, "nobody-here", "guess")
    assert count.verifies == before + 1
    wrong = await hello(server, GUESSER, "member", "guess")
    assert count.verifies == before + 2
    assert (
        unknown.frame
        == wrong.frame
        == {
            "type": "error",
            "code": "auth_failed",
            "message": "wrong nick or password",
            "ref": None,
        }
    )
    assert unknown.close_code == wrong.close_code == 1008


async def test_a_full_hash_queue_answers_busy_at_once(make_server: ServerFactory) -> None:
    server = await make_server(hash_concurrency=1, hash_queue=0)
    gate = passwords(server).gate
    await gate.acquire(Priority.LOGIN)  # the one slot is taken, and there is no line
    try:
        reply = await hello(server, NEWCOMER, "newcomer", "pw")
        retry_after = assert_rate_limited(reply, "the server is busy")
        assert retry_after >= 1.0
    finally:
        gate.release()
    reply = await hello(server, NEWCOMER, "newcomer", "pw")  # being busy was no failure
    assert reply.frame["type"] == "welcome" and reply.frame["created"] is True


@pytest.mark.slow
async def test_guessing_a_nick_does_not_lock_its_owner_out(make_server: ServerFactory) -> None:
    """Six connections from one address loop wrong passwords for alice (at most 100 tries
    or 30 s); meanwhile alice logs in from another address, with the default limits."""
    server = await make_server(login_failures=LOGIN_FAILURES, nick_failures=NICK_FAILURES)
    async with server.login("alice", "alice-pw"):
        pass
    count = passwords(server)
    verifies = count.verifies
    replies: list[Reply] = []
    tries = 0
    # five password hashes one after another (one at a time per address): seconds on a
    # loaded machine; the guesses refused without a hash are answered at once
    deadline = time.monotonic() + 30.0
    nick_closed = asyncio.Event()

    async def guesser() -> None:
        nonlocal tries
        while tries < 100 and time.monotonic() < deadline:
            tries += 1
            replies.append(await hello(server, GUESSER, "alice", f"guess-{tries}"))
            if sum(r.code == "auth_failed" for r in replies) >= NICK_FAILURES.count:
                nick_closed.set()

    attack = [asyncio.create_task(guesser()) for _ in range(6)]
    async with asyncio.timeout(30.0):
        await nick_closed.wait()  # alice's nick is closed to guessers by now
    owner = await hello(server, OWNER, "alice", "alice-pw")
    await asyncio.gather(*attack)

    assert owner.frame["type"] == "welcome", owner.frame  # on her first try
    assert owner.frame["nick"] == "alice" and owner.frame["created"] is False
    assert tries == 100, "the guesses were not answered at once"
    failed = [r for r in replies if r.code == "auth_failed"]
    refused = [r for r in replies if r.code == "rate_limited"]
    # the nick closes to the guesser after its allowance (before the address's runs out)
    assert len(failed) == NICK_FAILURES.count
    assert len(refused) == 100 - NICK_FAILURES.count
    waits = [assert_rate_limited(reply, "too many attempts") for reply in refused]
    assert min(waits) >= 1.0  # 1 s while the address's first guesses were in flight
    # how long a closed nick stays closed (till it forgives a failure) is the pure rule's, in
    # tests/server/test_attempts.py: here six guessers race, and which refusals come while
    # their attempts are still in flight (1 s) depends on the machine's load
    assert all(r.close_code == 1008 for r in failed)
    assert count.verifies - verifies == NICK_FAILURES.count + 1  # the guesses allowed, alice


@pytest.mark.slow
async def test_a_signup_flood_is_refused_while_others_get_in(make_server: ServerFactory) -> None:
    """One address asks for 20 accounts, 5 at a time; meanwhile an existing user logs in
    from another address and a newcomer signs up from a third."""
    server = await make_server(
        signup_rate=Allowance(3, 3600.0),
        login_failures=LOGIN_FAILURES,
        nick_failures=NICK_FAILURES,
    )
    async with server.login("bob", "bob-pw"):  # from 127.0.0.1
        pass
    count = passwords(server)
    hashes = count.hashes
    flood: list[Reply] = []
    started = asyncio.Event()

    async def flooder(lane: int) -> None:
        for n in range(4):
            flood.append(await hello(server, GUESSER, f"bot{lane}x{n}", "pw"))
            started.set()

    attack = [asyncio.create_task(flooder(lane)) for lane in range(5)]
    async with asyncio.timeout(TIMEOUT):
        await started.wait()
    bob, newcomer = await asyncio.gather(
        hello(server, OWNER, "bob", "bob-pw"), hello(server, NEWCOMER, "newcomer", "pw")
    )
    await asyncio.gather(*attack)

    assert bob.frame["type"] == "welcome" and bob.frame["created"] is False, bob.frame
    assert newcomer.frame["type"] == "welcome" and newcomer.frame["created"] is True
    created = [r for r in flood if r.frame["type"] == "welcome"]
    refused = [r for r in flood if r.code == "rate_limited"]
    assert (len(created), len(refused)) == (3, 17)
    for reply in refused:  # one of 3 comes back every 20 minutes
        assert 0 < assert_rate_limited(reply, "too many new accounts from this address") <= 1200
    assert count.hashes - hashes == 3 + 1  # the flooder's 3 and the newcomer's: no more


@pytest.mark.slow
async def test_a_login_goes_before_queued_signups(make_server: ServerFactory) -> None:
    """With the one hashing slot taken and a line of 8 full of signups, an existing user's
    login takes the newest signup's place (told the server is busy) and is served first."""
    server = await make_server(hash_concurrency=1, hash_queue=8, signup_rate=PLENTY)
    async with server.login("carol", "carol-pw"):
        pass
    gate = passwords(server).gate
    finished: list[str] = []
    replies: dict[str, Reply] = {}

    async def log_in(name: str, source: str, nick: str, password: str) -> None:
        replies[name] = await hello(server, source, nick, password)
        finished.append(name)

    await gate.acquire(Priority.LOGIN)  # the test holds the slot: everyone waits in line
    try:
        signups = [
            asyncio.create_task(log_in(f"signup{n}", f"127.0.1.{n + 1}", f"new{n}", "pw"))
            for n in range(8)
        ]
        await until(lambda: gate.waiting == 8)
        carol = asyncio.create_task(log_in("carol", OWNER, "carol", "carol-pw"))
        await until(lambda: bool(finished))  # the signup that gave carol its place
    finally:
        gate.release()
    await asyncio.gather(carol, *signups)

    evicted, *welcomed = finished
    assert_rate_limited(replies[evicted], "the server is busy")
    assert evicted == "signup7"  # the newest of the lowest priority
    assert welcomed[0] == "carol", welcomed
    assert replies["carol"].frame["type"] == "welcome", replies["carol"].frame
    assert all(replies[name].frame["type"] == "welcome" for name in welcomed)
    assert len(welcomed) == 8
