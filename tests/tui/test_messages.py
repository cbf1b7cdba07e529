"""Sending and receiving in the real app against a real server: what the user sees."""

from __future__ import annotations

import pytest
from textual import events

from chat_tui.tui.app import create_app
from tests.conftest import ChatServerUnderTest
from tests.tui.conftest import screen_text, seed, token_for, until, widget_text
from tests.tui.test_render import CORPUS


@pytest.mark.slow
async def test_send_shows_pending_then_sent(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "alice")
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        assert app.focused is app.chat.query_one("#composer"), "the user can type at once"
        assert "No messages in #general yet. Say hello!" in screen_text(app)
        await pilot.press(*"hello world", "enter")
        timeline = app.chat.history.timeline("general")
        await until(pilot, lambda: "hello world" in screen_text(app), "the line shows")
        await until(pilot, lambda: not timeline.pending, "the server echoed it")
        assert [m.body for m in timeline.messages] == ["hello world"]
        assert "alice │ hello world" in screen_text(app)
        assert "⧗" not in screen_text(app)
        assert "No messages" not in screen_text(app)
        app.chat.composer.value = "/me waves"
        await pilot.press("enter")
        await until(pilot, lambda: "* │ alice waves" in screen_text(app), "the action shows")
        await until(pilot, lambda: len(timeline.messages) == 2, "the action was sent")
        assert timeline.messages[-1].body == "/me waves"
        # composer history: shift+up brings the last lines back, down returns to the draft
        await pilot.press("shift+up")
        assert app.chat.composer.value == "/me waves"
        await pilot.press("up")
        assert app.chat.composer.value == "hello world"
        await pilot.press("down", "down")
        assert app.chat.composer.value == ""


@pytest.mark.slow
async def test_markup_corpus_from_a_peer_shows_literally(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "alice")
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        async with server.login("mallory") as mallory:
            await mallory.join("general")
            for number, (body, _) in enumerate(CORPUS):
                await mallory.say("general", body, f"m{number}")
        await until(
            pilot,
            lambda: len(app.chat.history.timeline("general").messages) == len(CORPUS),
            "every message arrived",
        )
        text = "\n".join(app.chat.history.all_text())
        for _, shown in CORPUS:
            if shown.strip():
                assert shown.split()[0] in text
        assert "[@click=app.quit]hi[/]" in text
        assert "[link=file:///etc/passwd]x[/]" in text
        assert "rtl <U+202E>evil" in text
        assert app.is_running, "no markup was run (app.quit) and nothing raised"
        assert "mallory" in text


@pytest.mark.slow
async def test_messages_from_others_and_mentions(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "alice")
    app = create_app(server.url, token=token, rooms=["general"], bell=True)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        async with server.login("bob") as bob:
            await bob.join("general")
            await bob.say("general", "morning all", "b1")
            await bob.say("general", "alice: ping", "b2")
            await bob.say("general", "/me waves", "b3")
            await until(pilot, lambda: "bob waves" in screen_text(app), "the action shows")
        text = screen_text(app)
        assert "bob │ morning all" in text
        assert "bob │ alice: ping" in text
        assert "* │ bob waves" in text
        assert bells == [1], "one mention, one bell"


@pytest.mark.slow
async def test_members_presence_and_typing(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "alice")
    await seed(server, "bob", "general", ["hi"])
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        members = app.chat.members
        assert members.display, "shown from 100 columns"
        await until(pilot, lambda: "1/2 online" in widget_text(members.lines), "bob is away")
        async with server.login("bob") as bob:
            await until(pilot, lambda: "2/2 online" in widget_text(members.lines), "bob online")
            await bob.send({"type": "typing", "room": "general"})
            await until(
                pilot, lambda: "bob is typing…" in widget_text(app.chat.info_line), "typing"
            )
            await bob.say("general", "done typing", "b9")
            await until(pilot, lambda: "typing" not in widget_text(app.chat.info_line), "gone")
        await until(pilot, lambda: "1/2 online" in widget_text(members.lines), "bob offline")
        await pilot.press("f2")
        assert not members.display, "F2 hides the member list"


async def test_a_multi_line_paste_is_sent_whole(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "alice")
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        app.chat.composer.post_message(events.Paste("first line\r\nsecond line\n"))
        await until(pilot, lambda: app.chat.composer.value == "first line⏎second line", "pasted")
        await pilot.press("enter")
        timeline = app.chat.history.timeline("general")
        await until(pilot, lambda: bool(timeline.messages), "sent")
        assert timeline.messages[0].body == "first line\nsecond line"
        assert "alice │ first line\n                  second line" in screen_text(app)
