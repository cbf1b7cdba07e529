"""The pure timeline model: order, day lines, the divider, notices and pending sends."""

from __future__ import annotations

import time

import pytest

from chat_server.protocol import MessageRecord
from chat_tui.tui.render import parse_ts
from chat_tui.tui.timeline import DayItem, DividerItem, Notice, PendingSend, Timeline


def msg(seq: int, nick: str = "bob", ts: str = "2026-11-26T09:00:00.000Z") -> MessageRecord:
    return MessageRecord("general", seq, nick, f"body {seq}", ts, f"id{seq}")


def kinds(timeline: Timeline) -> list[str]:
    shown = []
    for _, payload in timeline.items():
        match payload:
            case DayItem():
                shown.append(f"day {payload.day.isoformat()}")
            case DividerItem():
                shown.append("divider")
            case MessageRecord():
                shown.append(str(payload.seq))
            case Notice():
                shown.append(f"notice {payload.text}")
            case PendingSend():
                shown.append(f"{payload.state} {payload.body}")
    return shown


def test_day_lines_follow_the_local_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    timeline = Timeline("general", "alice")
    timeline.add(msg(1, ts="2026-11-26T23:30:00.000Z"))
    timeline.add(msg(2, ts="2026-11-27T00:30:00.000Z"))
    assert kinds(timeline) == ["day 2026-11-26", "1", "day 2026-11-27", "2"]
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    assert parse_ts("2026-11-26T23:30:00.000Z").strftime("%H:%M") == "08:30"
    assert kinds(timeline) == ["day 2026-11-27", "1", "2"], "both are on the 27th in Tokyo"


def test_divider_sits_after_the_read_marker_when_others_wrote() -> None:
    timeline = Timeline("general", "alice", read_seq=2)
    for seq, nick in [(1, "bob"), (2, "alice"), (3, "bob"), (4, "carol")]:
        timeline.add(msg(seq, nick))
    timeline.open_divider()
    assert kinds(timeline)[1:] == ["1", "2", "divider", "3", "4"]
    timeline.read_seq = 4
    timeline.open_divider()
    assert "divider" not in kinds(timeline)


def test_out_of_order_duplicates_and_older_pages() -> None:
    timeline = Timeline("general", "alice")
    assert timeline.add(msg(5)) == "appended"
    assert timeline.add(msg(5)) == "duplicate"
    assert timeline.add(msg(7)) == "appended"
    assert timeline.add(msg(6)) == "inserted"
    assert timeline.prepend([msg(3), msg(4), msg(5)], more=True) == 2
    assert [m.seq for m in timeline.messages] == [3, 4, 5, 6, 7]
    assert timeline.more_before
    assert timeline.prepend([], more=False) == 0
    assert not timeline.more_before


def test_notices_keep_their_place_behind_a_send_in_flight() -> None:
    timeline = Timeline("general", "alice")
    timeline.add(msg(1))
    timeline.add_pending("p1", "my message")
    timeline.add_notice("after my message")
    tail = [type(entry).__name__ for _, entry in timeline.pending_items()]
    assert tail == ["PendingSend", "Notice"], "the notice waits below the pending message"
    timeline.add(msg(2))  # someone else: the send is still in flight
    assert [type(e).__name__ for _, e in timeline.pending_items()] == ["PendingSend", "Notice"]
    timeline.add(MessageRecord("general", 3, "alice", "my message", msg(3).ts, "p1"))
    assert list(timeline.pending_items()) == []
    assert kinds(timeline)[1:] == ["1", "2", "3", "notice after my message"]


def test_failed_sends_stay_visible_and_do_not_hold_notices() -> None:
    timeline = Timeline("general", "alice")
    timeline.add_pending("p1", "x" * 10)
    timeline.mark_failed("p1", "too_large: the message body is over 4000 characters")
    timeline.add_notice("next")
    assert list(timeline.pending_items()) == []
    assert kinds(timeline) == [f"failed {'x' * 10}", "notice next"]


def test_a_refused_message_stays_where_it_was_typed_under_newer_ones() -> None:
    timeline = Timeline("general", "alice")
    timeline.add(msg(1))
    timeline.add_pending("p1", "refused one")
    timeline.add_pending("p2", "accepted one")
    timeline.mark_failed("p1", "forbidden: you were removed from #general")
    timeline.add(msg(2))
    timeline.add(MessageRecord("general", 3, "alice", "accepted one", msg(3).ts, "p2"))
    timeline.add(msg(4))
    assert list(timeline.pending_items()) == []  # nothing pinned below the newest
    assert kinds(timeline)[1:] == ["1", "failed refused one", "2", "3", "4"]


