"""Direct messages by consent, on a real server over each store: a ``join`` cannot make
anyone a member of a conversation, a first message opens one without revealing the other
person's presence until they answer, and ``block`` refuses someone's messages and hides
your presence from them. Each test asserts what the victim and the people around see.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from chat_server.server import start
from tests.conftest import ChatServerUnderTest, Client, ServerFactory, in_process_settings
from tests.scale.cluster import PostgresSchema
from tests.server.each_store import STORES, on_store

Frame = dict[str, Any]


@pytest.fixture(params=STORES)
async def server(
    request: pytest.FixtureRequest, make_server: ServerFactory
) -> AsyncIterator[ChatServerUnderTest]:
    async with on_store(request, make_server) as running:
        yield running


async def ask(client: Client, frame: Frame, *types: str) -> Frame:
    """A request's direct answer (matched by its ref), keeping any event that came first."""
    frame = {**frame, "ref": frame.get("ref", "r")}
    await client.send(frame)
    while True:
        reply = await client.recv()
        if reply.get("ref") == frame["ref"] and reply["type"] in (*types, "error"):
            return reply


async def events(client: Client, timeout: float = 0.3) -> list[Frame]:
    """Every frame that arrives within ``timeout`` of the last one (where a test expects
    none, it asks after a frame that the same server step sent to someone else)."""
    frames: list[Frame] = []
    while True:
        try:
            frames.append(await client.recv(timeout=timeout))
        except TimeoutError:
            return frames


def about(frames: list[Frame], nick: str) -> list[Frame]:
    """The presence and typing frames that concern ``nick``."""
    return [f for f in frames if f["type"] in ("presence", "typing") and f["nick"] == nick]


async def welcome(server: ChatServerUnderTest, token: str) -> Frame:
    """The welcome a new login with ``token`` gets."""
    async with server.client() as raw:
        await raw.send({"type": "hello", "token": token})
        return await raw.recv_type("welcome")


async def welcome_rooms(server: ChatServerUnderTest, token: str) -> list[str]:
    """The rooms a new login with ``token`` is told it is a member of."""
    return [entry["room"] for entry in (await welcome(server, token))["rooms"]]


async def test_a_join_cannot_open_a_conversation_nor_make_anyone_a_member(
    server: ChatServerUnderTest,
) -> None:
    async with (
        server.login("victim") as victim,
        server.login("stranger") as stranger,
        server.login("bystander") as bystander,
    ):
        await victim.join("general")
        await bystander.join("general")
        refused = await ask(stranger, {"type": "join", "room": "dm:stranger:victim", "ref": "j"})
        assert (refused["type"], refused["code"], refused["ref"]) == ("error", "not_found", "j")
        assert "victim" in refused["message"]
        # nothing reached the victim, nobody became a member of anything
        assert about(await events(victim), "stranger") == []
        for token in (victim.token, stranger.token):
            assert "dm:stranger:victim" not in await welcome_rooms(server, token)
        refused = await ask(stranger, {"type": "history", "room": "dm:stranger:victim"})
        assert refused["code"] == "not_member"
        # the room is still the bystander's and the victim's as before
        await bystander.say("general", "still here", "b1")
        message = await victim.recv_type("message")
        assert (message["nick"], message["body"]) == ("bystander", "still here")


