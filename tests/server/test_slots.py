"""The password-hash queue: a few slots, a bounded line served by priority (chat_server/slots.py),
and the hasher behind it (auth.Passwords), driven by tasks the test controls."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest
from argon2 import extract_parameters

from chat_server.auth import LOW_PRIORITY_NICE, Passwords, Priority
from chat_server.errors import Busy
from chat_server.slots import PriorityGate


class Holders:
    """Tasks that each take a slot, note it, and hold it until told to let go."""

    def __init__(self, gate: PriorityGate) -> None:
        self.gate = gate
        self.served: list[str] = []
        self.refused: list[str] = []
        self._go: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    async def _hold(self, name: str, priority: int) -> None:
        try:
            await self.gate.acquire(priority)
        except Busy:
            self.refused.append(name)
            return
        self.served.append(name)
        try:
            await self._go[name].wait()
        finally:
            self.gate.release()

    async def arrive(self, name: str, priority: int) -> None:
        self._go[name] = asyncio.Event()
        self.tasks[name] = asyncio.create_task(self._hold(name, priority))
        await settle()

    async def finish(self, name: str) -> None:
        self._go[name].set()
        await settle()


async def settle() -> None:
    """Let every ready task run until it waits again."""
    for _ in range(5):
        await asyncio.sleep(0)


LOGIN, SUSPECT, SIGNUP = Priority.LOGIN, Priority.SUSPECT, Priority.SIGNUP


async def test_logins_go_before_signups_whatever_came_first() -> None:
    holders = Holders(PriorityGate(slots=1, bound=10))
    await holders.arrive("signup-0", SIGNUP)  # takes the free slot
    for name, priority in [("signup-1", SIGNUP), ("signup-2", SIGNUP), ("guess", SUSPECT)]:
        await holders.arrive(name, priority)
    await holders.arrive("login", LOGIN)
    assert holders.served == ["signup-0"]
    assert holders.gate.waiting == 4
    for name in ["signup-0", "login", "guess", "signup-1"]:
        await holders.finish(name)
    assert holders.served == ["signup-0", "login", "guess", "signup-1", "signup-2"]
    await holders.finish("signup-2")
    assert (holders.gate.waiting, holders.gate.busy) == (0, 0)


async def test_a_full_line_refuses_at_once_and_makes_room_for_a_login() -> None:
    holders = Holders(PriorityGate(slots=1, bound=2))
    for n in range(3):
        await holders.arrive(f"signup-{n}", SIGNUP)  # one holds, two wait: the line is full
    await holders.arrive("signup-3", SIGNUP)
    assert holders.refused == ["signup-3"]  # at once, not queued
    await holders.arrive("login", LOGIN)
    assert holders.refused == ["signup-3", "signup-2"]  # the newest of the lowest gave way
    await holders.arrive("another-login", LOGIN)
    assert holders.refused == ["signup-3", "signup-2", "signup-1"]
    await holders.arrive("third-login", LOGIN)  # a line of logins does not give way to one
    assert holders.refused[-1] == "third-login"
    for name in ["signup-0", "login", "another-login"]:
        await holders.finish(name)
    assert holders.served == ["signup-0", "login", "another-login"]


async def test_a_zero_line_serves_only_free_slots() -> None:
    holders = Holders(PriorityGate(slots=2, bound=0))
    for name in ["a", "b", "c"]:
        await holders.arrive(name, LOGIN)
    assert (holders.served, holders.refused) == (["a", "b"], ["c"])
    for name in ["a", "b"]:
        await holders.finish(name)


async def test_the_wait_said_grows_with_the_line() -> None:
    gate = PriorityGate(slots=2, bound=10, reserved=0)  # both slots for signups here
    for _ in range(10):
        gate.observe(0.5)  # hashes have been taking about half a second
    assert gate.service_time == pytest.approx(0.5, abs=0.05)
    holders = Holders(gate)
    assert gate.retry_after() == 1.0  # never less than a second
    for n in range(2 + 10):
        await holders.arrive(f"s{n}", SIGNUP)
    assert gate.retry_after() == pytest.approx((10 / 2 + 1) * gate.service_time)
    await holders.arrive("late", SIGNUP)
    assert holders.refused == ["late"]
    for n in range(2 + 10):
        await holders.finish(f"s{n}")


async def test_a_waiter_that_leaves_gives_its_place_up() -> None:
    holders = Holders(PriorityGate(slots=1, bound=5))
    await holders.arrive("holder", LOGIN)
    await holders.arrive("gone", LOGIN)
    await holders.arrive("next", SIGNUP)
    holders.tasks["gone"].cancel()  # its client left while it waited
    await settle()
    assert holders.gate.waiting == 1
    await holders.finish("holder")
    assert holders.served == ["holder", "next"]
    await holders.finish("next")
    assert (holders.gate.waiting, holders.gate.busy) == (0, 0)


async def test_a_slot_handed_to_a_leaving_waiter_passes_on() -> None:
    gate = PriorityGate(slots=1, bound=5)
    await gate.acquire(LOGIN)
    leaving = asyncio.create_task(gate.acquire(LOGIN))
    after = asyncio.create_task(gate.acquire(SIGNUP))
    await settle()
    gate.release()  # handed to ``leaving`` ...
    leaving.cancel()  # ... which is cancelled before it runs again
    await settle()
    assert leaving.cancelled()
    assert after.done() and after.exception() is None  # the slot went on
    gate.release()
    assert (gate.waiting, gate.busy) == (0, 0)


async def test_an_unknown_nick_costs_one_verify_against_the_dummy_hash() -> None:
    passwords = Passwords(concurrency=1, queue=4)
    real = await passwords.hash("right")
    # the dummy costs what a real hash costs to verify: the same algorithm and parameters
    assert extract_parameters(passwords.dummy) == extract_parameters(real)
    assert passwords.dummy != Passwords().dummy  # its own random salt per server
    assert (passwords.hashes, passwords.verifies) == (1, 0)
    assert await passwords.verify(real, "wrong") == (False, None)
    assert await passwords.verify(None, "right") == (False, None)  # no account: no match
    assert (passwords.hashes, passwords.verifies) == (1, 2)


async def test_the_last_slot_is_kept_for_clean_logins() -> None:
    holders = Holders(PriorityGate(slots=2, bound=10))
    await holders.arrive("guess-0", SUSPECT)  # takes the first slot
    await holders.arrive("guess-1", SUSPECT)  # the other is kept: it waits
    await holders.arrive("signup", SIGNUP)
    assert holders.served == ["guess-0"]
    await holders.arrive("login", LOGIN)  # the kept slot, at once
    assert holders.served == ["guess-0", "login"]
    await holders.finish("login")  # the kept slot stays free: the waiters may not have it
    assert (holders.served, holders.gate.busy) == (["guess-0", "login"], 1)
    await holders.finish("guess-0")  # the first slot is the waiters' again, best first
    assert holders.served == ["guess-0", "login", "guess-1"]
    await holders.finish("guess-1")
    await holders.finish("signup")
    assert holders.served == ["guess-0", "login", "guess-1", "signup"]
    assert (holders.gate.waiting, holders.gate.busy) == (0, 0)


async def test_one_slot_is_anyones() -> None:
    holders = Holders(PriorityGate(slots=1, bound=10))
    await holders.arrive("signup", SIGNUP)
    assert holders.served == ["signup"]
    await holders.finish("signup")


def test_a_gate_cannot_keep_all_its_slots() -> None:
    with pytest.raises(ValueError):
        PriorityGate(slots=2, bound=1, reserved=2)


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")
async def test_suspect_logins_and_signups_hash_at_a_lower_cpu_priority() -> None:
    passwords = Passwords(concurrency=1, queue=1)

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    try:
        clean = await passwords._in_thread(Priority.LOGIN, niceness)
        for priority in (Priority.SUSPECT, Priority.SIGNUP):
            lowered = await passwords._in_thread(priority, niceness)
            assert lowered == min(19, clean + LOW_PRIORITY_NICE), priority
    finally:
        passwords.close()
