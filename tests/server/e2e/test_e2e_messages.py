"""Messages: send/ack/message, idempotency, seq order, read markers, search, rate limit.

History paging and ``join since`` are in test_e2e_history.py."""

from __future__ import annotations

import time

import pytest

from tests.server.e2e.e2e_support import (
    ACK_KEYS,
    MESSAGE_KEYS,
    READ_KEYS,
    RESULT_KEYS,
    RESULTS_KEYS,
    WELCOME_ROOM_KEYS,
    Chat,
    Client,
    Frame,
    assert_error,
    assert_keys,
    assert_ts,
    uniq,
)

# --------------------------------------------------------------------------- send / ack


def test_ack_comes_before_own_message_with_the_same_seq(chat: Chat) -> None:
    alice, bob = chat.signups(2, "Sa_")
    room = uniq("r")
    alice.join(room)
    bob.join(room)
    alice.frames_for(0.2)
    alice.send({"type": "send", "room": room, "body": "hi bob", "id": "k-1", "ref": "s1"})
    ack = alice.recv_until("ack", skip={"presence"})
    assert_keys(ack, ACK_KEYS, ref="s1")
    assert ack["id"] == "k-1"
    assert ack["room"] == room
    assert ack["seq"] == 1
    assert_ts(ack["ts"])
    own = alice.recv_until("message", skip={"presence"})
    expected = {
        "type": "message",
        "room": room,
        "seq": 1,
        "nick": alice.nick,
        "body": "hi bob",
        "ts": ack["ts"],
        "id": "k-1",
    }
    assert own == expected
    assert bob.recv_until("message") == expected
    stored = bob.history(room)["messages"]
    assert stored == [{k: v for k, v in expected.items() if k != "type"}]


def test_seq_is_per_room_contiguous_from_1(chat: Chat) -> None:
    alice = chat.signup("Sq_")
    room_a, room_b = uniq("r"), uniq("r")
    alice.join(room_a)
    alice.join(room_b)
    for i in range(8):
        alice.send({"type": "send", "room": room_a, "body": f"a{i}", "id": f"a{i}"})
    for i in range(3):
        alice.send({"type": "send", "room": room_b, "body": f"b{i}", "id": f"b{i}"})
    acks: dict[str, Frame] = {}
    events: list[Frame] = []
    while len(acks) < 11 or len(events) < 11:
        frame = alice.recv_until_any({"ack", "message"})
        if frame["type"] == "ack":
            acks[frame["id"]] = frame
        else:
            assert_keys(frame, MESSAGE_KEYS)
            events.append(frame)
    assert [acks[f"a{i}"]["seq"] for i in range(8)] == list(range(1, 9))
    assert [acks[f"b{i}"]["seq"] for i in range(3)] == [1, 2, 3]
    assert [f["seq"] for f in events if f["room"] == room_a] == list(range(1, 9))
    assert [f["seq"] for f in events if f["room"] == room_b] == [1, 2, 3]
    assert all(f["body"] == f["id"] for f in events)


def test_same_id_again_returns_the_original_ack_and_stores_nothing(chat: Chat) -> None:
    alice, bob = chat.signups(2, "Id_")
    room, other = uniq("r"), uniq("r")
    alice.join(room)
    alice.join(other)
    bob.join(room)
    first, _ = alice.say(room, "original", "dup-key")
    bob.recv_until("message")
    alice.send({"type": "send", "room": room, "body": "changed", "id": "dup-key", "ref": "again"})
    again = alice.recv_until("ack", skip={"presence"})
    assert_keys(again, ACK_KEYS, ref="again")
    assert {k: v for k, v in again.items() if k != "ref"} == first
    # The key wins whatever the new room or body.
    moved = alice.send_msg(other, "elsewhere", "dup-key")
    assert moved == first
    dm = alice.send_msg(None, "to bob", "dup-key", to=bob.nick)
    assert dm == first
    alice.expect_no_frame(0.4, ignore={"presence"})
    bob.expect_no_frame(0.1, ignore={"presence"})
    assert [m["body"] for m in alice.history(room)["messages"]] == ["original"]
    assert alice.history(other)["messages"] == []
    # The key is per user: bob may use the same one.
    bob_ack = bob.send_msg(room, "bob's own", "dup-key")
    assert bob_ack["seq"] == 2


