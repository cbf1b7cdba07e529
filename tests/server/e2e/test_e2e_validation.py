"""Validation: names, bodies, text cleaning, hostile JSON, refs, close codes."""

from __future__ import annotations

import contextlib
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.server.e2e.e2e_support import (
    ROOMS_KEYS,
    Chat,
    Client,
    Frame,
    assert_error,
    assert_keys,
    clean_model,
    uniq,
)


def member_in_new_room(chat: Chat, account: str = "validation") -> tuple[Client, str]:
    """A shared account's new connection, member of a new room."""
    client = chat.pooled(account)
    room = uniq("r")
    client.join(room)
    return client, room


def still_usable(client: Client) -> None:
    frame = client.request({"type": "rooms", "ref": "alive"}, "rooms")
    assert_keys(frame, ROOMS_KEYS, ref="alive")


def last_seq(client: Client, room: str) -> int:
    messages = client.history(room)["messages"]
    return int(messages[-1]["seq"]) if messages else 0


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "room", ["General", "bad room", "a" * 65, "", "café", "semi;colon", "room/x"]
)
def test_invalid_room_names(chat: Chat, room: str) -> None:
    client = chat.pooled("Rn_")
    assert_error(client.error_for({"type": "join", "room": room, "ref": "j"}), "invalid_name", "j")
    still_usable(client)


def test_longest_room_name_and_allowed_characters(chat: Chat) -> None:
    client = chat.pooled("Rk_")
    room = uniq("r-_") + "9" * (64 - 15)
    assert len(room) == 64
    joined, _ = client.join(room)
    assert joined["room"] == room


# --------------------------------------------------------------------------- bodies


@pytest.mark.parametrize("body", ["", "\x1b[0m", "\x00\x07\x7f", "\x1b]0;title\x07", "   ", "\n\t"])
def test_empty_body_after_cleaning_is_bad_request(chat: Chat, body: str) -> None:
    client, room = member_in_new_room(chat)
    err = client.error_for({"type": "send", "room": room, "body": body, "id": "e1", "ref": "e"})
    assert_error(err, "bad_request", "e")
    assert last_seq(client, room) == 0


def test_body_length_limits_count_code_points_after_cleaning(chat: Chat) -> None:
    client, room = member_in_new_room(chat)
    err = client.error_for(
        {"type": "send", "room": room, "body": "x" * 4001, "id": "l1", "ref": "l"}
    )
    assert_error(err, "too_large", "l")
    assert last_seq(client, room) == 0
    _, msg = client.say(room, "y" * 4000)
    assert len(msg["body"]) == 4000
    # Escape sequences do not count: 4000 characters remain after cleaning.
    _, msg = client.say(room, "\x1b[1m" + "z" * 4000 + "\x1b[0m")
    assert msg["body"] == "z" * 4000
    # Characters are code points, not UTF-8 bytes nor UTF-16 units.
    _, msg = client.say(room, "😀" * 4000)
    assert msg["body"] == "😀" * 4000
    err = client.error_for({"type": "send", "room": room, "body": "😀" * 4001, "id": "l2"})
    assert_error(err, "too_large")
    stored = client.history(room)["messages"]
    assert [len(m["body"]) for m in stored] == [4000, 4000, 4000]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x1b[31mred\x1b[0m", "red"),
        ("a\x1b[1;31;42mb\x1b[Kc", "abc"),
        ("x\x1b]0;evil title\x07y", "xy"),
        ("x\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\y", "xlinky"),
        ("p\x1bPq#0;2;0;0;0\x1b\\q", "pq"),
        ("p\x1b_apc payload\x1b\\q", "pq"),
        ("p\x1b^pm payload\x1b\\q", "pq"),
        ("p\x1bXsos payload\x1b\\q", "pq"),
        ("reset\x1bcdone", "resetdone"),
        ("a\x1b[?25lb", "ab"),
        ("lone escape at the end\x1b", "lone escape at the end"),
        ("line1\r\nline2", "line1\nline2"),
        ("a\rb", "ab"),
        ("tab\tkept\nnewline kept", "tab\tkept\nnewline kept"),
        ("c1\x85gone\x8d\x9f", "c1gone"),
        ("nul\x00bel\x07bs\x08del\x7fend", "nulbelbsdelend"),
        ("unicode ünï ✓ 😀 مرحبا", "unicode ünï ✓ 😀 مرحبا"),
    ],
)
def test_bodies_are_cleaned_when_stored_and_echoed(chat: Chat, raw: str, clean: str) -> None:
    client = chat.pooled("clean-a")
    other = chat.pooled("clean-b")
    room = uniq("r")
    client.join(room)
    other.join(room)
    _, own = client.say(room, raw)
    assert own["body"] == clean
    assert other.recv_until("message")["body"] == clean
    assert [m["body"] for m in client.history(room)["messages"]] == [clean]


