"""The web client's ordering module (ordering.js) in Chromium, fed seqs as chat_tui's Sequencer is.

The page comes from the real server, so the module is the file the page itself imports, under the
page's CSP; each test imports it in the page and drives one Sequencer per script of steps: offer a
seq (in order, ahead of a gap, again, out of order) or advance. Scripts of offers also go through
the Python client's Sequencer, which the web client must agree with.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from chat_tui.client.sequencing import Sequencer
from tests.browser.conftest import Pages

pytestmark = pytest.mark.slow  # a browser and a server subprocess

Script = list[tuple[str, int]]  # ("offer", seq) or ("advance", seq)

# Runs scripts, each on a fresh Sequencer(last); after every step: what went out and the state.
RUN = """async (scripts) => {
  const { Sequencer } = await import("/ordering.js");
  return scripts.map(({ last, steps }) => {
    const room = new Sequencer(last);
    return steps.map(([op, seq]) => {
      const out = op === "offer" ? room.offer({ seq, body: `m${seq}` }) : room.advance(seq);
      const state = { last: room.last, gap: room.gap, highest: room.highest };
      return { out: out.map((m) => m.seq), bodies: out.map((m) => m.body), ...state };
    });
  });
}"""


@dataclass(frozen=True)
class Step:
    out: list[int]
    last: int | None
    gap: bool
    highest: int | None


@dataclass(frozen=True)
class Item:
    seq: int


@pytest.fixture
def page(pages: Pages) -> Iterator[Page]:
    """The chat's page, loaded from the real server (its modules ran: the login form shows)."""
    opened = pages.open()
    expect(opened.locator("#login-screen")).to_be_visible()
    yield opened


def run_many(page: Page, scripts: list[tuple[int | None, Script]]) -> list[list[Step]]:
    arg = [{"last": last, "steps": [list(step) for step in steps]} for last, steps in scripts]
    results: list[list[dict[str, Any]]] = page.evaluate(RUN, arg)
    runs = []
    for steps in results:
        for step in steps:  # the messages themselves come out, not copies or seqs
            assert step["bodies"] == [f"m{seq}" for seq in step["out"]]
        runs.append([Step(s["out"], s["last"], s["gap"], s["highest"]) for s in steps])
    return runs


def run(page: Page, last: int | None, steps: Script) -> list[Step]:
    return run_many(page, [(last, steps)])[0]


def offers(*seqs: int) -> Script:
    return [("offer", seq) for seq in seqs]


def test_in_order_messages_go_out_at_once(page: Page) -> None:
    assert run(page, 0, offers(1, 2, 3)) == [
        Step([1], 1, False, 1),
        Step([2], 2, False, 2),
        Step([3], 3, False, 3),
    ]


def test_duplicates_are_dropped(page: Page) -> None:
    assert run(page, 5, offers(5, 3, 6, 6, 1)) == [
        Step([], 5, False, 5),  # seq <= last: dropped, not held (no gap to fetch)
        Step([], 5, False, 5),
        Step([6], 6, False, 6),
        Step([], 6, False, 6),
        Step([], 6, False, 6),
    ]


def test_a_gap_holds_later_messages_until_it_is_filled(page: Page) -> None:
    assert run(page, 1, offers(4, 3, 4, 2)) == [
        Step([], 1, True, 4),  # seq > last + 1: held, and the client fetches history after=1
        Step([], 1, True, 4),
        Step([], 1, True, 4),  # a duplicate of a held one
        Step([2, 3, 4], 4, False, 4),  # the gap filled: everything held goes out, in order
    ]


def test_any_arrival_order_is_delivered_once_and_in_order(page: Page) -> None:
    """Shuffled arrivals with repeats: 1, 2, 3, ... go out once each; the gap fill completes it."""
    rng = random.Random(20240611)
    scripts: list[tuple[int | None, Script]] = []
    for _ in range(60):
        arrivals = [rng.randint(1, 40) for _ in range(rng.randint(0, 80))]
        scripts.append((0, offers(*arrivals, *range(1, 41))))  # the arrivals, then the gap fill
    for (_, steps), result in zip(scripts, run_many(page, scripts), strict=True):
        delivered = [seq for step in result for seq in step.out]
        assert delivered == list(range(1, 41))
        arrived = len(steps) - 40
        before_fill = [seq for step in result[:arrived] for seq in step.out]
        assert before_fill == list(range(1, len(before_fill) + 1))  # never a hole, never twice
        assert result[-1].last == 40 and not result[-1].gap


def test_it_agrees_with_the_python_client_step_by_step(page: Page) -> None:
    rng = random.Random(7)
    starts = [rng.randint(0, 5) for _ in range(60)]
    arrivals = [[rng.randint(1, 25) for _ in range(rng.randint(1, 40))] for _ in starts]
    scripts: list[tuple[int | None, Script]] = [
        (last, offers(*seqs)) for last, seqs in zip(starts, arrivals, strict=True)
    ]
    for last, seqs, result in zip(starts, arrivals, run_many(page, scripts), strict=True):
        room: Sequencer[Item] = Sequencer(last)
        expected = []
        for seq in seqs:
            out = room.offer(Item(seq))
            expected.append(Step([i.seq for i in out], room.last, room.gap, room.highest))
        assert result == expected


def test_advance_never_moves_back_and_drops_held_duplicates(page: Page) -> None:
    steps: Script = [("offer", 5), ("advance", 2), ("advance", 6), ("offer", 5), ("offer", 7)]
    assert run(page, 3, steps) == [
        Step([], 3, True, 5),
        Step([], 3, True, 5),
        Step([], 6, False, 6),
        Step([], 6, False, 6),
        Step([7], 7, False, 7),
    ]


def test_advance_delivers_the_held_messages_it_unblocks(page: Page) -> None:
    steps: Script = [*offers(5, 6, 8), ("advance", 4)]
    assert run(page, 2, steps)[-1] == Step([5, 6], 6, True, 8)


def test_before_its_first_page_a_room_holds_everything(page: Page) -> None:
    """last is null until the join's history says where the room starts (advance)."""
    assert run(page, None, [*offers(7, 8, 7), ("advance", 6)]) == [
        Step([], None, True, 7),
        Step([], None, True, 8),
        Step([], None, True, 8),
        Step([7, 8], 8, False, 8),
    ]
    assert run(page, None, [("offer", 3), ("advance", 5), ("offer", 6)]) == [
        Step([], None, True, 3),
        Step([], 5, False, 5),  # the page already covers it: dropped
        Step([6], 6, False, 6),
    ]
    assert run(page, None, []) == []
    assert run(page, None, [("advance", 0)]) == [Step([], 0, False, 0)]
