"""Cutting a reply to a byte budget (pure)."""

from __future__ import annotations

import pytest

from chat_server import protocol as p
from chat_server.replies import fit_members, fit_page, fit_results


def page(count: int, *, more: bool = False, size: int = 100) -> p.HistoryPage:
    messages = [
        p.MessageRecord("general", seq, "alice", "語" * size, "2026-12-02T12:00:00.000Z", f"k{seq}")
        for seq in range(1, count + 1)
    ]
    return p.HistoryPage(room="general", messages=messages, more=more, ref="r1")


def decoded(data: bytes | None) -> p.HistoryPage:
    assert data is not None
    frame = p.decode_server_frame(data)
    assert isinstance(frame, p.HistoryPage)
    return frame


def test_a_page_that_fits_is_sent_whole_and_unchanged() -> None:
    whole = page(10)
    assert fit_page(whole, 1 << 20, keep_newest=True) == p.encode(whole)


@pytest.mark.parametrize("budget", [2_000, 5_000, 20_000, 79_000])
def test_a_cut_page_fits_says_more_and_keeps_the_end_asked_from(budget: int) -> None:
    whole = page(200)
    newest = fit_page(whole, budget, keep_newest=True)
    oldest = fit_page(whole, budget, keep_newest=False)
    for data in (newest, oldest):
        assert data is not None and len(data) <= budget
    back, forward = decoded(newest), decoded(oldest)
    assert back.more and forward.more
    # paging back keeps the newest (the next page goes before the first); forward the oldest
    assert back.messages[-1].seq == 200
    assert forward.messages[0].seq == 1
    seqs = [m.seq for m in back.messages]
    assert seqs == list(range(201 - len(seqs), 201))
    # and as much as fits: one more message would not
    bigger = page(len(seqs) + 1, more=True)
    assert len(p.encode(bigger)) > budget


def test_nothing_fits_says_so() -> None:
    assert fit_page(page(5, size=2000), 1000, keep_newest=True) is None


def test_search_results_keep_the_newest_hits() -> None:
    hits = [
        p.SearchHit("general", seq, "alice", "x" * 500, "2026-12-02T12:00:00.000Z")
        for seq in range(100, 0, -1)
    ]
    data = fit_results(p.Results(messages=hits, ref="s"), 10_000)
    assert data is not None and len(data) <= 10_000
    frame = p.decode_server_frame(data)
    assert isinstance(frame, p.Results)
    assert [h.seq for h in frame.messages] == list(range(100, 100 - len(frame.messages), -1))
    assert fit_results(p.Results(messages=hits, ref="s"), 100) is None


@pytest.mark.parametrize("budget", [200, 1_000, 5_000])
def test_a_page_of_members_keeps_the_first_nicks_that_fit(budget: int) -> None:
    nicks = [f"member{n:03}-" + "x" * 20 for n in range(500)]
    whole = p.MemberPage(room="big", members=nicks, online=nicks[::2], more=False, ref="m")
    assert fit_members(whole, 1 << 20) == p.encode(whole)
    data = fit_members(whole, budget)
    assert data is not None and len(data) <= budget
    cut = p.decode_server_frame(data)
    assert isinstance(cut, p.MemberPage) and cut.more and cut.ref == "m"
    kept = len(cut.members)
    assert cut.members == nicks[:kept] and cut.online == nicks[:kept:2]
    # as many as fit: one more would not
    one_more = nicks[: kept + 1]
    bigger = p.MemberPage(room="big", members=one_more, online=one_more[::2], more=True, ref="m")
    assert len(p.encode(bigger)) > budget
    assert fit_members(whole, 60) is None  # not even one
