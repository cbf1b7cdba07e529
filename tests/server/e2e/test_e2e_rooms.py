"""Rooms: join/joined/history, leave, discovery, presence, typing."""

from __future__ import annotations

import time

import pytest

from tests.server.e2e.e2e_support import (
    HISTORY_KEYS,
    JOINED_KEYS,
    LEFT_KEYS,
    PRESENCE_KEYS,
    ROOM_ENTRY_KEYS,
    ROOMS_KEYS,
    TYPING_KEYS,
    Chat,
    Frame,
    assert_error,
    assert_keys,
    assert_people,
    uniq,
)


def rooms_entry(listed: list[Frame], room: str) -> Frame | None:
    found = [entry for entry in listed if entry["room"] == room]
    assert len(found) <= 1, listed
    return found[0] if found else None


def test_join_creates_the_room(chat: Chat) -> None:
    alice = chat.signup("Jc_")
    room = uniq("r")
    alice.send({"type": "join", "room": room, "ref": "j1"})
    joined = alice.recv_until("joined")
    # protocol 2: its creator owns it (``topic`` and ``private`` are left out while "" and
    # false, ``roles`` while nobody has one)
    assert_keys(joined, JOINED_KEYS | {"roles"}, ref="j1")
    assert joined["roles"] == {alice.nick: "owner"}
    assert joined["room"] == room
    assert joined["last_seq"] == 0
    assert_people(joined["members"], [alice.nick])
    assert_people(joined["online"], [alice.nick])
    history = alice.recv_until("history", skip=())
    assert {k: v for k, v in history.items() if k != "ref"} == {
        "type": "history",
        "room": room,
        "messages": [],
        "more": False,
    }
    assert rooms_entry(alice.all_rooms(), room) == {"room": room, "members": 1, "last_seq": 0}
    # Membership persists across sessions: the next welcome lists the room.
    assert alice.user is not None
    welcome = chat.connect().hello(token=alice.user.token)
    assert {"room": room, "last_seq": 0, "read_seq": 0, "unread": 0} in welcome["rooms"]


def test_joined_lists_members_and_who_is_online(chat: Chat) -> None:
    alice, bob = chat.signups(2, "Jm_")
    room = uniq("r")
    alice.join(room)
    joined, history = bob.join(room)
    assert_keys(joined, JOINED_KEYS | {"roles"})
    assert_people(joined["members"], [alice.nick, bob.nick])
    assert_people(joined["online"], [alice.nick, bob.nick])
    assert_keys(history, HISTORY_KEYS)
    alice.close()
    time.sleep(0.3)
    again, _ = bob.join(room)
    assert_people(again["members"], [alice.nick, bob.nick])
    assert_people(again["online"], [bob.nick])


def test_join_again_in_the_same_session_answers_again(chat: Chat) -> None:
    alice = chat.signup("Ja_")
    room = uniq("r")
    alice.join(room)
    alice.say(room, "hello there")
    joined, history = alice.join(room)
    assert joined["last_seq"] == 1
    assert [m["body"] for m in history["messages"]] == ["hello there"]
    assert history["more"] is False
    # Still subscribed exactly once: one event per message, no duplicates.
    alice.send_msg(room, "second")
    frames = [f for f in alice.frames_for(0.5) if f["type"] == "message"]
    assert [f["seq"] for f in frames] == [2]


def test_leaving_on_one_connection_closes_the_history_on_every_other(chat: Chat) -> None:
    """A second connection of the same user had joined too: after the leave it may not
    page through the room any more (it no longer holds the room, nor the membership)."""
    alice, bob = chat.signups(2, "Lh_")
    room = uniq("r")
    alice.join(room)
    alice.send_msg(room, "members only")
    assert bob.user is not None
    other = chat.connect()
    other.hello(token=bob.user.token)
    bob.join(room)
    other.join(room)
    assert other.request({"type": "history", "room": room}, "history")["messages"]
    bob.request({"type": "leave", "room": room}, "left")
    other.recv_until("left")  # the leave reaches every connection of the user
    assert_error(
        other.error_for({"type": "history", "room": room, "ref": "h2"}), "not_member", "h2"
    )


def test_leave(chat: Chat) -> None:
    alice, bob = chat.signups(2, "Lv_")
    room = uniq("r")
    alice.join(room)
    bob.join(room)
    bob.send({"type": "leave", "room": room, "ref": "bye"})
    left = bob.recv_until("left")
    assert_keys(left, LEFT_KEYS, ref="bye")
    assert left["room"] == room
    assert alice.recv_until("presence", nick=bob.nick, status="left") == {
        "type": "presence",
        "room": room,
        "nick": bob.nick,
        "status": "left",
    }
    assert_error(
        bob.error_for({"type": "send", "room": room, "body": "x", "id": "l1"}), "not_member"
    )
    assert_error(bob.error_for({"type": "history", "room": room, "ref": "h1"}), "not_member", "h1")
    # No more live events from the room for bob.
    alice.say(room, "after bob left")
    bob.expect_no_frame(0.4, ignore={"presence"})
    assert rooms_entry(alice.all_rooms(), room) == {"room": room, "members": 1, "last_seq": 1}
    assert bob.user is not None
    welcome = chat.connect().hello(token=bob.user.token)
    assert all(entry["room"] != room for entry in welcome["rooms"])
    left_plain = alice.request({"type": "leave", "room": room}, "left")
    assert_keys(left_plain, LEFT_KEYS)


