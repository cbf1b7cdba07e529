"""Rooms with owners in the real app against a real server: every room command's happy
path and refusal, what a kick, an invitation and a role look like to the people on screen."""

from __future__ import annotations

from typing import Any

import pytest

from chat_tui.tui.app import ChatApp, create_app
from chat_tui.tui.screens.invitation import InvitationScreen
from tests.conftest import ChatServerUnderTest
from tests.support.raw import Client
from tests.tui.conftest import enter, screen_text, token_for, until, widget_text
from tests.tui.test_rooms import room_list


def title(app: ChatApp) -> str:
    return widget_text(app.chat.title_line)


def members(app: ChatApp) -> str:
    return widget_text(app.chat.members.lines)


async def answer(client: Client, frame: dict[str, Any], *types: str) -> dict[str, Any]:
    """Send ``frame``; its answer of ``types`` or an error, past any event (notices too)."""
    await client.send(frame)
    for _ in range(100):
        reply = await client.recv()
        if reply["type"] in (*types, "error"):
            return reply
    raise AssertionError(f"no answer to {frame}")


async def acked(client: Client, frame: dict[str, Any]) -> int:
    ack = await answer(client, frame, "ack")
    assert ack["type"] == "ack", ack
    seq: int = ack["seq"]
    return seq


async def say(client: Client, room: str, body: str, msg_id: str) -> int:
    return await acked(client, {"type": "send", "room": room, "body": body, "id": msg_id})


@pytest.mark.slow
async def test_an_owner_creates_invites_sets_the_topic_and_hands_on(
    server: ChatServerUnderTest,
) -> None:
    token = await token_for(server, "alice")
    async with server.login("bob") as bob:
        app = create_app(server.url, token=token, rooms=["general"])
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.ready, "the room is shown")
            await enter(pilot, app, "/create #ops --private deploys and [b]incidents[/b]")
            await until(pilot, lambda: app.chat.history.room == "ops", "switched to #ops")
            await until(pilot, lambda: "#ops 🔒" in title(app), "the lock in the title")
            assert "deploys and [b]incidents[/b]" in title(app)
            assert "#ops 🔒" in room_list(app), room_list(app)
            await until(pilot, lambda: "~alice" in members(app), "the owner's mark")
            await until(
                pilot,
                lambda: "alice created the room: deploys and [b]incidents[/b]" in screen_text(app),
                "the create notice",
            )
            await enter(pilot, app, "/invite bob")
            await until(pilot, lambda: "alice invited bob" in screen_text(app), "invited")
            invite = await bob.recv_type("invite")  # bob's first frame since his welcome
            assert invite == {"type": "invite", "room": "ops", "by": "alice", "private": True}
            joined = await answer(bob, {"type": "join", "room": "ops"}, "joined")
            assert joined["type"] == "joined", joined
            await until(pilot, lambda: "bob" in members(app), "bob is a member")
            await enter(pilot, app, "/op bob")
            await until(pilot, lambda: "@bob" in members(app), "bob's op mark")
            assert "alice made bob an op" in screen_text(app)
            await enter(pilot, app, "/topic  the deploy is at 11 ")
            await until(pilot, lambda: "the deploy is at 11" in title(app), "the new topic")
            assert "alice set the topic: the deploy is at 11" in screen_text(app)
            await enter(pilot, app, "/topic")
            await until(
                pilot, lambda: "topic of #ops: the deploy is at 11" in screen_text(app), "shown"
            )
            await enter(pilot, app, "/topic -delete")
            await until(pilot, lambda: "alice cleared the topic" in screen_text(app), "cleared")
            assert "the deploy is at 11" not in title(app)
            await enter(pilot, app, "/deop bob")
            await until(pilot, lambda: "@bob" not in members(app), "bob's mark gone")
            await enter(pilot, app, "/owner bob")
            await until(pilot, lambda: "~bob" in members(app), "bob owns #ops")
            assert "@alice" in members(app), "the old owner is an op"
            assert "alice made bob the owner" in screen_text(app)
            await enter(pilot, app, "/owner bob")
            await until(pilot, lambda: "cannot make bob the owner" in screen_text(app), "refused")


