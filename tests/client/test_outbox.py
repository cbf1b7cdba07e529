"""The outbox while the writer paces: a send settled during the pause must not stop later ones."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chat_server import protocol as p
from chat_tui.client.outbox import Outbox
from tests.client.conftest import RestartableServer

TIMEOUT = 10.0
RATE = 2.0  # sends a second; the writer pauses 1 / RATE seconds when the bucket is empty


@pytest.mark.slow
async def test_a_send_given_up_during_the_rate_pause_does_not_stall_later_sends(
    make_chat: Any,
) -> None:
    # Two sends a second, no burst beyond one: the second send waits out the writer's pause.
    chat: RestartableServer = await make_chat(rate_per_second=RATE, rate_burst=1)
    async with chat.client(await chat.account("alice")) as alice:
        await alice.join("general")
        first = await asyncio.wait_for(alice.send("first", room="general", id="a1"), TIMEOUT)
        assert first.seq == 1
        # The bucket is empty now: "second" is the only send queued and the writer pauses for it.
        second = asyncio.create_task(alice.send("second", room="general", id="a2"))
        for _ in range(10):  # let the send queue up and the writer reach its pause
            await asyncio.sleep(0)
        assert alice.queued == 1
        second.cancel()  # the user gives up on it while the writer is still pausing
        await asyncio.gather(second, return_exceptions=True)
        assert alice.queued == 0
        # The user types nothing until the pause is over, so the writer finds the queue empty.
        await asyncio.sleep(3 / RATE)
        # Later sends still go out, in order, each acked once.
        third = await asyncio.wait_for(alice.send("third", room="general", id="a3"), TIMEOUT)
        fourth = await asyncio.wait_for(alice.send("fourth", room="general", id="a4"), TIMEOUT)
        assert (third.seq, fourth.seq) == (2, 3)
        page = await alice.history("general")
        assert [m.body for m in page.messages] == ["first", "third", "fourth"]
        assert alice.queued == 0


async def test_take_from_an_emptied_queue_is_none_and_order_is_kept() -> None:
    outbox = Outbox()
    dropped = outbox.add("k1", p.Send(body="dropped", id="k1", room="general"))
    outbox.drop("k1")
    assert outbox.take() is None  # nothing left to write: not an error
    assert not dropped.done()  # only dropping, no settling: the caller already gave up
    outbox.add("k2", p.Send(body="two", id="k2", room="general"))
    outbox.add("k3", p.Send(body="three", id="k3", room="general"))
    await asyncio.wait_for(outbox.wait(), TIMEOUT)
    taken = [outbox.take(), outbox.take(), outbox.take()]
    assert [e.frame.id if e else None for e in taken] == ["k2", "k3", None]
    outbox.rewind()  # unacked sends go out again, same ids, same order
    assert [e.frame.id if e else None for e in (outbox.take(), outbox.take())] == [
        "k2",
        "k3",
    ]
