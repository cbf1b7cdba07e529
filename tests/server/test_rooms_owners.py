"""Rooms with owners on a real server over each store, one test per family of cells of
``access.room_refusal``: creating rooms and their topic and roles, a private room as a
stranger sees it (exactly as a missing one), invitations, kicks and bans as the kicked and
the bystanders see them, owner succession, moderation of messages, and a member who tries
what they may not."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import ChatServerUnderTest, ServerFactory
from tests.server.each_store import STORES, on_store
from tests.support.raw import Client

Frame = dict[str, Any]


@pytest.fixture(params=STORES)
async def server(
    request: pytest.FixtureRequest, make_server: ServerFactory
) -> AsyncIterator[ChatServerUnderTest]:
    async with on_store(request, make_server) as running:
        yield running


_keys = iter(range(1, 1_000_000))


async def act(client: Client, kind: str, room: str, **fields: Any) -> Frame:
    """A room command (or ``create``), answered by ``ack`` or ``error``."""
    frame = {"type": kind, "room": room, "id": f"k{next(_keys)}", **fields}
    return await client.request(frame, "ack")


async def sees_nothing(client: Client) -> None:
    """Nothing reaches ``client`` for a moment but presence (people coming and going)."""
    while True:
        try:
            frame = await client.recv(timeout=0.3)
        except TimeoutError:
            return
        assert frame["type"] == "presence", frame


async def refused(client: Client, frame: Frame) -> Frame:
    reply = await client.request(frame, "ack", "joined", "left", "history", "results")
    assert reply["type"] == "error", reply
    return reply


async def test_create_topic_and_roles_as_the_room_sees_them(server: ChatServerUnderTest) -> None:
    async with server.login("alice") as alice, server.login("bob") as bob:
        ack = await act(alice, "create", "ops", topic="release friday")
        assert (ack["type"], ack["seq"]) == ("ack", 1)
        assert (await act(bob, "create", "ops"))["code"] == "conflict"
        joined, history = await bob.join("ops")
        assert (joined["topic"], joined.get("private", False)) == ("release friday", False)
        assert joined["roles"] == {"alice": "owner"}
        [created] = history["messages"]
        assert (created["kind"], created["event"], created["nick"], created["topic"]) == (
            "notice", "create", "alice", "release friday",
        )  # fmt: skip
        await alice.join("ops")
        ack = await act(alice, "topic", "ops", topic="release monday")
        live = await bob.recv_type("notice")
        assert live == {
            "type": "notice", "room": "ops", "seq": ack["seq"], "nick": "alice",
            "ts": ack["ts"], "id": live["id"], "event": "topic", "topic": "release monday",
        }  # fmt: skip
        assert (await act(bob, "topic", "ops", topic="mine"))["code"] == "forbidden"
        await act(alice, "role", "ops", nick="bob", role="op")
        notice = await bob.recv_type("notice")
        assert (notice["event"], notice["target_nick"], notice["role"]) == ("role", "bob", "op")
        await act(bob, "topic", "ops", topic="ops may")  # an op sets the topic
        joined, _ = await bob.join("ops")
        assert joined["topic"] == "ops may"
        assert joined["roles"] == {"alice": "owner", "bob": "op"}
        # the log is one: a resume from before brings every notice, none counts as unread
        _, backlog = await bob.join("ops", since=1)
        assert [m["event"] for m in backlog["messages"]] == ["topic", "role", "topic"]
    # notices are entries, never unread
    [ops] = [r for r in (await hello(server, bob.token))["rooms"] if r["room"] == "ops"]
    assert (ops["last_seq"], ops["unread"]) == (4, 0)


async def hello(server: ChatServerUnderTest, token: str) -> Frame:
    async with server.client() as client:
        return await client.request({"type": "hello", "token": token}, "welcome")


async def test_a_private_room_is_invisible_to_a_third_user(server: ChatServerUnderTest) -> None:
    """Every request that names a room answers a stranger to a private room what it answers
    for a name with no room, and nothing lists it or finds its messages."""
    async with (
        server.login("alice") as alice,
        server.login("bob") as bob,
        server.login("eve") as eve,
    ):
        await act(alice, "create", "hiring", private=True, topic="candidates")
        await alice.join("hiring")
        await act(alice, "invite", "hiring", nick="bob")
        await bob.join("hiring")
        await alice.say("hiring", "offer zyxwvu to carol", "m1")
        for client in (alice, bob):
            await client.recv_type("message")
        listed = await eve.request({"type": "rooms"}, "rooms")
        assert "hiring" not in [r["room"] for r in listed["rooms"]]
        hits = await eve.request({"type": "search", "q": "zyxwvu"}, "results")
        assert hits["messages"] == []
        stranger: list[tuple[str, str]] = []
        for name, missing in (("hiring", False), ("nosuchroom", True)):
            answers = []
            for frame in (
                {"type": "history", "room": name},
                {"type": "send", "room": name, "body": "hi", "id": f"s-{name}"},
                {"type": "search", "q": "zyxwvu", "room": name},
                {"type": "read", "room": name, "seq": 1},
                {"type": "leave", "room": name},
                {"type": "edit", "room": name, "target": 2, "body": "x", "id": f"e-{name}"},
                {"type": "delete", "room": name, "target": 2, "id": f"d-{name}"},
                {"type": "react", "room": name, "target": 2, "emoji": "x", "id": f"r-{name}"},
                {"type": "invite", "room": name, "nick": "alice", "id": f"i-{name}"},
                {"type": "kick", "room": name, "nick": "bob", "id": f"k-{name}"},
                {"type": "topic", "room": name, "topic": "mine", "id": f"t-{name}"},
                {"type": "role", "room": name, "nick": "eve", "role": "op", "id": f"o-{name}"},
            ):
                error = await refused(eve, frame)
                answers.append((error["code"], error["message"].replace(name, "NAME")))
            if missing:
                assert answers == stranger, "a private room answers as a missing one does"
            stranger = answers
        assert {code for code, _ in stranger} == {"not_member"}
        joined = await refused(eve, {"type": "join", "room": "hiring"})
        assert joined["code"] == "forbidden"
        # a join of a missing name makes a public room (create: false says not_found)
        assert (await refused(eve, {"type": "join", "room": "nope", "create": False}))[
            "code"
        ] == "not_found"
        # the room's own people saw nothing of all that
        await bob.no_frame()
        await alice.no_frame()
        _, page = await bob.join("hiring")
        assert [m.get("kind", "message") for m in page["messages"]] == [
            "notice", "notice", "message",
        ]  # fmt: skip


async def test_an_invitation_live_in_welcome_accepted_or_declined(
    server: ChatServerUnderTest,
) -> None:
    async with server.login("alice") as alice, server.login("bob") as bob:
        await act(alice, "create", "hiring", private=True)
        await act(alice, "create", "interviews", private=True)
        await act(alice, "invite", "hiring", nick="bob")
        assert await bob.recv_type("invite") == {
            "type": "invite", "room": "hiring", "by": "alice", "private": True,
        }  # fmt: skip
        await act(alice, "invite", "interviews", nick="bob")
        welcome = await hello(server, bob.token)
        assert welcome["invites"] == [
            {"room": "hiring", "by": "alice", "private": True},
            {"room": "interviews", "by": "alice", "private": True},
        ]
        joined, _ = await bob.join("hiring")
        assert joined["private"] is True
        left = await bob.request({"type": "leave", "room": "interviews"}, "left")
        assert left["room"] == "interviews"
        assert (await hello(server, bob.token))["invites"] == []
        assert (await refused(bob, {"type": "join", "room": "interviews"}))["code"] == "forbidden"


async def test_an_invitation_from_someone_blocked_is_refused(server: ChatServerUnderTest) -> None:
    async with server.login("alice") as alice, server.login("mallory") as mallory:
        await alice.request({"type": "block", "nick": "mallory"}, "blocked")
        await act(mallory, "create", "trap")
        error = await act(mallory, "invite", "trap", nick="alice")
        assert (error["code"], error["message"]) == (
            "forbidden", "alice does not accept invitations from you",
        )  # fmt: skip
        await alice.no_frame()
        assert (await hello(server, alice.token))["invites"] == []


async def test_a_kicked_user_stops_receiving_the_room_at_once(
    server: ChatServerUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        server.login("alice") as alice,
        server.login("carol") as carol,
        server.login("mallory") as mallory,
        server.login("mallory") as mallory_too,
    ):
        await act(alice, "create", "lobby")
        for client in (alice, carol, mallory, mallory_too):
            await client.join("lobby")
        await mallory.say("lobby", "buy cheap pills", "m1")
        with caplog.at_level(logging.INFO, logger="chat_server"):
            ack = await act(alice, "kick", "lobby", nick="mallory", reason="spam")
        assert ack["type"] == "ack"
        notice = await carol.recv_type("notice")
        assert (notice["event"], notice["target_nick"], notice["reason"]) == (
            "kick", "mallory", "spam",
        )  # fmt: skip
        for client in (mallory, mallory_too):  # every connection of theirs
            left = await client.recv_type("left")
            assert left == {"type": "left", "room": "lobby", "by": "alice", "reason": "spam"}
        await alice.say("lobby", "after the kick", "m2")
        assert (await carol.recv_type("message"))["body"] == "after the kick"
        await mallory.no_frame()
        await mallory_too.no_frame()
        assert (await refused(mallory, {"type": "history", "room": "lobby"}))["code"] == (
            "not_member"
        )
        searched = await refused(mallory, {"type": "search", "q": "pills", "room": "lobby"})
        assert searched["code"] == "not_member"
        assert "room lobby: alice kick mallory" in caplog.text
        assert "pills" not in caplog.text
        # a public room takes the kicked back; a ban keeps them out
        await mallory.join("lobby")
        await act(alice, "ban", "lobby", nick="mallory", reason="again")
        assert (await mallory.recv_type("left"))["reason"] == "again"
        assert (await refused(mallory, {"type": "join", "room": "lobby"}))["code"] == "forbidden"
        error = await refused(mallory, {"type": "send", "room": "lobby", "body": "x", "id": "m3"})
        assert error["code"] == "not_member"
        assert (await act(carol, "invite", "lobby", nick="mallory"))["code"] == "forbidden"
        await act(alice, "unban", "lobby", nick="mallory")
        await mallory.join("lobby")


async def test_a_kick_this_node_has_not_heard_of_yet_still_keeps_history_from_the_kicked(
    server: ChatServerUnderTest,
) -> None:
    """With several nodes, a kick committed on another one reaches this node's connections
    a moment later (through Redis). Until then the kicked connection still has the room
    among its joined ones, and must not read what was said after the kick: the page's own
    query tests the membership. The store's ``leave`` here is that kick, unannounced."""
    async with server.login("alice") as alice, server.login("mallory") as mallory:
        await act(alice, "create", "ops", private=True)
        await act(alice, "invite", "ops", nick="mallory")
        await alice.join("ops")
        await mallory.join("ops")
        await alice.say("ops", "the plan", "m1")
        page = await mallory.request({"type": "history", "room": "ops"}, "history")
        assert [m.get("body") for m in page["messages"]][-1] == "the plan"
        store = server.running.ctx.store
        user = await store.user_by_nick("mallory")
        room = await store.room_by_name("ops")
        assert user is not None and room is not None
        await store.leave(user.id, room.id)  # committed; no event for this node's hub
        said = await alice.say("ops", "the new plan, after the kick", "m2")
        for ask in (
            {"type": "history", "room": "ops"},
            {"type": "history", "room": "ops", "after": 0},
            {"type": "history", "room": "ops", "around": said["seq"]},
            {"type": "history", "room": "ops", "thread": said["seq"]},
        ):
            error = await refused(mallory, ask)
            assert (error["code"], error["message"]) == (
                "not_member", "you are not a member of ops",
            ), ask  # fmt: skip
        page = await alice.request({"type": "history", "room": "ops", "after": 0}, "history")
        assert page["messages"][-1]["body"] == "the new plan, after the kick"


