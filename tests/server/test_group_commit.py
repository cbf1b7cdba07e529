"""Group commit's linger: under heavy load a batch waits to fill, a quiet write goes at once.

The committer is the real one; its backend here only records the batches it is handed, so
the tests can see how writes were grouped. The linger is set far longer than any test
runs: a write that completes did so because the batch filled or the writer stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from chat_server.store.writer import GroupCommitter

LONG = 600.0  # seconds: a linger no test waits out


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    async def apply(self, ops: Sequence[Any]) -> list[Any]:
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
