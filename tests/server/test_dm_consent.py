"""Direct messages by consent, on a real server over each store: a ``join`` cannot make
anyone a member of a conversation, a first message opens one without revealing the other
person's presence until they answer, and ``block`` refuses someone's messages and hides
your presence from them. Each test asserts what the victim and the people around see.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chat_server.server import start
from tests.conftest import ChatServerUnderTest, Client, ServerFactory, in_process_settings
from tests.scale.cluster import PostgresSchema

Frame = dict[str, Any]


@pytest.fixture(params=["sqlite", "postgres"])
async def server(
    request: pytest.FixtureRequest, make_server: ServerFactory
) -> AsyncIterator[ChatServerUnderTest]:
    if request.param == "sqlite":
        yield await make_server()
        return
    schema = PostgresSchema(request.getfixturevalue("database_url"))
    await schema.create()
    tmp_path: Path = request.getfixturevalue("tmp_path")
    # started here, not by make_server (whose teardown comes after this one's): the server
    # must be stopped before its schema is dropped, or the drop deadlocks with its queries
    running = await start(
        in_process_settings(db_path=tmp_path / "unused.db", database_url=schema.url)
    )
    try:
        yield ChatServerUnderTest(running, running.ctx.settings)
    finally:
        await running.stop()
        await schema.drop()


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


async def welcome_rooms(server: ChatServerUnderTest, token: str) -> list[str]:
    """The rooms a new login with ``token`` is told it is a member of."""
    async with server.client() as raw:
        await raw.send({"type": "hello", "token": token})
        welcome = await raw.recv_type("welcome")
    return [entry["room"] for entry in welcome["rooms"]]


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