async def test_a_first_message_opens_the_conversation_but_not_the_victims_presence(
    server: ChatServerUnderTest,
) -> None:
    dm = "dm:stranger:victim"
    async with server.login("bystander") as bystander, server.login("stranger") as stranger:
        await bystander.join("general")
        async with server.login("victim") as victim:
            await victim.join("general")
            await events(bystander)
            ack = await ask(
                stranger, {"type": "send", "to": "victim", "body": "hi there", "id": "s1"}, "ack"
            )
            assert (ack["type"], ack["room"], ack["seq"]) == ("ack", dm, 1)
            message = await victim.recv_type("message")
            assert (message["room"], message["body"]) == (dm, "hi there")
            joined = (await stranger.join(dm))[0]
            assert sorted(joined["members"]) == ["stranger", "victim"]
            assert joined["online"] == ["stranger"]  # the victim is online, and not shown
            await victim.join(dm)  # reading is not writing, nor is typing
            await victim.send({"type": "read", "room": dm, "seq": 1})
            await victim.send({"type": "typing", "room": dm})
            assert about(await events(stranger), "victim") == []
        # the victim goes and comes back: the bystander sees it, the stranger does not
        seen = await bystander.recv_type("presence")
        assert (seen["nick"], seen["status"]) == ("victim", "offline")
        async with server.resume(victim.token) as victim:
            seen = await bystander.recv_type("presence")
            assert (seen["nick"], seen["status"]) == ("victim", "online")
            assert about(await events(stranger), "victim") == []
            joined = (await stranger.join(dm))[0]
            assert joined["online"] == ["stranger"]

            # the victim answers: from now on the stranger sees the victim's presence
            await victim.join(dm)
            await victim.say(dm, "who are you?", "v1")
            message = await stranger.recv_type("message")  # then, and only then:
            seen = await stranger.recv_type("presence")
            assert (message["nick"], message["body"]) == ("victim", "who are you?")
            assert (seen["room"], seen["nick"], seen["status"]) == (dm, "victim", "online")
            await victim.send({"type": "typing", "room": dm})
            assert (await stranger.recv_type("typing"))["nick"] == "victim"
            joined = (await stranger.join(dm))[0]
            assert sorted(joined["online"]) == ["stranger", "victim"]
        seen = await stranger.recv_type("presence")
        assert (seen["room"], seen["nick"], seen["status"]) == (dm, "victim", "offline")


async def test_a_block_refuses_messages_and_hides_presence_until_unblocked(
    server: ChatServerUnderTest,
) -> None:
    dm = "dm:stranger:victim"
    async with server.login("stranger") as stranger, server.login("bystander") as bystander:
        async with server.login("victim") as victim:
            for client in (stranger, bystander, victim):
                await client.join("general")
            await ask(stranger, {"type": "send", "to": "victim", "body": "psst", "id": "s1"}, "ack")
            await victim.say(dm, "go away", "v1")
            await stranger.join(dm)
            for client in (stranger, bystander, victim):
                await events(client)

            answer = await ask(victim, {"type": "block", "nick": "STRANGER", "ref": "b"}, "blocked")
            assert answer == {"type": "blocked", "nick": "stranger", "ref": "b"}

            # the stranger's messages are refused, by nick and by room: nothing reaches the
            # victim, nothing is stored
            for frame in (
                {"type": "send", "to": "victim", "body": "let me in", "id": "s2"},
                {"type": "send", "room": dm, "body": "let me in", "id": "s3"},
            ):
                refused = await ask(stranger, frame)
                assert (refused["type"], refused["code"]) == ("error", "forbidden")
                assert "victim" in refused["message"]
            await stranger.send({"type": "typing", "room": dm})
            assert await events(victim) == []
            page = await ask(victim, {"type": "history", "room": dm}, "history")
            assert [m["body"] for m in page["messages"]] == ["psst", "go away"]

            # the stranger still reads the conversation, without the victim's presence,
            # and sees the victim neither online nor typing in the room they share
            joined = (await stranger.join(dm))[0]
            assert joined["online"] == ["stranger"]
            joined = (await stranger.join("general"))[0]
            assert sorted(joined["online"]) == ["bystander", "stranger"]
            await victim.send({"type": "typing", "room": "general"})
            assert (await bystander.recv_type("typing"))["nick"] == "victim"
            await victim.send({"type": "typing", "room": dm})
            # the victim cannot write to whom they blocked either
            refused = await ask(victim, {"type": "send", "to": "stranger", "body": "x", "id": "v2"})
            assert (refused["code"], "unblock" in refused["message"]) == ("forbidden", True)
        seen = await bystander.recv_type("presence")
        assert (seen["room"], seen["nick"], seen["status"]) == ("general", "victim", "offline")
        async with server.resume(victim.token) as victim:
            seen = await bystander.recv_type("presence")
            assert (seen["room"], seen["nick"], seen["status"]) == ("general", "victim", "online")
            await victim.join("general")  # as a client does after a welcome
            await victim.join(dm)
            assert about(await events(stranger), "victim") == []

            answer = await ask(victim, {"type": "unblock", "nick": "stranger"}, "unblocked")
            assert (answer["type"], answer["nick"]) == ("unblocked", "stranger")
            ack = await ask(
                stranger, {"type": "send", "to": "victim", "body": "sorry", "id": "s4"}, "ack"
            )
            assert ack["type"] == "ack"
            message = await victim.recv_type("message")
            assert (message["nick"], message["body"]) == ("stranger", "sorry")
            joined = (await stranger.join(dm))[0]
            assert sorted(joined["online"]) == ["stranger", "victim"]
        gone = [await stranger.recv_type("presence") for _ in range(2)]
        assert {(f["room"], f["nick"], f["status"]) for f in gone} == {
            (dm, "victim", "offline"),
            ("general", "victim", "offline"),
        }


