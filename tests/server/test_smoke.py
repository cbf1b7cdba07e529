"""The shortest path a user takes: two people, one room, one message."""

from __future__ import annotations

from tests.conftest import ChatServerUnderTest


async def test_two_users_chat(server: ChatServerUnderTest) -> None:
    async with server.login("alice") as alice, server.login("bob") as bob:
        await alice.join("general")
        await bob.join("general")
        ack = await alice.say("general", "hello bob", "m1")
        assert ack["seq"] == 1
        own = await alice.recv_type("message")
        assert (own["seq"], own["body"]) == (1, "hello bob")
        seen = await bob.recv_type("message")
        assert (seen["nick"], seen["body"], seen["seq"]) == ("alice", "hello bob", 1)