@pytest.mark.slow
async def test_refusals_show_as_command_errors(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "carol")
    async with server.login("alice") as alice:
        await alice.join("general")
        await acked(alice, {"type": "create", "room": "ops", "private": True, "id": "c1"})
        app = create_app(server.url, token=token, rooms=["general"])
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.ready, "the room is shown")
            for line, shown in [
                ("/kick alice spam", "cannot kick alice: forbidden"),
                ("/ban alice", "cannot ban alice: forbidden"),
                ("/unban alice", "cannot unban alice: forbidden"),
                ("/op carol", "cannot make carol an op: forbidden"),
                ("/topic mine now", "cannot set the topic: forbidden"),
                ("/invite nobody-here", "cannot invite nobody-here: not_found"),
                ("/create #general", "cannot create #general: conflict"),
                ("/create #ops", "cannot create #ops: conflict"),
                ("/kick", "usage: /kick nick [reason]"),
            ]:
                await enter(pilot, app, line)
                await until(pilot, lambda shown=shown: shown in screen_text(app), shown)  # type: ignore[misc]
            await enter(pilot, app, "/join #ops")
            await until(pilot, lambda: "cannot join #ops: forbidden" in screen_text(app), "private")
            await acked(alice, {"type": "send", "to": "carol", "body": "hi", "id": "d1"})
            await until(pilot, lambda: "@alice 1" in room_list(app), "the DM")
            await pilot.press("alt+2")
            await enter(pilot, app, "/topic ours")
            await until(
                pilot,
                lambda: "a direct conversation has no owner" in screen_text(app),
                "no topic in a DM",
            )
            assert "Traceback" not in screen_text(app)


@pytest.mark.slow
async def test_a_kicked_user_sees_the_room_grey_out_and_can_come_back(
    server: ChatServerUnderTest,
) -> None:
    token = await token_for(server, "bob")
    async with server.login("alice") as alice:
        await acked(alice, {"type": "create", "room": "dev", "id": "c1"})
        await alice.join("dev")
        app = create_app(server.url, token=token, rooms=["dev"])
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.ready, "the room is shown")
            await until(pilot, lambda: "~alice" in members(app), "alice owns #dev")
            await say(alice, "dev", "before", "a1")
            await until(pilot, lambda: "alice │ before" in screen_text(app), "a message")
            await acked(
                alice,
                {
                    "type": "kick",
                    "room": "dev",
                    "nick": "bob",
                    "reason": "[red]spam[/]",
                    "id": "k1",
                },
            )
            await until(pilot, lambda: "removed by alice: [red]spam[/]" in title(app), "greyed")
            assert "alice removed bob: [red]spam[/]" in screen_text(app)
            shown = " ".join(screen_text(app).split())  # wrapped lines read as one
            told = "you were removed by alice: [red]spam[/]; /join #dev to come back"
            assert shown.index("alice removed bob: [red]spam[/]") < shown.index(told)
            prompt = app.chat.rooms.get_option_at_index(0).prompt
            assert str(prompt) == "#dev" and "strike" in str(prompt.spans[0].style)  # type: ignore[union-attr]
            await enter(pilot, app, "let me back in")
            await until(
                pilot,
                lambda: "you were removed by alice: [red]spam[/]: /join #dev" in screen_text(app),
                "nothing is sent to a room you were removed from",
            )
            assert "let me back in" not in screen_text(app)
            await say(alice, "dev", "after the kick", "a2")
            await enter(pilot, app, "/who")  # a round trip: anything sent would be here by now
            await until(pilot, lambda: "#dev: 1 member" in screen_text(app), "/who")
            assert "after the kick" not in screen_text(app)
            await enter(pilot, app, "/join #dev")
            await until(pilot, lambda: "alice │ after the kick" in screen_text(app), "back")
            assert "removed by" not in title(app)
            prompt = app.chat.rooms.get_option_at_index(0).prompt
            assert "strike" not in str(getattr(prompt, "spans", ""))