def test_cleaning_property(chat: Chat) -> None:
    """Any text without ESC comes back with exactly the C0/DEL/C1 controls removed."""
    client, room = member_in_new_room(chat, "Hy_")
    counter = iter(range(10**6))

    def send_clean(text: str) -> Frame:
        msg_id = f"h{next(counter)}"
        for _ in range(20):
            client.send({"type": "send", "room": room, "body": text, "id": msg_id})
            reply = client.recv_until_any({"ack", "error"})
            if reply["type"] == "ack":
                return client.recv_until("message", seq=reply["seq"])
            assert_error(reply, "rate_limited", None)
            time.sleep(0.5)
        pytest.fail("still rate limited after 10 s")

    @settings(max_examples=40, deadline=None, derandomize=True, database=None)
    @given(
        text=st.text(
            alphabet=st.characters(
                codec="utf-8", exclude_characters="\x1b\x90\x98\x9b\x9d\x9e\x9f"
            ),
            min_size=1,
            max_size=40,
        ).filter(lambda s: any(c.isalnum() for c in clean_model(s)))
    )
    def check(text: str) -> None:
        time.sleep(0.05)  # stay under 20 sends/s
        assert send_clean(text)["body"] == clean_model(text)

    check()


FORBIDDEN = {chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]} - {"\n", "\t"}


def test_cleaned_bodies_never_contain_controls(chat: Chat) -> None:
    """Whatever mix of escape sequences and controls is sent, none reaches a terminal."""
    client, room = member_in_new_room(chat, "Hz_")
    counter = iter(range(10**6))
    pieces = st.sampled_from(
        ["\x1b", "[", "]", "P", "\\", "\x07", "\x9b", "\x9d", "\x9c", ";", "31m", "0", "x", "\r"]
    )

    @settings(max_examples=30, deadline=None, derandomize=True, database=None)
    @given(parts=st.lists(pieces | st.characters(codec="utf-8"), min_size=1, max_size=20))
    def check(parts: list[str]) -> None:
        time.sleep(0.05)  # stay under 20 sends/s
        text = "".join(parts) + "ok"
        msg_id = f"c{next(counter)}"
        client.send({"type": "send", "room": room, "body": text, "id": msg_id})
        reply = client.recv_until_any({"ack", "error"})
        if reply["type"] == "error":  # an unterminated sequence may swallow everything
            assert_error(reply, "bad_request", None)
            return
        body = client.recv_until("message", seq=reply["seq"])["body"]
        assert body and not FORBIDDEN & set(body), repr(body)

    check()


# --------------------------------------------------------------------------- hostile JSON


def hostile_frames(room: str) -> list[str]:
    deep = "[" * 30_000 + "]" * 30_000
    digits = "1" * 5000
    send = f'{{"type":"send","room":"{room}","id":"hx","body":'
    return [
        f'{send}"ok","extra":{deep}}}',
        deep,
        f'{{"type":"history","room":"{room}","limit":{digits}}}',
        f'{{"type":"history","room":"{room}","before":{digits}}}',
        f'{{"type":"history","room":"{room}","limit":NaN}}',
        f'{{"type":"history","room":"{room}","limit":Infinity}}',
        f'{{"type":"history","room":"{room}","limit":true}}',
        f'{{"type":"history","room":"{room}","after":10.5}}',
        f'{{"type":"read","room":"{room}","seq":1e2}}',
        f'{send}"\\ud800"}}',
        f'{send}"a\\udc00b"}}',
        "[]",
        "1",
        '"x"',
        "null",
        "true",
        "{",
        "",
        "{}",
        '{"type":5}',
        '{"room":"x"}',
        '{"type":"join"}',
        '{"type":"join","room":5}',
        f'{{"type":"send","room":"{room}","body":"no id"}}',
        f'{{"type":"send","room":"{room}","body":"x","id":""}}',
        f'{{"type":"send","room":"{room}","body":"x","id":"{"i" * 65}"}}',
        f'{{"type":"send","room":"{room}","body":["x"],"id":"i1"}}',
        '{"type":"send","body":"x","id":"i2"}',
        f'{{"type":"send","room":"{room}","body":"x","id":"i3"',
        f'{{"type":"join","room":"{room}","since":"3"}}',
        f'{{"type":"join","room":"{room}","since":true}}',
        f'{{"type":"join","room":"{room}","since":2.5}}',
        '{"type":"typing"}',
        '{"type":"search"}',
        '{"type":"search","q":7}',
        '{"type":"leave","room":null}',
        f'{{"type":"read","room":"{room}"}}',
    ]


def test_hostile_json_is_bad_request_and_connection_survives(chat: Chat) -> None:
    client, room = member_in_new_room(chat, "Hj_")
    for raw in hostile_frames(room):
        assert len(raw.encode()) <= 65536
        client.send_raw(raw)
        err = client.recv_until("error")
        assert err["type"] == "error" and err["code"] == "bad_request", (raw[:80], err)
        assert_error(err, "bad_request", None)
        still_usable(client)
    assert last_seq(client, room) == 0
    assert client.history(room)["messages"] == []


