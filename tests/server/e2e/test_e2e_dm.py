"""Direct messages: send with `to`, the dm:a:b room, who may touch it."""

from __future__ import annotations

from tests.server.e2e.e2e_support import (
    ACK_KEYS,
    Chat,
    Frame,
    assert_error,
    assert_keys,
    assert_ts,
    dm_room,
    uniq,
)


def welcome_entry(welcome: Frame | None, room: str) -> Frame | None:
    assert welcome is not None
    found = [entry for entry in welcome["rooms"] if entry["room"] == room]
    return found[0] if found else None


def test_dm_uses_sorted_lowercase_room_and_reaches_both(chat: Chat) -> None:
    alice = chat.signup(nick=uniq("Zoe_"))
    bob = chat.signup(nick=uniq("Adam_"))
    assert alice.user is not None and bob.user is not None
    bob_2 = chat.login(bob.user)
    room = dm_room(alice.nick, bob.nick)
    assert room == f"dm:{bob.nick.lower()}:{alice.nick.lower()}"

    alice.send({"type": "send", "to": bob.nick, "body": "psst", "id": "d1", "ref": "dm"})
    ack = alice.recv_until("ack", skip={"presence"})
    assert_keys(ack, ACK_KEYS, ref="dm")
    assert (ack["id"], ack["room"], ack["seq"]) == ("d1", room, 1)
    assert_ts(ack["ts"])
    expected = {
        "type": "message",
        "room": room,
        "seq": 1,
        "nick": alice.nick,
        "body": "psst",
        "ts": ack["ts"],
        "id": "d1",
    }
    # Both open connections of both people are subscribed at once, without a join.
    assert alice.recv_until("message") == expected
    assert bob.recv_until("message") == expected
    assert bob_2.recv_until("message") == expected

    # Both are members: replies by `to` and by `room` land in the same room.
    reply = bob.send_msg(None, "hi zoe", to=alice.nick.swapcase())  # nicks ignore case
    assert (reply["room"], reply["seq"]) == (room, 2)
    assert alice.recv_until("message", seq=2)["body"] == "hi zoe"
    by_room = bob.send_msg(room, "by room")
    assert (by_room["room"], by_room["seq"]) == (room, 3)
    assert alice.recv_until("message", seq=3)["body"] == "by room"

    assert [m["body"] for m in alice.history(room)["messages"]] == ["psst", "hi zoe", "by room"]
    joined, history = bob.join(room)
    assert joined["last_seq"] == 3
    assert [m["seq"] for m in history["messages"]] == [1, 2, 3]
    found = bob.request({"type": "search", "q": "psst", "room": room}, "results")
    assert [m["seq"] for m in found["messages"]] == [1]

    # The conversation is listed in both welcomes.
    assert welcome_entry(chat.login(alice.user).welcome, room) == {
        "room": room,
        "last_seq": 3,
        "read_seq": 1,
        "unread": 2,
    }
    assert welcome_entry(chat.login(bob.user).welcome, room) == {
        "room": room,
        "last_seq": 3,
        "read_seq": 3,
        "unread": 0,
    }


def test_third_party_is_forbidden_from_a_dm(chat: Chat) -> None:
    alice, bob, eve = chat.signups(3, "Dm_")
    room = dm_room(alice.nick, bob.nick)
    word = uniq("w")
    alice.send_msg(None, f"{word} between us", to=bob.nick)
    assert_error(eve.error_for({"type": "join", "room": room, "ref": "j"}), "forbidden", "j")
    assert_error(eve.error_for({"type": "history", "room": room, "ref": "h"}), "forbidden", "h")
    err = eve.error_for({"type": "search", "q": word, "room": room, "ref": "s"})
    assert_error(err, "forbidden", "s")
    found = eve.request({"type": "search", "q": word}, "results")
    assert found["messages"] == []
    err = eve.error_for({"type": "send", "room": room, "body": "let me in", "id": "e1"})
    assert err["code"] in {"forbidden", "not_member"}, err
    # Nothing leaked or stored; eve's attempts made her no member.
    assert [m["body"] for m in bob.history(room)["messages"]] == [f"{word} between us"]
    assert eve.user is not None
    assert welcome_entry(chat.login(eve.user).welcome, room) is None
    ghost = f"dm:{uniq('x')}:{uniq('y')}"
    assert_error(eve.error_for({"type": "join", "room": ghost}), "forbidden")


def test_dm_errors(chat: Chat) -> None:
    alice = chat.signup("Dx_")
    unknown = uniq("Nobody_")
    err = alice.error_for({"type": "send", "to": unknown, "body": "x", "id": "t1", "ref": "a"})
    assert_error(err, "not_found", "a")
    err = alice.error_for({"type": "send", "to": "bad nick!", "body": "x", "id": "t2", "ref": "b"})
    assert_error(err, "invalid_name", "b")
    err = alice.error_for({"type": "send", "to": alice.nick, "body": "x", "id": "t3", "ref": "c"})
    assert_error(err, "bad_request", "c")
    err = alice.error_for({"type": "send", "to": alice.nick.upper(), "body": "x", "id": "t4"})
    assert_error(err, "bad_request")
    assert alice.user is not None
    welcome = chat.login(alice.user).welcome
    assert welcome is not None and welcome["rooms"] == []


def test_dm_room_between_longest_nicks(chat: Chat) -> None:
    alice = chat.signup(nick=uniq("L") + "a" * 19)
    bob = chat.signup(nick=uniq("M") + "b" * 19)
    room = dm_room(alice.nick, bob.nick)
    assert len(room) == 68
    ack = alice.send_msg(None, "long names", to=bob.nick)
    assert ack["room"] == room
    assert bob.recv_until("message")["room"] == room
    joined, history = bob.join(room)
    assert joined["room"] == room
    assert [m["body"] for m in history["messages"]] == ["long names"]