# --- protocol 2: messages that change ---------------------------------------------------------


def test_a_change_marks_its_message_and_the_replies_quoting_it_dirty() -> None:
    from chat_server import protocol as p

    timeline = Timeline("general", "alice")
    timeline.add(msg(1))
    reply = MessageRecord(
        "general", 2, "carol", "yes", "2026-11-26T09:01:00.000Z", "id2", reply_to=1, thread=1
    )
    timeline.add(reply)
    timeline.add(msg(3))
    assert timeline.message(1) is not None and timeline.message(1).replies == 1  # type: ignore[union-attr]
    timeline.dirty.clear()
    timeline.apply(
        p.EditEvent(
            room="general",
            seq=4,
            nick="bob",
            ts="2026-11-26T09:02:00.000Z",
            id="e",
            target=1,
            body="fixed",
        )
    )
    assert timeline.dirty == {1, 2}, "the message and the reply that quotes it, nothing else"
    assert timeline.messages[0].body == "fixed" and timeline.messages[0].edited
    timeline.dirty.clear()
    timeline.apply(
        p.DeleteEvent(
            room="general", seq=5, nick="bob", ts="2026-11-26T09:03:00.000Z", id="d", target=1
        )
    )
    assert timeline.messages[0].deleted and timeline.messages[0].body == ""
    assert timeline.last_mine() is None
    assert [m.seq for m in timeline.messages] == [1, 2, 3], "a change entry is not a line"


def test_an_older_page_with_change_entries_shows_messages_as_they_are_now() -> None:
    timeline = Timeline("general", "alice")
    timeline.add(msg(10))
    edited = MessageRecord(
        "general",
        3,
        "bob",
        "new",
        "2026-11-26T09:00:00.000Z",
        "id3",
        edited="2026-11-26T09:05:00.000Z",
        version=5,
    )
    entry = MessageRecord(
        "general", 5, "bob", "new", "2026-11-26T09:05:00.000Z", "e5", kind="edit", target=3
    )
    assert timeline.prepend([edited, msg(4), entry], more=False) == 2
    assert [(m.seq, m.body) for m in timeline.messages] == [
        (3, "new"),
        (4, "body 4"),
        (10, "body 10"),
    ]


def test_a_quote_target_fetched_apart_is_not_a_line_of_history() -> None:
    timeline = Timeline("general", "alice")
    reply = MessageRecord(
        "general", 50, "carol", "yes", "2026-11-26T09:01:00.000Z", "id50", reply_to=7, thread=7
    )
    timeline.add(reply)
    assert timeline.quoted(7) is None
    timeline.dirty.clear()
    timeline.take_quotes([msg(6), msg(7), msg(8)])
    assert timeline.quoted(7) is not None and timeline.quoted(7).body == "body 7"  # type: ignore[union-attr]
    assert timeline.dirty == {50}
    assert [m.seq for m in timeline.messages] == [50]
    timeline.prepend([msg(7)], more=True)
    assert [m.seq for m in timeline.messages] == [7, 50]


def test_a_reaction_or_a_new_reply_redraws_no_other_quote() -> None:
    """Quotes show words only: a reply count or a reaction on their target leaves them be."""
    from chat_server import protocol as p

    def reply(seq: int) -> MessageRecord:
        return MessageRecord(
            "general", seq, "carol", "yes", "2026-11-26T09:01:00.000Z", f"id{seq}",
            reply_to=1, thread=1,
        )  # fmt: skip

    timeline = Timeline("general", "alice")
    timeline.add(msg(1))
    timeline.add(reply(2))
    timeline.dirty.clear()
    timeline.add(reply(3))
    assert timeline.dirty == {1}, "the root's count, not the first reply's quote"
    timeline.dirty.clear()
    timeline.apply(
        p.ReactEvent(room="general", seq=4, nick="bob", ts="2026-11-26T09:02:00.000Z", id="r",
                     target=1, emoji="👍")
    )  # fmt: skip
    assert timeline.dirty == {1}