def test_live_events_follow_history_without_gap_or_duplicate(chat: Chat) -> None:
    alice, bob = chat.signups(2, "Lg_")
    room = uniq("r")
    alice.join(room)
    alice.send_msg(room, "before bob")
    # Alice pipelines sends while bob joins: whatever the interleaving, bob must see every
    # seq exactly once, history first, then live events from the next seq on.
    for i in range(25):
        alice.send({"type": "send", "room": room, "body": f"race {i}", "id": f"race-{i}"})
    bob.send({"type": "join", "room": room})
    joined = bob.recv_until("joined", skip={"presence"})
    history = bob.recv_until("history", skip={"presence"})
    covered = [m["seq"] for m in history["messages"]]
    assert covered == list(range(1, joined["last_seq"] + 1))
    live: list[int] = []
    last = covered[-1] if covered else 0
    while last < 26:
        last = bob.recv_until("message", skip={"presence"})["seq"]
        live.append(last)
    assert covered + live == list(range(1, 27))
    bob.expect_no_frame(0.3, ignore={"presence"})


def test_connection_gets_live_events_only_for_rooms_joined_in_its_session(chat: Chat) -> None:
    alice, bob = chat.signups(2, "Ls_")
    assert bob.user is not None
    room = uniq("r")
    alice.join(room)
    bob.join(room)
    idle = chat.login(bob.user)  # member, but has not joined in this session
    alice.send_msg(room, "live")
    assert bob.recv_until("message")["body"] == "live"
    assert [f for f in idle.frames_for(0.4) if f["type"] == "message"] == []
    # Sending from a connection that did not join: membership persists across sessions.
    ack = idle.send_msg(room, "from idle")
    assert ack["seq"] == 2


# --------------------------------------------------------------------------- read markers


def welcome_room(client_welcome: Frame, room: str) -> Frame:
    found: list[Frame] = [e for e in client_welcome["rooms"] if e["room"] == room]
    assert len(found) == 1, client_welcome["rooms"]
    assert_keys(found[0], WELCOME_ROOM_KEYS)
    return found[0]


def test_read_markers_and_unread_counts(chat: Chat) -> None:
    alice, bob = chat.signups(2, "Rm_")
    user = alice.user
    assert user is not None
    room = uniq("r")
    alice.join(room)
    bob.join(room)
    for i in range(3):
        bob.send_msg(room, f"from bob {i}")

    def marker() -> Frame:
        probe = chat.login(user)
        assert probe.welcome is not None
        entry = welcome_room(probe.welcome, room)
        probe.close()
        return entry

    assert marker() == {"room": room, "last_seq": 3, "read_seq": 0, "unread": 3}
    second = chat.login(user)
    second.join(room)
    alice.frames_for(0.3)
    second.frames_for(0.2)

    alice.send({"type": "read", "room": room, "seq": 2})
    read = second.recv_until("read")
    assert_keys(read, READ_KEYS)
    assert read == {"type": "read", "room": room, "seq": 2}
    assert [f for f in alice.frames_for(0.3) if f["type"] in {"read", "error"}] == []
    assert marker() == {"room": room, "last_seq": 3, "read_seq": 2, "unread": 1}

    # Never moves back.
    alice.send({"type": "read", "room": room, "seq": 1})
    assert [f for f in alice.frames_for(0.3) if f["type"] == "error"] == []
    assert marker() == {"room": room, "last_seq": 3, "read_seq": 2, "unread": 1}
    assert [f for f in second.frames_for(0.1) if f["type"] == "read" and f["seq"] < 2] == []

    # Clamped to last_seq.
    alice.send({"type": "read", "room": room, "seq": 999})
    assert second.recv_until("read") == {"type": "read", "room": room, "seq": 3}
    assert marker() == {"room": room, "last_seq": 3, "read_seq": 3, "unread": 0}

    # Sending moves the sender's own marker; unread counts other people's messages.
    bob.send_msg(room, "bob 4")
    alice.send_msg(room, "alice 5")
    assert marker() == {"room": room, "last_seq": 5, "read_seq": 5, "unread": 0}
    bob.send_msg(room, "bob 6")
    bob.send_msg(room, "bob 7")
    assert marker() == {"room": room, "last_seq": 7, "read_seq": 5, "unread": 2}
    assert bob.user is not None
    probe = chat.login(bob.user)
    assert probe.welcome is not None
    assert welcome_room(probe.welcome, room) == {
        "room": room,
        "last_seq": 7,
        "read_seq": 7,
        "unread": 0,
    }


