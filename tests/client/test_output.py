"""What the scripting commands print, the cursor file, and where credentials live."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_server import protocol as p
from chat_tui.client import credentials
from chat_tui.scripting.output import (
    CursorError,
    change_line,
    human_line,
    json_line,
    quote_of,
    reactions_line,
    read_cursor,
    write_cursor,
)


@pytest.fixture
def utc() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"  # +05:30: shows that local time is used
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def record(body: str, nick: str = "alice") -> p.MessageRecord:
    return p.MessageRecord(
        room="general", seq=7, nick=nick, body=body, ts="2026-11-26T04:00:00.123Z", id="x"
    )


def test_human_line_is_local_time_and_clean_text(utc: None) -> None:
    assert human_line(record("hi")) == "2026-11-26 09:30:00  alice: hi"
    hostile = record("\x1b[2J\x1b]0;owned\x07wiped\x9b?25l", nick="ev\x07il")
    assert human_line(hostile) == "2026-11-26 09:30:00  evil: wiped"


def test_human_line_indents_the_later_lines_of_a_body(utc: None) -> None:
    assert human_line(record("one\ntwo")) == (
        "2026-11-26 09:30:00  alice: one\n                     two"
    )


def test_json_line_has_exactly_the_documented_fields() -> None:
    line = json_line(record("a \x1b b"))
    assert "\n" not in line
    assert json.loads(line) == {
        "kind": "message",
        "room": "general",
        "seq": 7,
        "nick": "alice",
        "body": "a \x1b b",
        "ts": "2026-11-26T04:00:00.123Z",
    }


def test_a_message_as_it_is_now(utc: None) -> None:
    edited = record("deploy done")
    edited.edited = "2026-11-26T04:01:00.000Z"
    assert human_line(edited) == "2026-11-26 09:30:00  alice: deploy done (edited)"
    gone = record("")
    gone.deleted, gone.edited = True, "2026-11-26T04:01:00.000Z"
    assert human_line(gone) == "2026-11-26 09:30:00  alice: message deleted"
    reply = record("on it", nick="bob")
    reply.reply_to = reply.thread = 5
    assert human_line(reply) == "2026-11-26 09:30:00  bob: ↳ #5  on it"
    target = record("deploy \x1b[31m40%\n  of the fleet and then some more words here")
    quoted = human_line(reply, quote_of(target))
    assert quoted == (
        "2026-11-26 09:30:00  bob: ↳ alice: deploy 40% of the fleet and then some m…  on it"
    )
    assert quote_of(gone) == "#7 (deleted)"
    edited.reactions = [p.Reaction("👍", ["bob", "carol"]), p.Reaction("\x1b]0;x\x07🎉", ["al"])]
    assert reactions_line(edited) == "                     👍 2  🎉 1"
    assert reactions_line(reply) is None


def test_changes_are_short_clean_lines(utc: None) -> None:
    common = {"room": "general", "nick": "al\x07ice", "ts": "2026-11-26T04:00:00.123Z", "id": "x"}
    edit = p.EditEvent(seq=8, target=7, body="new\x07 text\nline 2", **common)
    assert change_line(edit) == (
        "2026-11-26 09:30:00  alice edited #7: new text\n                     line 2"
    )
    assert change_line(p.DeleteEvent(seq=9, target=7, **common)) == (
        "2026-11-26 09:30:00  alice deleted #7"
    )
    assert change_line(p.DeleteEvent(seq=9, target=7, reason="oops\x9b", **common)) == (
        "2026-11-26 09:30:00  alice deleted #7 (oops)"
    )
    assert change_line(p.ReactEvent(seq=10, target=7, emoji="👍", remove=False, **common)) == (
        "2026-11-26 09:30:00  alice reacted 👍 to #7"
    )
    assert change_line(p.ReactEvent(seq=11, target=7, emoji="👍", remove=True, **common)) == (
        "2026-11-26 09:30:00  alice took back 👍 from #7"
    )


def test_json_lines_say_the_kind_of_each_entry() -> None:
    common = {"room": "general", "nick": "alice", "ts": "t", "id": "x"}
    shared = {"room": "general", "nick": "alice", "ts": "t"}
    assert json.loads(json_line(p.EditEvent(seq=8, target=7, body="b", **common))) == {
        "kind": "edit", "seq": 8, "target": 7, "body": "b", **shared,
    }  # fmt: skip
    assert json.loads(json_line(p.DeleteEvent(seq=9, target=7, reason="r", **common))) == {
        "kind": "delete", "seq": 9, "target": 7, "reason": "r", **shared,
    }  # fmt: skip
    added = p.ReactEvent(seq=10, target=7, emoji="👍", remove=False, **common)
    assert json.loads(json_line(added)) == {
        "kind": "react", "seq": 10, "target": 7, "emoji": "👍", **shared,
    }  # fmt: skip
    removed = p.ReactEvent(seq=11, target=7, emoji="👍", remove=True, **common)
    assert json.loads(json_line(removed))["remove"] is True
    now = record("")
    now.deleted, now.edited, now.reply_to, now.thread, now.replies = True, "t2", 3, 3, 2
    now.reactions = [p.Reaction("👍", ["bob"])]
    assert json.loads(json_line(now)) == {
        "kind": "message", "room": "general", "seq": 7, "nick": "alice", "body": "",
        "ts": "2026-11-26T04:00:00.123Z", "edited": "t2", "deleted": True, "reply_to": 3,
        "thread": 3, "replies": 2, "reactions": [{"emoji": "👍", "nicks": ["bob"]}],
    }  # fmt: skip


def test_cursor_round_trip_and_bad_content(tmp_path: Path) -> None:
    cursor = tmp_path / "seq"
    assert read_cursor(cursor) is None
    write_cursor(cursor, 41)
    write_cursor(cursor, 42)
    assert read_cursor(cursor) == 42
    assert [f.name for f in tmp_path.iterdir()] == ["seq"]  # no temporary file left behind
    cursor.write_text("")
    assert read_cursor(cursor) is None
    cursor.write_text("-3\n")
    with pytest.raises(CursorError):
        read_cursor(cursor)


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("127.0.0.1:8765", "ws://127.0.0.1:8765/ws"),
        ("ws://Chat.Example.org:8765/ws", "ws://chat.example.org:8765/ws"),
        ("https://chat.example.org", "wss://chat.example.org/ws"),
        ("http://chat.example.org:8765/", "ws://chat.example.org:8765/ws"),
        ("wss://chat.example.org/chat/ws", "wss://chat.example.org/chat/ws"),
    ],
)
def test_server_addresses_are_normalized(given: str, canonical: str) -> None:
    assert credentials.normalize_url(given) == canonical


def test_tokens_are_stored_per_server_privately(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    credentials.save_token("127.0.0.1:8765", "alice", "t1")
    credentials.save_token("ws://other:1/ws", "bob", "t2")
    path = tmp_path / "chat-tui" / "credentials.json"
    assert credentials.credentials_path() == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials.load("ws://127.0.0.1:8765/ws") == ("alice", "t1")
    assert credentials.load_token("other:1") == "t2"
    assert credentials.remove_token("127.0.0.1:8765")
    assert not credentials.remove_token("127.0.0.1:8765")
    assert credentials.load("127.0.0.1:8765") is None
    assert credentials.load_token("other:1") == "t2"
    path.write_text("{not json")
    with pytest.raises(credentials.CredentialsError):
        credentials.load("other:1")