async def test_a_member_trying_what_they_may_not_changes_nothing_bystanders_see(
    server: ChatServerUnderTest,
) -> None:
    async with (
        server.login("alice") as alice,
        server.login("bob") as bob,
        server.login("mallory") as mallory,
        server.login("victim") as victim,
    ):
        await act(alice, "create", "hiring", private=True)
        for nick in ("bob", "mallory"):
            await act(alice, "invite", "hiring", nick=nick)
        for client in (alice, bob, mallory):
            await client.join("hiring")
        await alice.recv_type("presence")  # (the joins' presence, drained below)
        last = (await bob.join("hiring"))[0]["last_seq"]
        # all at once, past the send budget's burst however slow the machine: rate_limited
        # after the forbidden ones, and still nothing for anyone else
        for i in range(60):
            kind = ("invite", "kick", "ban", "role", "topic")[i % 5]
            fields: Frame = {"nick": "victim" if kind == "invite" else "bob"}
            if kind == "role":
                fields["role"] = "op"
            if kind == "topic":
                fields = {"topic": "pwned"}
            await mallory.send({"type": kind, "room": "hiring", "id": f"k{next(_keys)}", **fields})
        replies = [await mallory.recv_type("ack", "error") for _ in range(60)]
        assert {reply["type"] for reply in replies} == {"error"}, replies
        assert {reply["code"] for reply in replies} == {"forbidden", "rate_limited"}
        await victim.no_frame()
        for client in (alice, bob):
            await sees_nothing(client)
        joined, _ = await bob.join("hiring")
        assert joined["last_seq"] == last and joined["roles"] == {"alice": "owner"}
        assert (await hello(server, victim.token))["invites"] == []


