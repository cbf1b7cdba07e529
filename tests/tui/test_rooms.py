"""Rooms, direct messages and every slash command in the real app against a real server."""

from __future__ import annotations

import pytest

from chat_tui.tui.app import create_app
from tests.conftest import ChatServerUnderTest
from tests.tui.conftest import enter, screen_text, seed, token_for, until, widget_text


def room_list(app: object) -> list[str]:
    rooms = app.chat.rooms  # type: ignore[attr-defined]
    return [str(rooms.get_option_at_index(i).prompt) for i in range(rooms.option_count)]


@pytest.mark.slow
async def test_switching_rooms_and_unread_counts(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "alice")
    await seed(server, "carol", "general", ["general news"])
    app = create_app(server.url, token=token, rooms=["general", "random"])
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the rooms are shown")
        assert app.chat.history.room == "general"
        assert "carol │ general news" in screen_text(app)
        assert room_list(app) == ["#general", "#random"]
        await seed(server, "bob", "random", ["over here", "and here"])
        await until(pilot, lambda: room_list(app)[1] == "#random 2", "two unread in #random")
        await pilot.press("alt+down")
        assert app.chat.history.room == "random"
        assert "bob │ over here" in screen_text(app)
        assert "general news" not in screen_text(app), "seq 1 of #random is not seq 1 of #general"
        assert room_list(app)[1] == "#random", "reading clears the count"
        await pilot.press("alt+1")
        assert app.chat.history.room == "general"
        await pilot.press("alt+2")
        assert app.chat.history.room == "random"
        await pilot.press("alt+up")
        assert app.chat.history.room == "general"
        # the mouse: click the second entry of the room list
        await pilot.click("#rooms", offset=(3, 1))
        await until(pilot, lambda: app.chat.history.room == "random", "clicked #random")
        # a mention in another room is marked
        await seed(server, "bob", "general", ["alice: look"])
        await until(pilot, lambda: room_list(app)[0] == "#general @ 1", "mention marked")


async def test_unread_from_read_markers_and_divider(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "alice")
    await seed(server, "alice", "general", ["i was here"])
    await seed(server, "bob", "general", ["while you were away", "more news"])
    app = create_app(server.url, token=token)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        text = screen_text(app)
        assert text.index("i was here") < text.index("new messages")
        assert text.index("new messages") < text.index("while you were away")


@pytest.mark.slow
async def test_direct_messages_both_ways(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "alice")
    await token_for(server, "bob")
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await enter(pilot, app, "/msg bob psst, a secret")
        await until(pilot, lambda: app.chat.history.room == "dm:alice:bob", "the DM opens")
        await until(
            pilot,
            lambda: not app.chat.history.timeline("dm:alice:bob").pending,
            "the DM was delivered",
        )
        assert "alice │ psst, a secret" in screen_text(app)
        assert room_list(app) == ["#general", "@bob"]
        title = app.chat.title_line
        await until(pilot, lambda: "@bob  2 members" in widget_text(title), "DM members")
        async with server.login("bob") as bob:
            await bob.say("dm:alice:bob", "got it", "b1")
        await until(pilot, lambda: "bob │ got it" in screen_text(app), "bob's answer")
        # replying in the DM room sends to the room
        await enter(pilot, app, "thanks")
        await until(pilot, lambda: "alice │ thanks" in screen_text(app), "reply shown")
        await until(
            pilot, lambda: not app.chat.history.timeline("dm:alice:bob").pending, "reply sent"
        )


@pytest.mark.slow
async def test_a_dm_from_someone_else_appears(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "alice")
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        async with server.login("carol") as carol:
            ack = await carol.request(
                {"type": "send", "to": "alice", "body": "hi alice", "id": "c1"}, "ack"
            )
            assert ack["type"] == "ack", ack
        await until(pilot, lambda: "@carol @ 1" in room_list(app), "the DM shows, unread")
        await pilot.press("alt+2")
        assert "carol │ hi alice" in screen_text(app)