async def test_block_answers_and_errors(server: ChatServerUnderTest) -> None:
    async with server.login("alice") as alice, server.login("bob"):
        for _ in range(2):  # blocking is idempotent
            answer = await ask(alice, {"type": "block", "nick": "Bob"}, "blocked")
            assert answer == {"type": "blocked", "nick": "bob", "ref": "r"}
        for _ in range(2):
            answer = await ask(alice, {"type": "unblock", "nick": "bob"}, "unblocked")
            assert answer == {"type": "unblocked", "nick": "bob", "ref": "r"}
        for frame, code in (
            ({"type": "block", "nick": "ALICE"}, "bad_request"),
            ({"type": "unblock", "nick": "alice"}, "bad_request"),
            ({"type": "block", "nick": "nobody"}, "not_found"),
            ({"type": "unblock", "nick": "nobody"}, "not_found"),
            ({"type": "block", "nick": "no body"}, "invalid_name"),
            ({"type": "block"}, "bad_request"),
        ):
            refused = await ask(alice, frame)
            assert (refused["type"], refused["code"]) == ("error", code), frame
        answer = (await alice.join("general"))[0]
        assert answer["members"] == ["alice"]  # still connected and served


async def test_welcome_lists_the_blocks_after_a_reconnect(server: ChatServerUnderTest) -> None:
    async with (
        server.login("alice") as alice,
        server.login("Zed"),
        server.login("bob"),
        server.login("Carol"),
    ):
        assert (await welcome(server, alice.token))["blocked"] == []
        for nick in ("zed", "BOB", "carol"):
            await ask(alice, {"type": "block", "nick": nick}, "blocked")
        first = await welcome(server, alice.token)
        assert first["blocked"] == ["bob", "Carol", "Zed"]  # as spelled, case-insensitive order
        assert first["limits"]["max_blocks"] == server.settings.max_blocks_per_user
        await ask(alice, {"type": "unblock", "nick": "carol"}, "unblocked")
        assert (await welcome(server, alice.token))["blocked"] == ["bob", "Zed"]
    async with server.login("bob") as bob:  # the blocked person is told nothing of it
        assert (await welcome(server, bob.token))["blocked"] == []


