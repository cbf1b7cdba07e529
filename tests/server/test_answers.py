"""Replies, threads and reactions on a real server over each store: what the author, a
bystander and a member who was offline see, live and in pages; the edit window."""

from __future__ import annotations

from typing import Any

from tests.conftest import ChatServerUnderTest, Client, ServerFactory
from tests.server.test_edits import ask, delete, edit, page
from tests.server.test_edits import server as server  # the fixture, for this module

Frame = dict[str, Any]


async def react(client: Client, target: int, emoji: str, key: str, **extra: Any) -> Frame:
    frame = {"type": "react", "room": "general", "target": target, "emoji": emoji, "id": key}
    return await ask(client, {**frame, **extra}, "ack")


async def reply(client: Client, target: int, body: str, key: str) -> Frame:
    frame = {"type": "send", "room": "general", "body": body, "id": key, "reply_to": target}
    return await ask(client, frame, "ack")


async def test_welcome_says_protocol_2_and_the_edit_window(make_server: ServerFactory) -> None:
    default = await make_server()
    async with default.client() as raw:
        await raw.send({"type": "hello", "nick": "alice", "password": "secret-pw"})
        welcome = await raw.recv()
    assert (welcome["protocol"], welcome["limits"]["edit_window_s"]) == (2, None)
    assert "admin" not in welcome
    windowed = await make_server(
        db_path=default.settings.db_path.with_name("w.db"), edit_window=0.0
    )
    async with windowed.client() as raw:
        await raw.send({"type": "hello", "nick": "alice", "password": "secret-pw"})
        assert (await raw.recv())["limits"]["edit_window_s"] == 0.0
    async with windowed.login("alice") as alice:
        await alice.join("general")
        await alice.say("general", "typo", "m1")
        late = await edit(alice, "general", 1, "fixed", "e1")
        assert (late["code"], late["message"]) == (
            "forbidden",
            "messages can be edited for 0 s only",
        )
        assert (await delete(alice, "general", 1, "d1"))["type"] == "ack"


async def test_a_reply_reaches_the_room_with_its_thread(server: ChatServerUnderTest) -> None:
    async with server.login("alice") as alice, server.login("bob") as bob:
        await alice.join("general")
        await bob.join("general")
        await alice.say("general", "lunch?", "m1")
        await bob.recv_type("message")
        assert (await alice.recv_type("message"))["seq"] == 1  # her own
        ack = await reply(bob, 1, "yes", "r1")
        assert ack["seq"] == 2
        live = await alice.recv_type("message")
        assert (live["body"], live["reply_to"], live["thread"], live["nick"]) == (
            "yes",
            1,
            1,
            "bob",
        )
        await reply(alice, 2, "12:30", "r2")
        await alice.say("general", "unrelated", "m2")
        thread = await page(bob, "general", thread=2)
        assert [(m["seq"], m.get("thread")) for m in thread] == [(1, None), (2, 1), (3, 1)]
        assert (thread[0]["replies"], thread[0]["version"]) == (2, 3)
        missing = await reply(alice, 9, "to nothing", "r3")
        assert (missing["code"], missing["ref"]) == ("not_found", "r")
        nothing = await ask(bob, {"type": "history", "room": "general", "thread": 9}, "history")
        assert nothing["code"] == "not_found"
        both = {"type": "history", "room": "general", "thread": 1, "before": 3}
        assert (await ask(bob, both, "history"))["code"] == "bad_request"
        around = await page(bob, "general", around=2, limit=2)
        assert [m["seq"] for m in around] == [1, 2]


async def test_reactions_live_in_pages_and_after_a_reconnect(server: ChatServerUnderTest) -> None:
    async with server.login("alice") as alice, server.login("bob") as bob:
        await alice.join("general")
        await bob.join("general")
        await alice.say("general", "shipped", "m1")
        await bob.recv_type("message")
        ack = await react(bob, 1, " 👍 ", "k1")
        assert ack["code"] == "bad_request"  # whitespace is refused, not trimmed
        ack = await react(bob, 1, "👍", "k1")
        live = await alice.recv_type("react")
        assert live == {
            "type": "react", "room": "general", "seq": 2, "nick": "bob", "ts": ack["ts"],
            "id": "k1", "target": 1, "emoji": "👍",
        }  # fmt: skip
        repeated = await react(bob, 1, "👍", "k2")
        assert (repeated["type"], repeated["seq"]) == ("ack", 2)  # acked, nothing stored
        await react(alice, 1, "🎉", "k3")
        taken = await react(bob, 1, "👍", "k4", remove=True)
        assert (await alice.recv_type("react"))["seq"] == 3
        removed = await alice.recv_type("react")
        assert (removed["seq"], removed["remove"]) == (taken["seq"], True)
    async with server.login("carol") as carol:
        _, backlog = await carol.join("general")
        message = backlog["messages"][0]
        assert message["reactions"] == [{"emoji": "🎉", "nicks": ["alice"]}]
        assert message["version"] == 4
        too_long = await react(carol, 1, "x" * 33, "c1")
        assert too_long["code"] == "bad_request"


async def test_twenty_emoji_on_one_message_and_the_send_budget(
    make_server: ServerFactory,
) -> None:
    running = await make_server(rate_per_second=0.01, rate_burst=25)
    async with running.login("alice") as alice, running.login("bob") as bob:
        await alice.join("general")
        await bob.join("general")
        await alice.say("general", "vote", "m1")
        for i in range(20):
            assert (await react(alice, 1, f":e{i}:", f"k{i}"))["type"] == "ack"
        full = await react(alice, 1, ":e20:", "k20")
        assert full["code"] == "too_large"
        # reactions spent alice's send tokens (1 message + 21 reactions of 25)
        for i in range(3):
            await react(alice, 1, f":e{i}:", f"again{i}", remove=True)
        assert (await react(alice, 1, ":e5:", "k99", remove=True))["code"] == "rate_limited"
        # bob, a bystander, reacts and sends as usual
        assert (await react(bob, 1, ":e7:", "b1"))["type"] == "ack"
        await bob.say("general", "still here", "b2")
        assert (await alice.recv_type("message"))["body"] == "still here"