async def test_the_owner_leaving_hands_the_room_on(server: ChatServerUnderTest) -> None:
    async with (
        server.login("alice") as alice,
        server.login("bob") as bob,
        server.login("carol") as carol,
    ):
        await act(alice, "create", "lobby")
        for client in (bob, carol):
            await client.join("lobby")
        await act(alice, "role", "lobby", nick="carol", role="op")
        await alice.request({"type": "leave", "room": "lobby"}, "left")
        notice = await bob.recv_type("notice")
        while notice["event"] != "role" or notice["role"] != "owner":
            notice = await bob.recv_type("notice")
        assert (notice["nick"], notice["target_nick"]) == ("alice", "carol")
        joined, _ = await bob.join("lobby")
        assert joined["roles"] == {"carol": "owner"}


async def test_owners_and_ops_delete_others_messages(server: ChatServerUnderTest) -> None:
    async with (
        server.login("alice") as alice,
        server.login("bob") as bob,
        server.login("mallory") as mallory,
    ):
        await act(alice, "create", "lobby")
        for client in (bob, mallory):
            await client.join("lobby")
        ack = await mallory.say("lobby", "spam spam", "m1")
        frame = {"type": "delete", "room": "lobby", "target": ack["seq"], "id": "d1"}
        assert (await bob.request(frame, "ack"))["code"] == "forbidden"
        await act(alice, "role", "lobby", nick="bob", role="op")
        assert (await bob.request({**frame, "id": "d2"}, "ack"))["type"] == "ack"
        _, page = await alice.join("lobby")
        [message] = [m for m in page["messages"] if m["seq"] == ack["seq"]]
        assert (message["deleted"], message["body"]) == (True, "")


async def test_room_commands_do_not_apply_to_direct_conversations(
    server: ChatServerUnderTest,
) -> None:
    async with server.login("alice") as alice, server.login("bob") as bob:
        await alice.request({"type": "send", "to": "bob", "body": "hi", "id": "m1"}, "ack")
        await bob.recv_type("message")
        room = "dm:alice:bob"
        for kind, fields in (("topic", {"topic": "x"}), ("kick", {"nick": "bob"})):
            assert (await act(alice, kind, room, **fields))["code"] == "bad_request"
        assert (await act(alice, "create", room))["code"] == "bad_request"
        await sees_nothing(bob)