def test_duplicate_body_key_last_value_wins(chat: Chat) -> None:
    client, room = member_in_new_room(chat, "Dk_")
    client.send_raw(f'{{"type":"send","room":"{room}","id":"dk","body":"first","body":"second"}}')
    ack = client.recv_until("ack")
    msg = client.recv_until("message", seq=ack["seq"])
    assert msg["body"] == "second"
    assert [m["body"] for m in client.history(room)["messages"]] == ["second"]


def test_duplicate_type_key_last_value_wins(chat: Chat) -> None:
    client = chat.pooled("Dt_")
    client.send_raw('{"type":"bogus","type":"rooms","ref":"dup"}')
    assert_keys(client.recv_until("rooms"), ROOMS_KEYS, ref="dup")
    client.send_raw('{"type":"rooms","type":"bogus","ref":"dup2"}')
    assert_error(client.recv_until("error"), "unknown_type", "dup2")


def test_unknown_type(chat: Chat) -> None:
    client = chat.pooled("Ut_")
    assert_error(client.error_for({"type": "fly", "ref": "u1"}), "unknown_type", "u1")
    assert_error(client.error_for({"type": "fly", "to": "the moon"}), "unknown_type", None)
    assert_error(client.error_for({"type": "welcome"}), "unknown_type", None)
    still_usable(client)


# --------------------------------------------------------------------------- ref


def test_ref_is_echoed_on_replies_and_errors_only_when_sent(chat: Chat) -> None:
    client, room = member_in_new_room(chat, "Rf_")
    ref64 = "r" * 64
    client.send({"type": "join", "room": room, "ref": ref64})
    assert client.recv_until("joined")["ref"] == ref64
    client.recv_until("history")
    ack = client.request({"type": "send", "room": room, "body": "b", "id": "i", "ref": "s"}, "ack")
    assert ack["ref"] == "s"
    plain = client.request({"type": "send", "room": room, "body": "b", "id": "j"}, "ack")
    assert "ref" not in plain
    assert "ref" not in client.history(room)
    assert "ref" not in client.request({"type": "rooms"}, "rooms")
    assert "ref" not in client.request({"type": "search", "q": "b"}, "results")
    found = client.request({"type": "search", "q": "b", "ref": "q"}, "results")
    assert found["ref"] == "q"
    err = client.error_for({"type": "join", "room": "Bad", "ref": "ü" * 64})
    assert_error(err, "invalid_name", "ü" * 64)
    err = client.error_for({"type": "join", "room": "Bad"})
    assert_error(err, "invalid_name", None)


@pytest.mark.parametrize("ref", ["x" * 65, 5, ["r"], {"r": 1}, True])
def test_bad_ref_is_bad_request(chat: Chat, ref: object) -> None:
    client, room = member_in_new_room(chat, "Br_")
    err = client.error_for({"type": "send", "room": room, "body": "b", "id": "br", "ref": ref})
    assert err["type"] == "error" and err["code"] == "bad_request", err
    assert set(err) == {"type", "code", "message", "ref"}
    assert last_seq(client, room) == 0
    still_usable(client)


# --------------------------------------------------------------------------- close codes


def test_binary_frame_closes_1003(chat: Chat) -> None:
    client = chat.pooled("Bf_")
    client.send_raw(json.dumps({"type": "rooms"}).encode())
    assert client.expect_close() == 1003


def test_invalid_utf8_closes_1007(chat: Chat) -> None:
    client = chat.pooled("U8_")
    client.send_raw(b'{"type":"rooms","x":"\xff\xfe"}', text=True)
    assert client.expect_close() == 1007


def test_frame_of_64_kib_is_accepted(chat: Chat) -> None:
    client = chat.pooled("Fk_")
    frame = '{"type":"rooms","ref":"big"}'
    padded = frame[:-1] + " " * (65536 - len(frame)) + "}"
    assert len(padded.encode()) == 65536
    client.send_raw(padded)
    assert_keys(client.recv_until("rooms"), ROOMS_KEYS, ref="big")


def test_frame_over_64_kib_closes_1009(chat: Chat) -> None:
    client = chat.pooled("Fo_")
    frame = '{"type":"rooms"}'
    padded = frame[:-1] + " " * (65537 - len(frame)) + "}"
    assert len(padded.encode()) == 65537
    # The server may hang up while we are still writing.
    with contextlib.suppress(OSError, ConnectionClosed):
        client.send_raw(padded)
    assert client.expect_close() == 1009


def test_no_server_frame_is_binary(chat: Chat) -> None:
    client, room = member_in_new_room(chat, "Tx_")
    client.say(room, "text only")
    client.history(room)
    client.error_for({"type": "nope"})
    frames: list[Frame] = client.seen
    assert len(frames) >= 5  # every one went through the Text-frame check in Client.recv
