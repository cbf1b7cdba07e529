"""A token revoked anywhere (another process on the same database: the command line, or
another node) closes its connections at once, not at the next full sweep; the removal of a
connected user does the same, and the user's rooms carry on without them."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from websockets.exceptions import ConnectionClosed

from chat_server.auth import token_hash
from chat_server.cli import main
from tests.conftest import ChatServerUnderTest, Client, ServerFactory
from tests.support.raw import Frame


async def test_a_token_deleted_by_another_process_closes_its_connections(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    # the full sweep (expiry) never runs in this test: only the revocation poll can close
    server = await make_server(revocation_check=1000.0, revocation_poll=0.05)
    async with server.login("alice") as alice, server.login("bob") as bob:
        await alice.join("general")
        await bob.join("general")
        with sqlite3.connect(tmp_path / "chat.db") as db:  # as `chat-server tokens revoke`
            db.execute("DELETE FROM tokens WHERE hash = ?", (token_hash(alice.token),))
        async with asyncio.timeout(5):
            await alice.ws.wait_closed()
        assert alice.ws.close_code == 1008
        assert alice.ws.close_reason == "token revoked"
        # bob's connection is untouched and still chats
        ack = await bob.say("general", "still here", "b1")
        assert ack["seq"] == 1


async def remove_user(server: ChatServerUnderTest, nick: str) -> None:
    """``chat-server users remove NICK`` on the server's database, from another process's
    point of view: its own store, its own event loop (in a thread)."""
    args = ["users", "remove", nick, "--db", str(server.settings.db_path)]
    result = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert result.exit_code == 0, result.output


async def frames_until_closed(client: Client) -> list[Frame]:
    """Every frame the client gets until the server closes its connection."""
    frames: list[Frame] = []
    with pytest.raises(ConnectionClosed):
        while True:
            frames.append(await client.recv(timeout=10.0))
    return frames


def bodies(frames: list[Frame]) -> list[str]:
    return [frame["body"] for frame in frames if frame["type"] == "message"]


async def test_removing_a_connected_user_closes_them_and_the_room_carries_on(
    make_server: ServerFactory,
) -> None:
    server = await make_server()
    async with (
        server.login("alice") as alice,
        server.login("bob") as bob,
        server.login("carol") as carol,
    ):
        for client in (alice, bob, carol):
            await client.join("general")
        await remove_user(server, "bob")
        await alice.say("general", "right after the removal", "a1")
        seen_by_bob = await frames_until_closed(bob)
        assert (bob.ws.close_code, bob.ws.close_reason) == (1008, "token revoked")
        await alice.say("general", "once bob is gone", "a2")
        assert [(await carol.recv_type("message"))["body"] for _ in range(2)] == [
            "right after the removal",
            "once bob is gone",
        ]
        assert "once bob is gone" not in bodies(seen_by_bob)
        # nor can bob come back for it: his token and his password are dead
        for hello in ({"token": bob.token}, {"nick": "bob", "password": "secret-pw"}):
            async with server.client() as again:
                reply = await again.request({"type": "hello", **hello}, "welcome")
                assert (reply["type"], reply["code"]) == ("error", "auth_failed"), reply
        # the room carries on for the others
        ack = await carol.say("general", "still here", "c1")
        assert ack["seq"] == 3
        while (await alice.recv_type("message"))["body"] != "still here":
            pass  # alice's own messages, as the room saw them


async def test_an_expired_token_closes_its_connections_and_only_those(
    make_server: ServerFactory,
) -> None:
    """``--token-ttl``: a connection whose token expires is closed (the client logs in
    again); one whose token does not expire (made before, without a ttl) chats on."""
    server = await make_server(token_ttl=1.5, revocation_check=0.1)
    store = server.running.store
    bob = await store.create_user("bob", "!")  # no password: a token only
    await store.add_token(bob.id, token_hash("bob-forever"), None)  # as `users add` made it
    async with server.login("alice") as alice, server.resume("bob-forever") as bob_client:
        await alice.join("general")
        await bob_client.join("general")
        async with asyncio.timeout(10):
            await alice.ws.wait_closed()
        assert (alice.ws.close_code, alice.ws.close_reason) == (1008, "token expired")
        ack = await bob_client.say("general", "still here", "b1")
        assert ack["seq"] == 1
    async with server.login("alice") as again:  # a password login: a new token
        joined, _ = await again.join("general")
        assert joined["members"] == ["alice", "bob"]
