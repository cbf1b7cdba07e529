"""Group commit's linger: under heavy load a batch waits to fill, a quiet write goes at once.

The committer is the real one; its backend here only records the batches it is handed, so
the tests can see how writes were grouped. The linger is set far longer than any test
runs: a write that completes did so because the batch filled or the writer stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from chat_server.store.writer import GroupCommitter

LONG = 600.0  # seconds: a linger no test waits out


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    async def apply(self, ops: Sequence[Any], written: Callable[[], None]) -> list[Any]:
        self.batches.append(list(ops))
        return [f"done {op}" for op in ops]


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def committer(recorder: Recorder) -> AsyncIterator[GroupCommitter]:
    committer = GroupCommitter(recorder.apply, batch_max=8, linger=LONG, linger_after=4)
    committer.start()
    yield committer
    await committer.stop()


async def test_a_write_to_a_quiet_server_is_committed_at_once(
    committer: GroupCommitter, recorder: Recorder
) -> None:
    assert await asyncio.wait_for(committer.submit("a"), 10) == "done a"
    assert await asyncio.wait_for(committer.submit("b"), 10) == "done b"
    assert recorder.batches == [["a"], ["b"]]


async def test_after_a_big_batch_the_next_waits_until_it_is_full(
    committer: GroupCommitter, recorder: Recorder
) -> None:
    burst = [committer.submit(i) for i in range(5)]
    assert await asyncio.wait_for(asyncio.gather(*burst), 10) == [f"done {i}" for i in range(5)]
    following = [committer.submit(i) for i in range(5, 8)]
    await asyncio.sleep(0.05)
    assert not any(future.done() for future in following)  # lingering for company
    rest = [committer.submit(i) for i in range(8, 13)]  # the 8th pending write fills it
    done = await asyncio.wait_for(asyncio.gather(*following, *rest), 10)
    assert done == [f"done {i}" for i in range(5, 13)]
    assert recorder.batches == [list(range(5)), list(range(5, 13))]


async def test_stopping_ends_a_linger_and_commits_what_waits(
    committer: GroupCommitter, recorder: Recorder
) -> None:
    await asyncio.wait_for(asyncio.gather(*[committer.submit(i) for i in range(4)]), 10)
    last = committer.submit("last")
    await asyncio.sleep(0.05)
    assert not last.done()
    await asyncio.wait_for(committer.stop(), 10)
    assert last.result() == "done last"
    assert recorder.batches[-1] == ["last"]


class Gated:
    """A backend whose batches finish when the test opens their gates, in any order. A
    batch's writes are done at once (``written``) unless it holds "slow"."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.gates: list[asyncio.Event] = []
        self.resolved: list[Any] = []
        self.arrived = asyncio.Condition()

    async def until_batches(self, count: int) -> None:
        async with asyncio.timeout(10), self.arrived:
            await self.arrived.wait_for(lambda: len(self.batches) >= count)

    async def apply(self, ops: Sequence[Any], written: Callable[[], None]) -> list[Any]:
        gate = asyncio.Event()
        self.batches.append(list(ops))
        self.gates.append(gate)
        async with self.arrived:
            self.arrived.notify_all()
        if "slow" not in ops:
            written()
        await gate.wait()
        if "boom" in ops:
            raise RuntimeError("the database went away")
        return [f"done {op}" for op in ops]

    def note(self, future: asyncio.Future[Any]) -> None:
        self.resolved.append(future.result() if future.exception() is None else "failed")


@pytest.fixture
async def gated() -> Gated:
    return Gated()


@pytest.fixture
async def pipelined(gated: Gated) -> AsyncIterator[GroupCommitter]:
    """A committer with two batches in flight on the gated backend."""
    committer = GroupCommitter(gated.apply, batch_max=8, linger=LONG, linger_after=64, depth=2)
    committer.start()
    yield committer
    for gate in gated.gates:
        gate.set()
    await committer.stop()


async def test_two_batches_in_flight_resolve_in_the_order_they_were_taken(
    gated: Gated, pipelined: GroupCommitter
) -> None:
    first = pipelined.submit("a")
    await gated.until_batches(1)
    second = [pipelined.submit("b"), pipelined.submit("c")]
    # the second batch goes to the database while the first is still there
    await gated.until_batches(2)
    third = pipelined.submit("d")
    await asyncio.sleep(0.05)
    assert len(gated.batches) == 2  # two in flight at most: "d" waits
    for future in (first, *second, third):
        future.add_done_callback(gated.note)
    gated.gates[1].set()  # the second batch finishes first...
    await asyncio.sleep(0.05)
    assert gated.resolved == []  # ...but nobody hears of it before the first's writes
    gated.gates[0].set()
    await gated.until_batches(3)
    gated.gates[2].set()
    await asyncio.wait_for(third, 10)
    assert gated.resolved == ["done a", "done b", "done c", "done d"]
    assert gated.batches == [["a"], ["b", "c"], ["d"]]


async def test_a_failed_batch_in_flight_fails_its_own_writes_only(
    gated: Gated, pipelined: GroupCommitter
) -> None:
    doomed = pipelined.submit("boom")
    await gated.until_batches(1)
    fine = pipelined.submit("e")
    await gated.until_batches(2)
    for gate in gated.gates:
        gate.set()
    assert await asyncio.wait_for(fine, 10) == "done e"
    with pytest.raises(Exception, match="the database went away"):
        await doomed
    # the writer goes on: a later write is committed
    later = pipelined.submit("f")
    await gated.until_batches(3)
    gated.gates[2].set()
    assert await asyncio.wait_for(later, 10) == "done f"


async def test_the_next_batch_waits_until_the_one_before_has_written(
    gated: Gated, pipelined: GroupCommitter
) -> None:
    """Until a batch's statements are done it may not hold its rooms' locks yet: a batch
    sent beside it could take a room's next seqs first."""
    first = pipelined.submit("slow")
    await gated.until_batches(1)
    second = pipelined.submit("g")
    await asyncio.sleep(0.05)
    assert gated.batches == [["slow"]]  # "g" waits though a slot is free
    gated.gates[0].set()
    await gated.until_batches(2)
    gated.gates[1].set()
    assert await asyncio.wait_for(first, 10) == "done slow"
    assert await asyncio.wait_for(second, 10) == "done g"
