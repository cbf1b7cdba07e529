"""Rooms with owners in the TUI, the pure parts: the commands' parsing, the notice lines,
the role marks, the lock, the greyed room, what a notice changes, and where a notice sits
among the messages of a timeline."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.text import Text

from chat_server import protocol as p
from chat_server.protocol import MessageRecord
from chat_tui.client.rooms import notice_event, notice_record
from chat_tui.tui import commands as cmd
from chat_tui.tui.render import notice_text
from chat_tui.tui.room_admin import apply_notice, removed_line
from chat_tui.tui.screens.chat_screen import title_text
from chat_tui.tui.screens.invitation import invitation_text
from chat_tui.tui.timeline import Timeline
from chat_tui.tui.widgets.members import members_text
from chat_tui.tui.widgets.rooms import RoomInfo, RoomList, invitation_prompt

TS = "2026-11-26T09:00:00.000Z"


def test_help_lists_the_room_commands() -> None:
    shown = {usage.split()[0] for usage, _ in cmd.HELP}
    assert {"/create", "/invite", "/kick", "/ban", "/op", "/owner", "/topic"} <= shown


@pytest.mark.parametrize(
    ("event", "target", "extra", "shown"),
    [
        ("kick", "bob", {"reason": "spam"}, "alice removed bob: spam"),
        ("kick", "bob", {}, "alice removed bob"),
        ("ban", "bob", {"reason": "again\nand again"}, "alice banned bob: again and again"),
        ("unban", "bob", {}, "alice unbanned bob"),
        ("topic", None, {"topic": "deploys at 11"}, "alice set the topic: deploys at 11"),
        ("topic", None, {"topic": ""}, "alice cleared the topic"),
        ("role", "bob", {"role": "op"}, "alice made bob an op"),
        ("role", "bob", {"role": "owner"}, "alice made bob the owner"),
        ("role", "bob", {"role": "member"}, "alice made bob a member"),
        ("role", "Alice", {"role": "member"}, "alice gave up their role"),
        ("invite", "bob", {}, "alice invited bob"),
        ("create", None, {"topic": "deploys"}, "alice created the room: deploys"),
        ("create", None, {}, "alice created the room"),
        ("rename", "bob", {}, "alice changed the room"),
    ],
)
def test_notice_lines(event: str, target: str | None, extra: dict[str, str], shown: str) -> None:
    assert notice_text(event, "alice", target, **extra).plain == shown


def test_notice_lines_are_literal() -> None:
    """Topics, reasons and nicks are untrusted: no markup, no escapes, no controls."""
    text = notice_text("kick", "alice", "bob", reason="[bold]x[/bold] \x1b[31mred\x1b[0m \x07bell")
    assert text.plain == "alice removed bob: [bold]x[/bold] red bell"
    console = Console(width=200, color_system=None, force_terminal=False)
    with console.capture() as capture:
        console.print(notice_text("topic", "alice", None, topic="\x1b]0;owned\x07hi"))
    assert capture.get() == "alice set the topic: hi\n"


def test_member_list_marks_the_owner_and_ops() -> None:
    text = members_text(
        ["carol", "Bob", "alice", "dave"],
        {"alice", "bob", "carol"},
        "carol",
        {"alice": "owner", "BOB": "op"},
    )
    assert text.plain.split("\n") == ["3/4 online", "● ~alice", "● @Bob", "● carol", "○ dave"]


def test_room_list_locks_greys_and_lists_invitations() -> None:
    rooms = RoomList()
    ops = RoomInfo("ops", private=True)
    general = RoomInfo("general", removed="removed by alice: spam")
    assert rooms.prompt(ops).plain == "#ops 🔒"
    greyed = rooms.prompt(general)
    assert greyed.plain == "#general"
    assert [str(span.style) for span in greyed.spans] == ["#5c6370 strike"]
    invitation = p.Invitation(room="hiring", by="bob", private=True)
    assert invitation_prompt(invitation).plain == "» #hiring 🔒"
    assert invitation_text(invitation).plain == "bob invited you to #hiring 🔒 (a private room)"


def _plain(text: Text) -> str:
    console = Console(width=60, color_system=None, force_terminal=False)
    with console.capture() as capture:
        console.print(text)
    return capture.get().rstrip()


def test_the_title_shows_the_lock_the_topic_and_a_removal() -> None:
    info = RoomInfo("ops", private=True, topic="deploys\x1b[2J at [b]11[/b]", members=["a"])
    assert _plain(title_text(info, "a")) == "#ops 🔒  1 member, 0 online · deploys at [b]11[/b]"
    info.removed = removed_line(p.Left(room="ops", by="alice", reason="spam"))
    assert _plain(title_text(info, "a")).endswith(" · removed by alice: spam")


def notice(event: str, target: str | None = None, seq: int = 5, **extra: str) -> p.Notice:
    return p.Notice(
        room="ops", seq=seq, nick="alice", ts=TS, id=f"n{seq}", event=event,
        target_nick=target, **extra,
    )  # fmt: skip


def test_notices_change_the_topic_roles_and_members() -> None:
    info = RoomInfo("ops", members=["alice", "bob", "carol"], online={"bob"})
    info.roles = {"alice": "owner"}
    apply_notice(info, notice("topic", topic="deploys"))
    assert info.topic == "deploys"
    apply_notice(info, notice("role", "Bob", role="op"))
    assert info.roles == {"alice": "owner", "Bob": "op"}
    apply_notice(info, notice("role", "carol", role="owner"))
    assert info.roles == {"alice": "op", "Bob": "op", "carol": "owner"}
    apply_notice(info, notice("role", "alice", role="member"))
    assert info.roles == {"Bob": "op", "carol": "owner"}
    apply_notice(info, notice("kick", "BOB", reason="spam"))
    assert info.members == ["alice", "carol"] and info.online == set()
    assert info.roles == {"carol": "owner"}


def test_a_notice_is_the_same_entry_live_and_in_a_page() -> None:
    live = notice("kick", "bob", reason="spam")
    record = notice_record(live)
    assert record.kind == "notice" and record.target_nick == "bob"
    assert notice_event(record) == live
    assert notice_event(MessageRecord("ops", 1, "a", "hi", TS, "i1")) is None


def msg(seq: int) -> MessageRecord:
    return MessageRecord("ops", seq, "bob", f"body {seq}", TS, f"id{seq}")


def shown(timeline: Timeline, start: int = 0) -> list[str]:
    return [
        f"{'event' if payload.kind == 'notice' else 'message'} {payload.seq}"
        for _, payload in timeline.items(start)
        if isinstance(payload, MessageRecord)
    ]


def test_notices_sit_at_their_seq_among_the_messages() -> None:
    timeline = Timeline("ops", "alice")
    for seq in (1, 3, 6):
        timeline.add(msg(seq))
    for seq in (7, 2, 4, 5):
        assert timeline.add_event(notice_record(notice("kick", "bob", seq=seq)))
    assert not timeline.add_event(notice_record(notice("kick", "bob", seq=4))), "held already"
    assert shown(timeline) == [
        "message 1", "event 2", "message 3", "event 4", "event 5", "message 6", "event 7",
    ]  # fmt: skip
    assert timeline.events_after_last, "a new message makes the view draw the room again"
    newest = timeline.newest(1)
    assert newest is not None and newest.seq == 6, "^1 names messages only"
    timeline.add(msg(8))
    assert not timeline.events_after_last
    assert shown(timeline)[-2:] == ["event 7", "message 8"]


def test_an_older_page_brings_its_notices() -> None:
    timeline = Timeline("ops", "alice")
    timeline.add(msg(4))
    page = [msg(1), notice_record(notice("topic", seq=2, topic="t")), msg(3)]
    assert timeline.prepend(page, more=False) == 2
    assert shown(timeline) == ["message 1", "event 2", "message 3", "message 4"]