@pytest.mark.parametrize("seq", ["2", True, 1.5, None])
def test_read_with_a_bad_seq_is_bad_request(chat: Chat, seq: object) -> None:
    alice = chat.pooled("Rb_")
    room = uniq("r")
    alice.join(room)
    err = alice.error_for({"type": "read", "room": room, "seq": seq, "ref": "rd"})
    assert_error(err, "bad_request", ref="rd")


# --------------------------------------------------------------------------- search


def search(client: Client, q: str, **params: object) -> list[Frame]:
    frame = client.request({"type": "search", "q": q, **params}, "results")
    assert_keys(frame, RESULTS_KEYS)
    for message in frame["messages"]:
        assert_keys(message, RESULT_KEYS)
    messages: list[Frame] = frame["messages"]
    return messages


def test_search_plain_words_and_newest_first(chat: Chat) -> None:
    alice = chat.signup("Se_")
    room = uniq("r")
    alice.join(room)
    w = uniq("w")
    bodies = [f"{w} apple", f"{w} banana", f"{w} apple banana", f"{w}-bar baz", f"{w} qux bar"]
    acks = [alice.send_msg(room, body) for body in bodies]
    found = search(alice, f"{w} apple")
    assert [(m["seq"], m["body"]) for m in found] == [(3, bodies[2]), (1, bodies[0])]
    assert found[0] == {
        "room": room,
        "seq": 3,
        "nick": alice.nick,
        "body": bodies[2],
        "ts": acks[2]["ts"],
    }
    assert [m["seq"] for m in search(alice, f"banana apple {w}")] == [3]
    assert [m["seq"] for m in search(alice, w)] == [5, 4, 3, 2, 1]
    # foo-bar is a word, not "foo NOT bar" nor a column filter.
    assert [m["seq"] for m in search(alice, f"{w}-bar")] == [4]
    alice.send({"type": "search", "q": w, "ref": "q1"})
    assert_keys(alice.recv_until("results"), RESULTS_KEYS, ref="q1")


@pytest.mark.parametrize(
    "query",
    ['"', 'say "hi', 'foo"bar', "AND", "OR", "NOT x", "a*", "(", ")", "x:y", "NEAR(a b)", "^x"],
)
def test_search_never_fails_on_fts_syntax(chat: Chat, query: str) -> None:
    alice = chat.pooled("Sx_")
    room = uniq("r")
    alice.join(room)
    w = uniq("w")
    alice.send_msg(room, f"{w} and or not near")
    found = search(alice, f"{w} {query}")
    assert all(m["room"] == room for m in found)
    assert search(alice, uniq("nothing") + " " + query) == []


