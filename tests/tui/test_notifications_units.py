"""The pure parts of notifications: which message is an alert, and the escape sequence
that carries it, whatever the message holds."""

from __future__ import annotations

import json
import re

import pytest

from chat_server.protocol import MessageRecord
from chat_tui.tui import notifications as n


def message(body: str, nick: str = "bob", room: str = "general") -> MessageRecord:
    ts = "2026-12-03T14:00:00Z"
    return MessageRecord(room=room, seq=7, nick=nick, body=body, ts=ts, id="m7")


def kind(body: str, nick: str = "bob", room: str = "general", words: tuple[str, ...] = ()) -> str:
    alert = n.alert_for(message(body, nick, room), "alice", n.highlight_pattern(words))
    return "-" if alert is None else alert.kind


@pytest.mark.parametrize(
    ("body", "nick", "room", "words", "expected"),
    [
        ("alice: lunch?", "bob", "general", (), "mention"),
        ("ping ALICE", "bob", "general", (), "mention"),
        ("malice aforethought", "bob", "general", (), "-"),  # a word, not a substring
        ("alice-bot is down", "bob", "general", (), "-"),  # another nick
        ("hi", "bob", "dm:alice:bob", (), "dm"),
        ("alice: hi", "bob", "dm:alice:bob", (), "dm"),  # a DM is a DM first
        ("the Deploy is done", "bob", "general", ("deploy",), "highlight"),
        ("redeployed", "bob", "general", ("deploy",), "-"),
        ("on-call: c++ is fine", "bob", "general", ("c++",), "highlight"),
        ("alice: mine", "alice", "general", ("mine",), "-"),  # your own: never
        ("note to self", "ALICE", "dm:alice:bob", (), "-"),
        ("nothing here", "bob", "general", ("  ",), "-"),
    ],
)
def test_which_messages_are_alerts(
    body: str, nick: str, room: str, words: tuple[str, ...], expected: str
) -> None:
    assert kind(body, nick, room, words) == expected


def test_the_command_reads_one_json_object() -> None:
    alert = n.alert_for(message("alice: héllo\nthere"), "alice")
    assert alert is not None
    data = alert.as_json()
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert json.loads(data) == {
        "room": "general",
        "nick": "bob",
        "body": "alice: héllo\nthere",
        "ts": "2026-12-03T14:00:00Z",
        "kind": "mention",
    }


HOSTILE = "alice \x1b]777;notify;pwned;x\x07\x1b\\ \x1b[2J\x9d0;title\x9c\x07\x1b; a;b\r\nc\x00"


def payload(sequence: str, prefix: str) -> str:
    """What is between the sequence's introducer and its one terminator."""
    assert sequence.startswith(prefix) and sequence.endswith("\x1b\\"), repr(sequence)
    return sequence[len(prefix) : -2]


def test_a_hostile_body_cannot_end_the_sequence_or_start_another() -> None:
    alert = n.Alert("general", "bob;\x1b]9;x", HOSTILE, "ts", "mention")
    for style in ("osc777", "osc9"):
        sequence = n.terminal_sequence(alert, "alice", style)
        prefix = "\x1b]777;notify;" if style == "osc777" else "\x1b]9;"
        inside = payload(sequence, prefix)
        assert not re.search(r"[\x00-\x1f\x7f-\x9f]", inside), repr(inside)
    title, body = payload(n.terminal_sequence(alert, "alice", "osc777"), "\x1b]777;notify;").split(
        ";", 1
    )
    assert title == "bob, in #general"  # a ";" would end the title
    assert body.startswith("alice ") and body.endswith("a;b c")


def test_the_text_is_cut_short_and_shows_who_and_where() -> None:
    alert = n.Alert("dm:alice:bob", "bob", "x" * 1000, "ts", "dm")
    title, body = payload(n.terminal_sequence(alert, "alice", "osc777"), "\x1b]777;notify;").split(
        ";", 1
    )
    assert title == "bob" and body == "x" * (n.TEXT_MAX - 1) + "…"
    osc9 = payload(n.terminal_sequence(alert, "alice", "osc9"), "\x1b]9;")
    assert osc9.startswith("<bob> @bob: xxx") and len(osc9) == n.TEXT_MAX


def test_inside_tmux_the_sequence_passes_through() -> None:
    alert = n.Alert("general", "bob", "alice: hi", "ts", "mention")
    plain = n.terminal_sequence(alert, "alice", "osc777")
    wrapped = n.terminal_sequence(alert, "alice", "osc777", tmux=True)
    assert wrapped == "\x1bPtmux;" + plain.replace("\x1b", "\x1b\x1b") + "\x1b\\"


@pytest.mark.parametrize(
    ("env", "style"),
    [
        ({}, "osc777"),
        ({"TERM": "xterm-256color"}, "osc777"),
        ({"TERM": "xterm-kitty"}, "osc9"),
        ({"TERM_PROGRAM": "iTerm.app"}, "osc9"),
        ({"WT_SESSION": "1f2e"}, "osc9"),
    ],
)
def test_the_style_follows_the_terminal(env: dict[str, str], style: str) -> None:
    assert n.terminal_style(env) == style


def test_the_command_line_is_split_as_a_shell_would_but_never_run_by_one() -> None:
    assert n.parse_command("notify-send -a 'chat tui' x") == ["notify-send", "-a", "chat tui", "x"]
    assert n.parse_command("echo $HOME; rm -rf /") == ["echo", "$HOME;", "rm", "-rf", "/"]
    with pytest.raises(n.NotifyCommandError, match="quotation"):
        n.parse_command("say 'unbalanced")
    with pytest.raises(n.NotifyCommandError, match="empty"):
        n.parse_command("   ")
