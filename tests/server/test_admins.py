"""Server admins on a real server over each store: ``welcome.admin``, and an admin's delete of
someone else's message as the room sees it, live and in pages; a non-admin's is refused, and
a revocation holds from the admin's next delete on, while they stay connected."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from tests.conftest import ChatServerUnderTest, ServerFactory
from tests.server.each_store import STORES, on_store
from tests.server.test_edits import Frame, delete, edit, page

SPAM = "buy cheap pills"


@pytest.fixture(params=STORES)
async def server(
    request: pytest.FixtureRequest, make_server: ServerFactory
) -> AsyncIterator[ChatServerUnderTest]:
    async with on_store(request, make_server) as running:
        yield running


async def hello(server: ChatServerUnderTest, **credentials: str) -> Frame:
    """The welcome of a hello (a password one signs the nick up)."""
    async with server.client() as client:
        welcome = await client.request({"type": "hello", **credentials}, "welcome")
    assert welcome["type"] == "welcome", welcome
    return welcome


async def set_admin(server: ChatServerUnderTest, nick: str, admin: bool = True) -> None:
    """What ``chat-server users admin NICK [--revoke]`` does, on the running server's store."""
    store = server.running.ctx.store
    user = await store.user_by_nick(nick)
    assert user is not None
    await store.set_admin(user.id, admin)


async def test_welcome_says_admin_for_an_admin_alone(server: ChatServerUnderTest) -> None:
    first = await hello(server, nick="alice", password="secret-pw")
    assert "admin" not in first
    await set_admin(server, "alice")
    assert (await hello(server, nick="alice", password="secret-pw"))["admin"] is True
    assert (await hello(server, token=first["token"]))["admin"] is True
    assert "admin" not in await hello(server, nick="bob", password="secret-pw")
    await set_admin(server, "alice", False)
    assert "admin" not in await hello(server, token=first["token"])


async def test_an_admin_deletes_anyones_message_and_the_room_sees_it(
    server: ChatServerUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    await hello(server, nick="alice", password="secret-pw")
    await set_admin(server, "alice")
    async with (
        server.login("alice") as alice,
        server.login("bob") as bob,
        server.login("carol") as carol,
        server.login("mallory") as mallory,
    ):
        for client in (alice, bob, carol, mallory):
            await client.join("general")
        await bob.say("general", SPAM, "m1")
        assert (await carol.recv_type("message"))["body"] == SPAM
        # a member who is no admin: refused, and the room's log does not move
        refused = await delete(mallory, "general", 1, "x1")
        assert (refused["type"], refused["code"]) == ("error", "forbidden")
        # an admin edits only their own words
        assert (await edit(alice, "general", 1, "nicer", "e1"))["code"] == "forbidden"
        with caplog.at_level(logging.INFO, logger="chat_server"):
            ack = await delete(alice, "general", 1, "d1", reason="spam")
            assert (ack["type"], ack["seq"]) == ("ack", 2)
            live = await carol.recv_type("delete")  # the next entry carol gets: seq 2
        assert live == {
            "type": "delete", "room": "general", "seq": 2, "nick": "alice", "ts": ack["ts"],
            "id": "d1", "target": 1, "reason": "spam",
        }  # fmt: skip
        assert (await bob.recv_type("delete"))["target"] == 1
        message, entry = await page(carol, "general")
        assert (message["seq"], message["nick"], message["deleted"], message["body"]) == (
            1, "bob", True, "",
        )  # fmt: skip
        assert (entry["kind"], entry["nick"], entry["target"]) == ("delete", "alice", 1)
        # the server's log says who deleted whose message where, never what it said
        assert "moderator alice deleted bob's message 1 in general (seq 2)" in caplog.text
        assert SPAM not in caplog.text
        # an admin deletes only where they are a member
        async with server.login("dave") as dave:
            await dave.join("elsewhere")
            await dave.say("elsewhere", "mine", "m1")
            refused = await delete(alice, "elsewhere", 1, "d2")
            assert refused["code"] == "not_member"
            [kept] = await page(dave, "elsewhere")
            assert kept["body"] == "mine"


async def test_a_revoked_admin_is_refused_at_their_next_delete(
    server: ChatServerUnderTest,
) -> None:
    await hello(server, nick="alice", password="secret-pw")
    await set_admin(server, "alice")
    async with (
        server.login("alice") as alice,
        server.login("bob") as bob,
        server.login("carol") as carol,
    ):
        for client in (carol, alice, bob):  # carol made the room: its owner, not alice
            await client.join("general")
        await bob.say("general", "one", "m1")
        await bob.say("general", "two", "m2")
        assert (await delete(alice, "general", 1, "d1"))["type"] == "ack"
        await set_admin(server, "alice", False)  # `users admin alice --revoke`, meanwhile
        refused = await delete(alice, "general", 2, "d2")
        assert (refused["type"], refused["code"]) == ("error", "forbidden")
        await alice.say("general", "mine", "m3")  # still a member, and their own go
        assert (await delete(alice, "general", 4, "d3"))["type"] == "ack"
        entries = await page(carol, "general")
        assert [(e["seq"], e.get("kind", "message"), e["body"]) for e in entries] == [
            (1, "message", ""), (2, "message", "two"), (3, "delete", ""),
            (4, "message", ""), (5, "delete", ""),
        ]  # fmt: skip