def test_search_limit_and_room_filter(chat: Chat) -> None:
    alice = chat.signup("Sl_")
    room_a, room_b = uniq("r"), uniq("r")
    alice.join(room_a)
    alice.join(room_b)
    w = uniq("w")
    for i in range(4):
        alice.send_msg(room_a, f"{w} a{i}")
    time.sleep(0.01)  # distinct timestamps: newest first is then unambiguous across rooms
    alice.send_msg(room_b, f"{w} b")
    assert [(m["room"], m["seq"]) for m in search(alice, w, limit=2)] == [(room_b, 1), (room_a, 4)]
    assert [m["seq"] for m in search(alice, w, room=room_a)] == [4, 3, 2, 1]
    assert [m["body"] for m in search(alice, w, room=room_b, limit=1)] == [f"{w} b"]
    assert len(search(alice, w, limit=100)) == 5
    for bad in (0, 101, "3", True):
        err = alice.error_for({"type": "search", "q": w, "limit": bad, "ref": "lim"})
        assert_error(err, "bad_request", ref="lim")


def test_search_covers_only_rooms_the_user_is_member_of(chat: Chat) -> None:
    alice, eve = chat.signups(2, "Sm_")
    room = uniq("r")
    alice.join(room)
    w = uniq("w")
    alice.send_msg(room, f"{w} secret plans")
    assert search(eve, w) == []

    def stranger_refused(name: str, ref: str) -> None:
        err = eve.error_for({"type": "search", "q": w, "room": name, "ref": ref})
        assert_error(err, "not_member", ref=ref)

    # a room with matching words, and a room that does not exist, say the same
    stranger_refused(room, "s1")
    stranger_refused(uniq("none"), "s2")
    eve.join(room)
    assert [m["body"] for m in search(eve, w)] == [f"{w} secret plans"]
    assert [m["body"] for m in search(eve, w, room=room)] == [f"{w} secret plans"]
    # a member's search with no hits is an empty page, joined in this session or not
    assert search(eve, uniq("absent"), room=room) == []
    assert alice.user is not None
    assert search(chat.login(alice.user), uniq("absent"), room=room) == []
    eve.request({"type": "leave", "room": room}, "left")
    assert search(eve, w) == []
    stranger_refused(room, "s3")


# --------------------------------------------------------------------------- rate limit


def test_rate_limit_refuses_and_does_not_store(chat: Chat) -> None:
    alice = chat.signup("Rl_")
    assert alice.user is not None
    room = uniq("r")
    alice.join(room)
    for i in range(60):
        alice.send(
            {"type": "send", "room": room, "body": f"burst {i}", "id": f"b{i}", "ref": f"r{i}"}
        )
    replies: dict[str, Frame] = {}
    events = 0
    deadline = time.monotonic() + 15
    while len(replies) < 60 and time.monotonic() < deadline:
        frame = alice.recv(deadline - time.monotonic())
        if frame["type"] == "message":
            events += 1
        elif frame["type"] in {"ack", "error"}:
            assert frame["ref"] not in replies, frame
            replies[frame["ref"]] = frame
        elif frame["type"] not in {"presence", "typing", "read"}:
            pytest.fail(f"unexpected {frame}")
    assert set(replies) == {f"r{i}" for i in range(60)}
    acks = {ref: f for ref, f in replies.items() if f["type"] == "ack"}
    limited = {ref: f for ref, f in replies.items() if f["type"] == "error"}
    for ref, err in limited.items():
        assert_error(err, "rate_limited", ref=ref)
        assert 0 < err["retry_after"] <= 1 / 20 + 0.001, "when the next token is due"
    for ref, ack in acks.items():
        assert ack["id"] == "b" + ref[1:]
    assert len(limited) >= 1, "60 sends at line rate must hit the limit (burst 40)"
    assert len(acks) >= 40, f"the burst of 40 must pass, only {len(acks)} did"
    assert sorted(a["seq"] for a in acks.values()) == list(range(1, len(acks) + 1))
    # Only acked messages are stored (and fanned out).
    while events < len(acks) and time.monotonic() < deadline:
        if alice.recv(deadline - time.monotonic())["type"] == "message":
            events += 1
    assert events == len(acks)
    reader = chat.login(alice.user)
    stored = reader.history(room, limit=500)["messages"]
    assert len(stored) == len(acks)
    assert {m["id"] for m in stored} == {a["id"] for a in acks.values()}