async def test_blocking_hides_the_blocker_at_once_and_unblocking_shows_them(
    server: ChatServerUnderTest,
) -> None:
    dm = "dm:alice:bob"
    async with (
        server.login("alice") as alice,
        server.login("bob") as bob,
        server.resume(bob.token) as bob_too,
        server.login("carol") as carol,
    ):
        for client in (alice, bob, bob_too, carol):
            await client.join("general")
        await ask(alice, {"type": "send", "to": "bob", "body": "hi", "id": "a1"}, "ack")
        await bob.join(dm)
        async with server.resume(bob.token) as bob_idle:  # in no room yet
            for client in (alice, bob, bob_too, carol):
                await events(client)

            await ask(alice, {"type": "block", "nick": "bob"}, "blocked")
            # bob's connections see alice go, in the rooms they are in; carol sees nothing
            for client in (bob, bob_too):
                gone = about(await events(client), "alice")
                assert {(f["room"], f["status"]) for f in gone} == {
                    ("general", "offline"),
                    (dm, "offline"),
                }
            assert await events(bob_idle) == []
            assert await events(carol) == []
            joined = (await bob.join("general"))[0]
            assert sorted(joined["online"]) == ["bob", "carol"]  # as a new join says too

            # blocking again changes nothing for anyone
            await ask(alice, {"type": "block", "nick": "bob"}, "blocked")
            assert about(await events(bob), "alice") == []

            await ask(alice, {"type": "unblock", "nick": "bob"}, "unblocked")
            for client in (bob, bob_too):
                back = about(await events(client), "alice")
                assert {(f["room"], f["status"]) for f in back} == {
                    ("general", "online"),
                    (dm, "online"),
                }
            assert await events(bob_idle) == []
            assert await events(carol) == []

        # bob blocked alice himself: her block and unblock change general only, never
        # the conversation where his own block hides her
        await ask(bob, {"type": "block", "nick": "alice"}, "blocked")
        await ask(alice, {"type": "block", "nick": "bob"}, "blocked")
        gone = about(await events(bob), "alice")
        assert [(f["room"], f["status"]) for f in gone] == [("general", "offline")]
        await ask(alice, {"type": "unblock", "nick": "bob"}, "unblocked")
        back = about(await events(bob), "alice")
        assert [(f["room"], f["status"]) for f in back] == [("general", "online")]
        assert await events(carol) == []


async def test_blocks_are_capped(make_server: ServerFactory) -> None:
    server: ChatServerUnderTest = await make_server(max_blocks_per_user=2)
    async with server.login("alice") as alice:
        for nick in ("bob", "carol", "dave"):
            async with server.login(nick):
                pass
        for nick in ("bob", "carol", "bob"):  # blocking again is not one more
            await ask(alice, {"type": "block", "nick": nick}, "blocked")
        refused = await ask(alice, {"type": "block", "nick": "dave"}, "blocked")
        assert (refused["type"], refused["code"]) == ("error", "too_large")
        assert "unblock" in refused["message"]
        await ask(alice, {"type": "unblock", "nick": "bob"}, "unblocked")
        await ask(alice, {"type": "block", "nick": "dave"}, "blocked")
        first = await welcome(server, alice.token)
        assert (first["blocked"], first["limits"]["max_blocks"]) == (["carol", "dave"], 2)


async def test_a_block_reaches_the_blocked_person_on_another_node(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    schema = PostgresSchema(database_url)
    await schema.create()
    prefix = f"test-block-{uuid.uuid4().hex[:8]}"
    nodes = []
    try:
        for name in ("a", "b"):
            settings = in_process_settings(
                db_path=tmp_path / f"{name}.db",
                database_url=schema.url,
                redis_url=redis_url,
                redis_prefix=prefix,
            )
            running = await start(settings)
            nodes.append(ChatServerUnderTest(running, running.ctx.settings))
        node_a, node_b = nodes
        async with (
            node_a.login("alice") as alice,
            node_b.login("bob") as bob,
            node_b.login("carol") as carol,
        ):
            for client in (alice, bob, carol):
                await client.join("general")
            for client in (alice, bob, carol):
                await events(client)
            await ask(alice, {"type": "block", "nick": "bob"}, "blocked")
            gone = await bob.recv_type("presence")
            assert (gone["room"], gone["nick"], gone["status"]) == ("general", "alice", "offline")
            await ask(alice, {"type": "unblock", "nick": "bob"}, "unblocked")
            back = await bob.recv_type("presence")
            assert (back["room"], back["nick"], back["status"]) == ("general", "alice", "online")
            assert await events(carol) == []
    finally:
        for node in reversed(nodes):
            await node.running.stop()
        await schema.drop()
        shared = redis.asyncio.Redis.from_url(redis_url)
        keys = [key async for key in shared.scan_iter(f"{prefix}:*")]
        if keys:
            await shared.delete(*keys)
        await shared.aclose()
