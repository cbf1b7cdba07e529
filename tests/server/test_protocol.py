"""The wire format without sockets: feed frames, check the typed result or the error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from chat_server import protocol as p
from chat_server.errors import ProtocolError


def decode(frame: object) -> p.AnyClientFrame:
    return p.decode_client_frame(json.dumps(frame))


def error_of(data: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        p.decode_client_frame(data)
    return info.value


def test_every_client_type_decodes() -> None:
    frames: dict[str, dict[str, object]] = {
        "hello": {"nick": "alice", "password": "pw", "client": "test/1", "invite": "k3mzq8"},
        "join": {"room": "general", "since": 3},
        "leave": {"room": "general"},
        "send": {"room": "general", "body": "hi", "id": "k1"},
        "edit": {"room": "general", "target": 3, "body": "hi!", "id": "k2"},
        "delete": {"room": "general", "target": 3, "id": "k3", "reason": "oops"},
        "react": {"room": "general", "target": 3, "emoji": "👍", "id": "k4", "remove": True},
        "history": {"room": "general", "before": 10, "limit": 20},
        "read": {"room": "general", "seq": 4},
        "typing": {"room": "general"},
        "search": {"q": "hello world", "limit": 5},
        "rooms": {"limit": 10, "cursor": "3/general"},
        "members": {"room": "general", "after": "Bob", "limit": 20},
        "logout": {"all": True},
        "password": {"old": "old-pw", "new": "new-pw"},
        "block": {"nick": "Mallory"},
        "unblock": {"nick": "Mallory"},
        "create": {"room": "ops", "private": True, "topic": "on call", "id": "k5"},
        "invite": {"room": "ops", "nick": "bob", "id": "k6"},
        "kick": {"room": "ops", "nick": "bob", "reason": "spam", "id": "k7"},
        "ban": {"room": "ops", "nick": "bob", "reason": "spam", "id": "k8"},
        "unban": {"room": "ops", "nick": "bob", "id": "k9"},
        "role": {"room": "ops", "nick": "bob", "role": "op", "id": "k10"},
        "topic": {"room": "ops", "topic": "incidents only", "id": "k11"},
    }
    assert set(frames) == p.CLIENT_TYPES
    for kind, fields in frames.items():
        frame = decode({"type": kind, "ref": "r1", **fields})
        assert frame.ref == "r1"
        for key, value in fields.items():
            assert getattr(frame, key) == value


def test_defaults() -> None:
    history = decode({"type": "history", "room": "a"})
    assert isinstance(history, p.History)
    assert (history.limit, history.before, history.after) == (100, None, None)
    search = decode({"type": "search", "q": "x"})
    assert isinstance(search, p.Search) and search.limit == 50
    rooms = decode({"type": "rooms"})
    assert isinstance(rooms, p.Rooms) and (rooms.limit, rooms.cursor) == (50, None)
    members = decode({"type": "members", "room": "a"})
    assert isinstance(members, p.Members) and (members.limit, members.after) == (500, None)


@pytest.mark.parametrize(
    "fields",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "5"},
        {"cursor": 5},
        {"cursor": ""},
        {"cursor": "general"},
        {"cursor": "-1/general"},
        {"cursor": "3/General"},
        {"cursor": "3/dm:a:b"},
        {"cursor": "1" * 19 + "/a"},
        {"cursor": "3/" + "a" * 65},
        {"cursor": "3/a\u0000"},
        {"cursor": "x" * 97},
    ],
)
def test_a_rooms_page_needs_a_limit_in_range_and_a_cursor_from_a_reply(
    fields: dict[str, object],
) -> None:
    error = error_of(json.dumps({"type": "rooms", "ref": "p2", **fields}))
    assert (error.code, error.ref) == ("bad_request", "p2")


def test_a_rooms_cursor_names_the_last_room_listed() -> None:
    last = p.RoomInfo(room="general", members=12, last_seq=40)
    assert p.rooms_after(p.rooms_cursor(last)) == (12, "general")
    page = p.RoomList(rooms=[last], cursor=None, ref="r")
    assert json.loads(p.encode(page))["cursor"] is None  # null on the last page, never absent


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "join", "room": "General"}, "invalid_name"),
        ({"type": "join", "room": "a" * 65}, "invalid_name"),
        ({"type": "join", "room": "dm:bob:alice"}, "invalid_name"),
        ({"type": "join", "room": "dm:alice:alice"}, "invalid_name"),
        ({"type": "hello", "nick": "al ice", "password": "x"}, "invalid_name"),
        ({"type": "hello", "nick": "a" * 33, "password": "x"}, "invalid_name"),
        ({"type": "hello", "nick": "alice"}, "bad_request"),
        ({"type": "hello"}, "bad_request"),
        ({"type": "hello", "nick": "alice", "password": "x", "invite": ""}, "bad_request"),
        ({"type": "hello", "nick": "alice", "password": "x", "invite": "i" * 65}, "bad_request"),
        ({"type": "hello", "nick": "alice", "password": "x", "invite": 5}, "bad_request"),
        ({"type": "send", "room": "a", "to": "bob", "body": "x", "id": "1"}, "bad_request"),
        ({"type": "send", "body": "x", "id": "1"}, "bad_request"),
        ({"type": "send", "room": "a", "body": "x", "id": ""}, "bad_request"),
        ({"type": "send", "room": "a", "body": "x", "id": "i" * 65}, "bad_request"),
        # an id is stored as sent: a NUL in it failed a whole PostgreSQL batch, others' too
        ({"type": "send", "room": "a", "body": "x", "id": "k\x00"}, "bad_request"),
        ({"type": "send", "room": "a", "body": "x", "id": "\x1b[31mk"}, "bad_request"),
        ({"type": "send", "room": "a", "body": "", "id": "1"}, "bad_request"),
        ({"type": "send", "room": "a", "body": "\x1b[31m\x07", "id": "1"}, "bad_request"),
        ({"type": "send", "room": "a", "body": "  \n ", "id": "1"}, "bad_request"),
        ({"type": "send", "room": "a", "body": "x" * 4001, "id": "1"}, "too_large"),
        ({"type": "send", "to": "b c", "body": "x", "id": "1"}, "invalid_name"),
        ({"type": "history", "room": "a", "limit": 0}, "bad_request"),
        ({"type": "history", "room": "a", "limit": 501}, "bad_request"),
        ({"type": "history", "room": "a", "before": 5, "after": 1}, "bad_request"),
        ({"type": "history", "room": "a", "before": -1}, "bad_request"),
        ({"type": "search", "q": "x", "limit": 101}, "bad_request"),
        ({"type": "members", "room": "a", "limit": 0}, "bad_request"),
        ({"type": "members", "room": "a", "limit": 501}, "bad_request"),
        ({"type": "members", "room": "A"}, "invalid_name"),
        ({"type": "members", "room": "a", "after": "b c"}, "invalid_name"),
        ({"type": "members", "room": "a", "after": 5}, "bad_request"),
        ({"type": "search", "q": "   "}, "bad_request"),
        ({"type": "search", "q": "\x00"}, "bad_request"),
        ({"type": "search", "q": "\x1b]0;title\x07 \x7f"}, "bad_request"),
        ({"type": "search", "q": "x" * 257}, "too_large"),
        ({"type": "read", "room": "a"}, "bad_request"),
        ({"type": "read", "room": "a", "seq": True}, "bad_request"),
        ({"type": "read", "room": "a", "seq": 10.5}, "bad_request"),
        ({"type": "join", "room": 5}, "bad_request"),
        ({"type": "block", "nick": "bad nick!"}, "invalid_name"),
        ({"type": "block", "nick": ""}, "invalid_name"),
        ({"type": "block"}, "bad_request"),
        ({"type": "unblock", "nick": "a" * 33}, "invalid_name"),
        ({"type": "frobnicate"}, "unknown_type"),
        ({"room": "a"}, "bad_request"),
        ({"type": 7}, "bad_request"),
    ],
)
def test_invalid_frames(frame: dict[str, object], code: str) -> None:
    frame["ref"] = "abc"
    error = error_of(json.dumps(frame))
    assert error.code == code
    assert error.ref == "abc"


def test_body_of_exactly_4000_characters_after_cleaning() -> None:
    body = "é" * 4000 + "\x1b[0m"
    frame = decode({"type": "send", "room": "a", "body": body, "id": "1"})
    assert isinstance(frame, p.Send) and frame.body == "é" * 4000


@pytest.mark.parametrize(
    ("q", "searched"),
    [("nee\x00dle", "needle"), ("\x1b[1mbold\x1b[0m\r\n text", "bold\n text"), ("plain", "plain")],
)
def test_search_query_is_cleaned_as_bodies_are(q: str, searched: str) -> None:
    frame = decode({"type": "search", "q": q})
    assert isinstance(frame, p.Search) and frame.q == searched


def test_search_query_of_256_characters_after_cleaning() -> None:
    frame = decode({"type": "search", "q": "q" * 256 + "\x00" * 10})
    assert isinstance(frame, p.Search) and frame.q == "q" * 256


@pytest.mark.parametrize(
    "data",
    [
        "[" * 30000 + "]" * 30000,
        '{"type":"join","room":"a","x":' + "[" * 30000 + "]" * 30000 + "}",
        '{"type":"read","room":"a","seq":' + "9" * 5000 + "}",
        '{"type":"read","room":"a","seq":NaN}',
        '{"type":"read","room":"a","seq":Infinity}',
        '{"type":"join","room":"\\ud800"}',
        "[]",
        "1",
        '"join"',
        "null",
        "{",
        "",
        "\x00",
    ],
)
def test_hostile_json_is_bad_request(data: str) -> None:
    assert error_of(data).code == "bad_request"


def test_long_ref_is_rejected_and_not_echoed() -> None:
    error = error_of(json.dumps({"type": "rooms", "ref": "r" * 65}))
    assert (error.code, error.ref) == ("bad_request", None)


def test_duplicate_keys_last_wins() -> None:
    frame = p.decode_client_frame('{"type":"join","room":"BAD","room":"good"}')
    assert isinstance(frame, p.Join) and frame.room == "good"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("plain text", "plain text"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b[1;31;42mx", "x"),
        ("title\x1b]0;pwned\x07 after", "title after"),
        ("osc\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "osclink"),
        ("dcs\x1bPq#0;2;0;0;0\x1b\\ end", "dcs end"),
        ("apc\x1b_payload\x1b\\.", "apc."),
        ("keep\ttabs\nand lines", "keep\ttabs\nand lines"),
        ("crlf\r\nline", "crlf\nline"),
        ("bare\rreturn", "barereturn"),
        ("bell\x07 nul\x00 del\x7f", "bell nul del"),
        ("c1\x9b31m csi and \x85 nel", "c1 csi and  nel"),
        ("two-byte \x1bc reset \x1b(B charset", "two-byte  reset  charset"),
        ("unterminated \x1b]0;forever", "unterminated "),
        ("lone escape \x1b", "lone escape "),
        ("[bold red]markup[/] stays text", "[bold red]markup[/] stays text"),
        ("emoji 👋 and ñ", "emoji 👋 and ñ"),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert p.clean_text(raw) == clean


def test_dm_room_names() -> None:
    assert p.dm_room("Bob", "alice") == "dm:alice:bob"
    assert p.dm_pair("dm:alice:bob") == ("alice", "bob")
    assert p.dm_pair("general") is None
    assert p.is_valid_room("dm:alice:bob")
    assert not p.is_valid_room("dm:bob:alice")
    assert p.is_valid_room("a" * 64) and not p.is_valid_room("a" * 65)


def test_timestamps_are_utc_with_milliseconds() -> None:
    moment = datetime(2026, 11, 26, 4, 0, 0, 123456, tzinfo=UTC)
    assert p.format_ts(moment) == "2026-11-26T04:00:00.123Z"
    assert p.now_ts().endswith("Z") and len(p.now_ts()) == 24


def test_encoded_frames() -> None:
    ack = json.loads(p.encode(p.Ack(id="k", room="a", seq=1, ts="t")))
    assert ack == {"type": "ack", "id": "k", "room": "a", "seq": 1, "ts": "t"}
    with_ref = json.loads(p.encode(p.Ack(id="k", room="a", seq=1, ts="t", ref="r")))
    assert with_ref["ref"] == "r"
    error = json.loads(p.error_frame("not_member", "no"))
    assert error == {"type": "error", "code": "not_member", "message": "no", "ref": None}
    page = json.loads(p.encode(p.HistoryPage(room="a", messages=[], more=False)))
    assert page == {"type": "history", "room": "a", "messages": [], "more": False}


def test_server_frames_round_trip() -> None:
    message = p.Message(room="a", seq=3, nick="bob", body="hi", ts="t", id="k")
    assert p.decode_server_frame(p.encode(message)) == message
    for answer in (p.Blocked(nick="Mallory", ref="b1"), p.Unblocked(nick="Mallory")):
        assert p.decode_server_frame(p.encode(answer)) == answer
    assert json.loads(p.encode(p.Blocked(nick="Mallory", ref="b1"))) == {
        "type": "blocked",
        "nick": "Mallory",
        "ref": "b1",
    }
    with pytest.raises(msgspec.ValidationError):
        p.decode_server_frame(b'{"type":"nonsense"}')


def test_duplicate_type_last_wins() -> None:
    assert isinstance(p.decode_client_frame('{"type":"bogus","type":"rooms"}'), p.Rooms)
    assert isinstance(p.decode_client_frame(b'{"type":"rooms","type":"logout"}'), p.Logout)
    frame = p.decode_client_frame('{"type":"send","room":"a","body":"type","id":"type"}')
    assert isinstance(frame, p.Send) and frame.body == "type"


def test_every_error_code_has_a_row_in_the_protocol_document() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    table = doc.split("### Error codes", 1)[1].split("###", 1)[0]
    rows = {line.split("|")[1].strip(" `") for line in table.splitlines() if line.startswith("| `")}
    assert rows == p.ERROR_CODES


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "topic", "room": "ops", "topic": "two\nlines", "id": "t"}, "bad_request"),
        ({"type": "topic", "room": "ops", "topic": "x" * 201, "id": "t"}, "too_large"),
        ({"type": "create", "room": "Ops", "id": "t"}, "invalid_name"),
        ({"type": "create", "room": "ops", "topic": "a\nb", "id": "t"}, "bad_request"),
        ({"type": "kick", "room": "ops", "nick": "b c", "id": "t"}, "invalid_name"),
        (
            {"type": "ban", "room": "ops", "nick": "bob", "reason": "x" * 501, "id": "t"},
            "too_large",
        ),
        ({"type": "role", "room": "ops", "nick": "bob", "role": "god", "id": "t"}, "bad_request"),
        ({"type": "invite", "room": "ops", "nick": "bob"}, "bad_request"),  # no id
        ({"type": "join", "room": "ops", "create": "no"}, "bad_request"),
        # a line separator is a new line to some clients
        ({"type": "topic", "room": "ops", "topic": "a\u2028b", "id": "t"}, "bad_request"),
        ({"type": "topic", "room": "ops", "topic": "a\u2029b", "id": "t"}, "bad_request"),
    ],
)
def test_room_commands_are_checked(frame: dict[str, object], code: str) -> None:
    assert error_of(json.dumps(frame)).code == code


def test_a_topic_is_cleaned_to_one_line() -> None:
    frame = decode({"type": "topic", "room": "ops", "topic": " \x1b[31mred\x1b[0m ", "id": "t"})
    assert isinstance(frame, p.Topic) and frame.topic == "red"
    assert decode({"type": "topic", "room": "ops", "topic": "", "id": "t"}).topic == ""  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("code", "reason", "wait"),
    [
        (1001, "retry_after=12.5", 12.5),
        (1001, p.going_away_reason(3.04), 3.0),
        (1001, p.going_away_reason(-1.0), 0.0),  # never a wait in the past
        (1001, "", None),  # a 1001 that says nothing: the client's own backoff
        (1001, "retry_after=1e9", None),
        (1001, "retry_after=12.5 please", None),
        (1001, "retry_after=9999999", None),  # more than six digits: not a wait it will keep
        (1001, "retry_after=3600.0", 3600.0),
        (1001, "retry_after=\u0663\u0660", None),  # Arabic-Indic digits: not ASCII, not a wait
        (1001, "retry_after=3600.1", None),  # over an hour: not taken
        (1001, p.going_away_reason(1e9), 3600.0),  # a server never tells more than that
        (1008, "retry_after=12.5", None),  # only a stopping server's close asks to wait
        (None, None, None),
    ],
)
def test_a_stopping_servers_close_says_how_long_to_wait(
    code: int | None, reason: str | None, wait: float | None
) -> None:
    assert p.going_away_wait(code, reason) == wait


@pytest.mark.parametrize(
    "emoji",
    [
        "\u200b",  # zero width space: a reaction nobody sees
        "\u200d\u200d",  # joiners alone
        "\u0301",  # a combining mark alone
        "\u202e",  # right-to-left override: turns what follows around
        "\U0001f44d\u202e",
        "\u2066x",  # an isolate opened and never closed
    ],
)
def test_an_invisible_or_direction_changing_reaction_is_refused(emoji: str) -> None:
    frame = {"type": "react", "room": "general", "target": 3, "emoji": emoji, "id": "k"}
    error = error_of(json.dumps(frame))
    assert (error.code, error.message) == ("bad_request", "an emoji must be visible")


@pytest.mark.parametrize(
    "emoji", ["\U0001f44d", "\U0001f44d\U0001f3fd", "\U0001f1eb\U0001f1f7", "1\ufe0f\u20e3",
              "\U0001f468\u200d\U0001f469\u200d\U0001f467", ":party:", "+1", "\u2764\ufe0f"],
)  # fmt: skip
def test_emoji_sequences_and_names_are_reactions(emoji: str) -> None:
    frame = {"type": "react", "room": "general", "target": 3, "emoji": emoji, "id": "k"}
    decoded = p.decode_client_frame(json.dumps(frame))
    assert isinstance(decoded, p.React) and decoded.emoji == emoji