@pytest.mark.slow
async def test_join_leave_who_help_and_errors(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "alice")
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await enter(pilot, app, "/join #dev")
        await until(pilot, lambda: app.chat.history.room == "dev", "joined #dev")
        await until(pilot, lambda: "No messages in #dev yet" in screen_text(app), "empty room")
        assert room_list(app) == ["#dev", "#general"] or room_list(app) == ["#general", "#dev"]
        await enter(pilot, app, "/who")
        await until(pilot, lambda: "#dev: 1 member; online: alice" in screen_text(app), "/who")
        await enter(pilot, app, "/help")
        await until(pilot, lambda: "/search words" in screen_text(app), "/help")
        await enter(pilot, app, "/frobnicate now")
        await until(pilot, lambda: "unknown command /frobnicate" in screen_text(app), "error")
        await enter(pilot, app, "/join #Bad")
        await until(pilot, lambda: "'#Bad' is not a room name" in screen_text(app), "bad name")
        await enter(pilot, app, "/msg nobody-here hi")
        await until(pilot, lambda: "not sent" in screen_text(app), "unknown nick is an error")
        await enter(pilot, app, "/leave #nowhere")
        await until(
            pilot,
            lambda: "cannot leave #nowhere: you are not in it" in screen_text(app),
            "a /leave of a room you are not in says so where you typed it",
        )
        await pilot.press("alt+1")
        room = app.chat.history.room
        await enter(pilot, app, "/leave")
        await until(pilot, lambda: room not in app.chat.rooms.rooms, "left the room")
        assert app.is_running
        await enter(pilot, app, "/quit")
        await until(pilot, lambda: not app.is_running, "/quit quits")
    assert app.return_code == 0


async def test_rooms_from_the_command_line(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "alice")
    app = create_app(server.url, token=token, rooms=["#dev", "No-Such"])
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the rooms are shown")
        assert room_list(app) == ["#dev"], "a leading # is fine, a bad name is left out"
        assert app.chat.history.room == "dev"
        assert "cannot join #No-Such: invalid_name" in screen_text(app)


async def test_block_refuses_a_strangers_messages_until_unblock(
    server: ChatServerUnderTest,
) -> None:
    token = await token_for(server, "alice")
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(120, 30)) as pilot, server.login("mallory") as mallory:
        await until(pilot, lambda: app.ready, "the room is shown")
        dm = {"type": "send", "to": "alice", "body": "buy my stuff", "id": "m1"}
        assert (await mallory.request(dm, "ack"))["type"] == "ack"
        await until(pilot, lambda: "@mallory 1" in room_list(app), "the stranger's DM shows")
        await enter(pilot, app, "/block Mallory")
        await until(
            pilot,
            lambda: "blocked mallory: they cannot message you" in screen_text(app),
            "the block is confirmed",
        )
        refused = await mallory.request({**dm, "body": "hello?", "id": "m2"}, "ack")
        assert (refused["type"], refused["code"]) == ("error", "forbidden")
        await enter(pilot, app, "/blocks")
        await until(pilot, lambda: "blocked (1): mallory;" in screen_text(app), "the list")
        await enter(pilot, app, "/block alice")
        await until(pilot, lambda: "that is you" in screen_text(app), "not yourself")
        await enter(pilot, app, "/block nobody-here")
        await until(pilot, lambda: "cannot block nobody-here" in screen_text(app), "unknown")
        await pilot.press("alt+2")
        assert "buy my stuff" in screen_text(app) and "hello?" not in screen_text(app)
        await enter(pilot, app, "/unblock mallory")
        await until(pilot, lambda: "unblocked mallory" in screen_text(app), "unblocked")
        assert (await mallory.request({**dm, "body": "sorry", "id": "m3"}, "ack"))["seq"] == 2
        await until(pilot, lambda: "mallory │ sorry" in screen_text(app), "messages come again")


@pytest.mark.slow
async def test_help_wraps_under_its_second_column_at_80_columns(
    server: ChatServerUnderTest,
) -> None:
    token = await token_for(server, "alice")
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await enter(pilot, app, "/help")
        shown = app.chat.history.all_text
        await until(pilot, lambda: "esc, ctrl+q" in "\n".join(shown()), "/help")
        lines = app.chat.history.all_text()
        start = next(i for i, line in enumerate(lines) if "/join #room" in line)
        column = lines[start].index("join a room")
        assert lines[start + 1].startswith(" " * column) and lines[start + 1][column] != " ", (
            "the meaning goes on under itself, not under the command"
        )
        assert all(len(line) <= app.chat.history.size.width for line in lines)


async def test_at_40_columns_the_conversation_takes_the_width(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "alice")
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(40, 20)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        assert not app.chat.rooms.display  # alt+up / alt+down still switch rooms
        await enter(pilot, app, "every word of this message stays readable at forty columns")
        shown = app.chat.history.all_text
        await until(pilot, lambda: any("forty columns" in line for line in shown()), "sent")
        lines = [line for line in shown() if line.strip()]
        assert lines[-3].endswith("alice")
        assert " ".join(line.strip() for line in lines[-2:]) == (
            "every word of this message stays readable at forty columns"
        )
