"""Changing a password and logging out everywhere: the user's other connections close, on
every server, and nobody else notices."""

from __future__ import annotations

import asyncio

from chat_server.ratelimit import Allowance
from tests.conftest import ChatServerUnderTest, Client, ServerFactory


async def closed(client: Client) -> tuple[int | None, str | None]:
    async with asyncio.timeout(5):
        await client.ws.wait_closed()
    return client.ws.close_code, client.ws.close_reason


async def refused_token(server: ChatServerUnderTest, token: str) -> None:
    async with server.client() as again:
        reply = await again.request({"type": "hello", "token": token}, "welcome")
        assert (reply["type"], reply["code"]) == ("error", "auth_failed"), reply


async def test_a_password_change_keeps_this_session_and_ends_the_others(
    server: ChatServerUnderTest,
) -> None:
    async with (
        server.login("alice", "old-pw") as here,
        server.login("alice", "old-pw") as laptop,
        server.login("bob") as bob,
    ):
        for client in (here, laptop, bob):
            await client.join("general")
        reply = await here.request(
            {"type": "password", "old": "old-pw", "new": "new-pw", "ref": "p"},
            "password_changed",
        )
        assert reply == {"type": "password_changed", "ref": "p"}
        assert await closed(laptop) == (1008, "password changed")
        await refused_token(server, laptop.token)
        # this connection carries on, and so does bob, who saw alice as usual
        await here.say("general", "changed it", "a1")
        message = await bob.recv_type("message")
        assert message["body"] == "changed it"
    async with server.client() as old:
        reply = await old.request(
            {"type": "hello", "nick": "alice", "password": "old-pw"}, "welcome"
        )
        assert reply["code"] == "auth_failed"
    async with server.login("alice", "new-pw"):
        pass


async def test_a_wrong_old_password_is_refused_and_guessing_is_slowed(
    make_server: ServerFactory,
) -> None:
    server = await make_server(bad_frames=Allowance(100, 20.0))
    async with server.login("alice", "right-pw") as alice:
        codes = []
        for n in range(4):
            guess = {"type": "password", "old": f"guess-{n}", "new": "x-pw", "ref": f"g{n}"}
            reply = await alice.request(guess, "password_changed")
            codes.append(reply["code"])
            if reply["code"] == "rate_limited":
                assert reply["retry_after"] > 0
        assert codes == ["forbidden", "forbidden", "forbidden", "rate_limited"]
    async with server.login("alice", "right-pw") as again:  # unchanged
        # the tries are the user's, not the connection's: a new one brings no more
        guess = {"type": "password", "old": "guess-4", "new": "x-pw", "ref": "g4"}
        reply = await again.request(guess, "password_changed")
        assert reply["code"] == "rate_limited" and reply["retry_after"] > 0, reply


async def test_logout_everywhere_closes_every_connection_and_revokes_every_token(
    server: ChatServerUnderTest,
) -> None:
    async with (
        server.login("alice") as phone,
        server.login("alice") as laptop,
        server.login("bob") as bob,
    ):
        await phone.send({"type": "logout", "all": True})
        assert await closed(phone) == (1000, "logged out")
        assert await closed(laptop) == (1000, "logged out everywhere")
        for token in (phone.token, laptop.token):
            await refused_token(server, token)
        await bob.join("general")
        assert (await bob.say("general", "bob is fine", "b1"))["seq"] == 1