def test_send_to_a_room_without_membership_is_not_member(chat: Chat) -> None:
    alice, bob = chat.signups(2, "Nm_")
    room = uniq("r")
    alice.join(room)
    err = bob.error_for({"type": "send", "room": room, "body": "hi", "id": "x1", "ref": "s1"})
    assert_error(err, "not_member", ref="s1")
    missing = uniq("r")
    err = bob.error_for({"type": "send", "room": missing, "body": "hi", "id": "x2"})
    assert_error(err, "not_member")
    # Nothing was stored, and sending did not create the missing room.
    assert alice.history(room)["messages"] == []
    listing = bob.all_rooms()
    assert rooms_entry(listing, missing) is None
    assert rooms_entry(listing, room) == {"room": room, "members": 1, "last_seq": 0}


def test_rooms_lists_public_rooms_not_dms(chat: Chat) -> None:
    alice, bob = chat.signups(2, "Rd_")
    room = uniq("r")
    alice.join(room)
    bob.join(room)
    alice.send_msg(room, "one")
    alice.send_msg(None, "private", to=bob.nick)
    alice.send({"type": "rooms", "ref": "list"})
    first = alice.recv_until("rooms")
    assert_keys(first, ROOMS_KEYS, ref="list")
    assert len(first["rooms"]) <= 50  # the default page
    listing = alice.all_rooms()
    assert listing[: len(first["rooms"])] == first["rooms"]
    for entry in listing:
        assert_keys(entry, ROOM_ENTRY_KEYS)
        assert not entry["room"].startswith("dm:"), entry
    assert rooms_entry(listing, room) == {"room": room, "members": 2, "last_seq": 1}
    # biggest first, then by name; every room once
    order = [(-entry["members"], entry["room"]) for entry in listing]
    assert order == sorted(order) and len(set(order)) == len(order)
    plain = bob.request({"type": "rooms"}, "rooms")
    assert_keys(plain, ROOMS_KEYS)


def test_presence_online_offline_joined_left(chat: Chat) -> None:
    alice = chat.signup("Pa_")
    bob = chat.signup("Pb_")
    assert bob.user is not None
    room = uniq("r")
    alice.join(room)
    bob.join(room)

    def presence(status: str) -> Frame:
        frame = alice.recv_until("presence", nick=bob.nick, status=status)
        assert_keys(frame, PRESENCE_KEYS)
        assert frame["room"] == room
        return frame

    presence("joined")
    bob.close()
    presence("offline")
    bob2 = chat.login(bob.user)
    presence("online")
    bob3 = chat.login(bob.user)  # not the first connection: no presence
    bob3.close()  # not the last connection: no presence
    assert [f for f in alice.frames_for(0.5) if f["type"] == "presence"] == []
    bob2.request({"type": "leave", "room": room}, "left")
    presence("left")
    bob2.close()
    # bob is no longer a member: alice hears nothing about him.
    assert [f for f in alice.frames_for(0.4) if f["type"] == "presence"] == []


def test_typing_is_relayed_to_others_at_most_once_per_3s(chat: Chat) -> None:
    alice, bob = chat.signups(2, "Ty_")
    assert alice.user is not None
    room, other_room = uniq("r"), uniq("r")
    alice.join(room)
    alice.join(other_room)
    bob.join(room)
    bob.join(other_room)
    alice_2 = chat.login(alice.user)
    alice_2.join(room)
    alice.frames_for(0.3)
    bob.frames_for(0.3)
    alice_2.frames_for(0.1)

    for _ in range(3):
        alice.send({"type": "typing", "room": room})
    typing = bob.recv_until("typing")
    assert_keys(typing, TYPING_KEYS)
    assert typing == {"type": "typing", "room": room, "nick": alice.nick}
    bob.expect_no_frame(0.4)
    alice.expect_no_frame(0.1)  # never echoed to the sender
    # The limit is per room and per connection.
    alice.send({"type": "typing", "room": other_room})
    assert bob.recv_until("typing") == {"type": "typing", "room": other_room, "nick": alice.nick}
    alice_2.send({"type": "typing", "room": room})
    assert bob.recv_until("typing") == {"type": "typing", "room": room, "nick": alice.nick}
    bob.expect_no_frame(0.3)
    alice.expect_no_frame(0.1)
    # Not stored.
    assert bob.history(room)["messages"] == []


@pytest.mark.slow
def test_typing_is_relayed_again_after_3s(chat: Chat) -> None:
    alice, bob = chat.signups(2, "Tz_")
    room = uniq("r")
    alice.join(room)
    bob.join(room)
    bob.frames_for(0.2)
    alice.send({"type": "typing", "room": room})
    assert bob.recv_until("typing") == {"type": "typing", "room": room, "nick": alice.nick}
    time.sleep(1.0)
    alice.send({"type": "typing", "room": room})
    bob.expect_no_frame(0.3)
    time.sleep(2.0)
    alice.send({"type": "typing", "room": room})
    assert bob.recv_until("typing") == {"type": "typing", "room": room, "nick": alice.nick}


def test_typing_in_a_room_not_joined_is_not_relayed(chat: Chat) -> None:
    alice, bob = chat.signups(2, "Tn_")
    room = uniq("r")
    bob.join(room)
    bob.frames_for(0.2)
    alice.send({"type": "typing", "room": room})
    frames = alice.frames_for(0.4)
    # An error is fine (alice is no member); a relay to bob is not.
    assert all(f["type"] == "error" for f in frames), frames
    bob.expect_no_frame(0.2)
