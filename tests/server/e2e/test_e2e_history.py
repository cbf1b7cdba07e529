"""History: ``join`` with and without ``since``, ``history`` paging, its refs and refusals."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.server.e2e.e2e_support import (
    HISTORY_KEYS,
    STORED_MESSAGE_KEYS,
    Chat,
    Frame,
    ServerProc,
    User,
    assert_error,
    assert_keys,
    assert_ts,
    start_server,
    uniq,
)


@dataclass
class BigRoom:
    server: ServerProc
    user: User
    room: str
    bodies: dict[int, str]


@pytest.fixture(scope="module")
def big_room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigRoom]:
    """520 messages of one user, on a server of the module's own whose send limit lets them
    in at once (the shared server's would take 25 s)."""
    tmp = tmp_path_factory.mktemp("big-room")
    server = start_server(
        tmp / "chat.db", tmp / "server.log", ["--rate", "100000", "--burst", "1000"]
    )
    chat = Chat(server)
    try:
        owner = chat.signup("Big_")
        assert owner.user is not None
        room = uniq("big")
        owner.join(room)
        bodies = chat.fill(owner.user, room, 520)
        assert sorted(bodies) == list(range(1, 521))
        chat.close_all()
        yield BigRoom(server, owner.user, room, bodies)
    finally:
        chat.close_all()
        server.stop()


@pytest.fixture
def big_chat(big_room: BigRoom) -> Iterator[Chat]:
    """Connections to the big room's server, closed after the test."""
    chat = Chat(big_room.server)
    try:
        yield chat
    finally:
        chat.close_all()


def seqs(history: Frame) -> list[int]:
    return [m["seq"] for m in history["messages"]]


def check_page(frame: Frame, big: BigRoom, expected: list[int], more: bool) -> None:
    assert_keys(frame, HISTORY_KEYS)
    assert frame["room"] == big.room
    assert seqs(frame) == expected
    assert frame["more"] is more
    for message in frame["messages"]:
        assert_keys(message, STORED_MESSAGE_KEYS)
        assert message["room"] == big.room
        assert message["nick"] == big.user.nick
        assert message["body"] == big.bodies[message["seq"]]
        assert isinstance(message["id"], str)


def test_join_without_since_gives_the_newest_50(big_chat: Chat, big_room: BigRoom) -> None:
    client = big_chat.login(big_room.user)
    joined, history = client.join(big_room.room)
    assert joined["last_seq"] == 520
    check_page(history, big_room, list(range(471, 521)), more=True)
    assert_ts(history["messages"][-1]["ts"])


def test_join_since_gives_at_most_500_after_since(big_chat: Chat, big_room: BigRoom) -> None:
    client = big_chat.login(big_room.user)
    _, history = client.join(big_room.room, since=10)
    check_page(history, big_room, list(range(11, 511)), more=True)
    _, history = client.join(big_room.room, since=20)
    check_page(history, big_room, list(range(21, 521)), more=False)
    _, history = client.join(big_room.room, since=515)
    check_page(history, big_room, [516, 517, 518, 519, 520], more=False)
    _, history = client.join(big_room.room, since=520)
    check_page(history, big_room, [], more=False)
    joined, history = client.join(big_room.room, since=10_000)
    assert joined["last_seq"] == 520
    check_page(history, big_room, [], more=False)


def test_history_pages(big_chat: Chat, big_room: BigRoom) -> None:
    client = big_chat.login(big_room.user)
    room = big_room.room
    check_page(client.history(room, before=5, limit=2), big_room, [3, 4], more=True)
    check_page(client.history(room, before=3, limit=5), big_room, [1, 2], more=False)
    check_page(client.history(room, after=2, limit=3), big_room, [3, 4, 5], more=True)
    check_page(
        client.history(room, after=515, limit=10), big_room, [516, 517, 518, 519, 520], False
    )
    check_page(client.history(room, after=510, limit=10), big_room, list(range(511, 521)), False)
    check_page(client.history(room, after=520), big_room, [], more=False)
    check_page(client.history(room, before=1), big_room, [], more=False)
    # Defaults: the newest 100 without before/after.
    check_page(client.history(room), big_room, list(range(421, 521)), more=True)
    check_page(client.history(room, before=101), big_room, list(range(1, 101)), more=False)
    check_page(client.history(room, limit=1), big_room, [520], more=True)
    check_page(client.history(room, limit=500), big_room, list(range(21, 521)), more=True)
    check_page(client.history(room, after=0, limit=500), big_room, list(range(1, 501)), True)


def test_history_ref_is_echoed(big_chat: Chat, big_room: BigRoom) -> None:
    client = big_chat.login(big_room.user)
    frame = client.request(
        {"type": "history", "room": big_room.room, "before": 3, "ref": "h1"}, "history"
    )
    assert_keys(frame, HISTORY_KEYS, ref="h1")
    assert seqs(frame) == [1, 2]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 501},
        {"limit": -1},
        {"before": 5, "after": 1},
        {"limit": "5"},
        {"limit": True},
        {"limit": 10.5},
        {"before": "3"},
    ],
)
def test_history_bad_parameters_are_bad_request(
    big_chat: Chat, big_room: BigRoom, params: dict[str, object]
) -> None:
    client = big_chat.login(big_room.user)
    err = client.error_for({"type": "history", "room": big_room.room, "ref": "bad", **params})
    assert_error(err, "bad_request", ref="bad")
    # The connection stays usable.
    assert seqs(client.history(big_room.room, before=2)) == [1]


def test_history_of_a_room_one_is_not_member_of_is_refused(chat: Chat) -> None:
    alice, eve = chat.signups(2, "Hn_")
    room = uniq("r")
    alice.join(room)
    alice.send_msg(room, "members only")
    err = eve.error_for({"type": "history", "room": room, "ref": "peek"})
    assert err["type"] == "error" and err["ref"] == "peek"
    # DESIGN.md: history covers only rooms the user is a member of (code not pinned down).
    assert err["code"] in {"not_member", "forbidden"}, err