@pytest.mark.slow
async def test_a_banned_user_cannot_come_back_until_unbanned(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "bob")
    async with server.login("alice") as alice:
        await acked(alice, {"type": "create", "room": "dev", "id": "c1"})
        app = create_app(server.url, token=token, rooms=["dev"])
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.ready, "the room is shown")
            await acked(alice, {"type": "ban", "room": "dev", "nick": "bob", "id": "b1"})
            await until(pilot, lambda: "removed by alice" in title(app), "greyed")
            assert "alice banned bob" in screen_text(app)
            await enter(pilot, app, "/join #dev")
            await until(pilot, lambda: "cannot join #dev: forbidden" in screen_text(app), "banned")
            await acked(alice, {"type": "unban", "room": "dev", "nick": "bob", "id": "u1"})
            await enter(pilot, app, "/join #dev")
            await until(pilot, lambda: "alice unbanned bob" in screen_text(app), "back in")
            await enter(pilot, app, "/leave")
            await until(pilot, lambda: "dev" not in app.chat.rooms.rooms, "left")


@pytest.mark.slow
async def test_invitations_are_listed_and_answered(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "bob")
    async with server.login("alice") as alice:
        for room in ("hiring", "secret"):
            await acked(alice, {"type": "create", "room": room, "private": True, "id": room})
        await acked(alice, {"type": "invite", "room": "secret", "nick": "bob", "id": "i1"})
        app = create_app(server.url, token=token, rooms=["general"])
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.ready, "the room is shown")
            assert room_list(app) == ["#general", "invitations", "» #secret 🔒"], "from welcome"
            await acked(alice, {"type": "invite", "room": "hiring", "nick": "bob", "id": "i2"})
            await until(pilot, lambda: "» #hiring 🔒" in room_list(app), "a live invitation")
            assert "alice invited you to #hiring" in screen_text(app)
            rooms = app.chat.rooms
            rooms.focus()
            rooms.highlighted = room_list(app).index("» #hiring 🔒")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, InvitationScreen), "asked")
            assert "alice invited you to #hiring 🔒 (a private room)" in widget_text(
                app.screen.query_one("#invitation-question")
            )
            await pilot.press("y")
            await until(pilot, lambda: app.chat.history.room == "hiring", "joined #hiring")
            assert "#hiring 🔒" in room_list(app) and "» #hiring 🔒" not in room_list(app)
            rooms.focus()
            rooms.highlighted = room_list(app).index("» #secret 🔒")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, InvitationScreen), "asked again")
            await pilot.press("n")
            await until(pilot, lambda: "invitations" not in room_list(app), "declined")
            assert "declined the invitation to #secret" in screen_text(app)
            await acked(alice, {"type": "create", "room": "later", "id": "later"})
            await acked(alice, {"type": "invite", "room": "later", "nick": "bob", "id": "i3"})
            await until(pilot, lambda: "» #later" in room_list(app), "a third invitation")
            assert "/join #later accepts, /leave #later declines" in " ".join(
                screen_text(app).split()
            )
            await enter(pilot, app, "/leave #later")
            await until(pilot, lambda: "invitations" not in room_list(app), "/leave declines")
            assert app.chat.history.room == "hiring", "the room shown stays"
    async with server.resume(token) as again:
        refused = await answer(again, {"type": "join", "room": "secret"}, "joined")
        assert refused["type"] == "error" and refused["code"] == "forbidden", "declined"


@pytest.mark.slow
async def test_a_room_left_elsewhere_leaves_the_list_and_its_roles(
    server: ChatServerUnderTest,
) -> None:
    token = await token_for(server, "bob")
    async with server.login("alice") as alice, server.resume(token) as phone:
        await acked(alice, {"type": "create", "room": "dev", "id": "c1"})
        await alice.join("dev")
        app = create_app(server.url, token=token, rooms=["general", "dev"])
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.ready, "the rooms are shown")
            await acked(alice, {"type": "role", "room": "dev", "nick": "bob", "role": "owner",
                                "id": "r1"})  # fmt: skip
            await pilot.press("alt+2")
            await until(pilot, lambda: "~bob" in members(app), "bob owns #dev")
            assert "@alice" in members(app)
            await acked(alice, {"type": "role", "room": "dev", "nick": "alice", "role": "member",
                                "id": "r2"})  # fmt: skip
            await until(pilot, lambda: "alice gave up their role" in screen_text(app), "dropped")
            assert "@alice" not in members(app)
            left = await answer(phone, {"type": "leave", "room": "dev"}, "left")
            assert left["type"] == "left", left
            await until(pilot, lambda: "dev" not in app.chat.rooms.rooms, "gone from the list")
            assert app.chat.history.room == "general", "another room is shown"
            assert room_list(app) == ["#general"]
