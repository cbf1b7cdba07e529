"""Acting on a message in the real app: select it without typing ids (ctrl+up, a click),
then reply, edit, delete, react and open its thread by key; the slash commands; what
another member sees of it."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from chat_tui.tui.app import ChatApp, create_app
from chat_tui.tui.screens.confirm_delete import ConfirmDelete
from chat_tui.tui.screens.react_picker import ReactionPicker
from tests.conftest import ChatServerUnderTest
from tests.tui.conftest import enter, screen_text, seed, token_for, until, widget_text


def bodies(app: ChatApp) -> list[str]:
    return [m.body for m in app.chat.history.timeline("general").messages]


async def select(pilot: Pilot[Any], app: ChatApp, body: str) -> None:
    """ctrl+up until the message reading ``body`` is selected (from the newest up)."""
    history = app.chat.history
    await pilot.press("escape")
    for _ in range(20):
        await pilot.press("ctrl+up")
        message = history.timeline("general").message(history.selected or 0)
        if message is not None and message.body == body:
            assert app.focused is history, "the keys now act on the selection"
            return
    raise AssertionError(f"no message {body!r} to select")


@pytest.mark.slow
async def test_each_key_on_a_selected_message(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "alice")
    await seed(server, "bob", "general", ["hello there"])
    await seed(server, "alice", "general", ["my typo"])
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await until(pilot, lambda: "my typo" in screen_text(app), "the history shows")
        composer = app.chat.composer

        # r: the composer answers the selected message
        await select(pilot, app, "hello there")
        await pilot.press("r")
        assert "replying to bob: hello there" in widget_text(app.chat.mode_line)
        assert app.focused is composer
        await pilot.press(*"yes", "enter")
        await until(pilot, lambda: "↳ bob: hello there" in screen_text(app), "the quote shows")
        reply = app.chat.history.timeline("general").newest()
        assert reply is not None and reply.body == "yes" and reply.reply_to is not None
        assert not app.chat.mode_line.has_class("active"), "the mode ends with the send"

        # up in an empty composer: edit your last message
        await pilot.press("up")
        assert composer.value == "yes"
        assert "editing your message" in widget_text(app.chat.mode_line)
        composer.value = "yes indeed"
        await pilot.press("enter")
        await until(pilot, lambda: "yes indeed (edited)" in screen_text(app), "the edit shows")

        # e, then escape: the draft comes back, nothing is sent
        composer.value = "half a thought"
        await select(pilot, app, "my typo")
        await pilot.press("e")
        assert composer.value == "my typo"
        await pilot.press("escape")
        assert composer.value == "half a thought"
        assert not app.chat.mode_line.has_class("active")
        composer.value = ""

        # d asks once; n keeps the message, y erases it
        await select(pilot, app, "my typo")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDelete), "the question")
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDelete), "answered")
        assert "my typo" in screen_text(app)
        await select(pilot, app, "my typo")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDelete), "the question")
        await pilot.press("y")
        await until(pilot, lambda: "message deleted" in screen_text(app), "the delete shows")
        assert "my typo" not in "\n".join(app.chat.history.all_text())

        # + opens the picker; 1 is 👍; again takes it back
        await select(pilot, app, "hello there")
        await pilot.press("plus")
        await until(pilot, lambda: isinstance(app.screen, ReactionPicker), "the picker")
        await pilot.press("1")
        await until(pilot, lambda: "👍 1" in screen_text(app), "the reaction shows")
        await select(pilot, app, "hello there")
        await pilot.press("plus")
        await until(pilot, lambda: isinstance(app.screen, ReactionPicker), "the picker")
        await pilot.press("1")
        await until(pilot, lambda: "👍 1" not in screen_text(app), "taken back")

        # someone else's message: no edit, no delete, and the reason shown
        await select(pilot, app, "hello there")
        await pilot.press("e")
        await until(pilot, lambda: "you can edit only your own" in screen_text(app), "why not")
        await select(pilot, app, "hello there")
        await pilot.press("d")
        await until(pilot, lambda: "you can delete only your own" in screen_text(app), "why")
        assert not isinstance(app.screen, ConfirmDelete)

        # t: the thread beside the room; escape closes it
        await select(pilot, app, "hello there")
        await pilot.press("t")
        pane = app.chat.thread
        await until(pilot, lambda: "yes indeed" in "\n".join(pane.history.all_text()), "thread")
        assert pane.display and app.chat.history.display, "beside the room at 120 columns"
        assert "hello there" in "\n".join(pane.history.all_text())
        await pilot.press("escape", "escape")
        assert pane.root is None and app.focused is composer

    async with server.login("carol") as carol:
        _, page = await carol.join("general")
    shown = {m["seq"]: m for m in page["messages"] if "kind" not in m}
    assert [m["body"] for m in shown.values()] == ["hello there", "", "yes indeed"]
    assert [m.get("deleted", False) for m in shown.values()] == [False, True, False]
    assert "reactions" not in next(iter(shown.values())), "the reaction was taken back"


@pytest.mark.slow
async def test_slash_commands_name_messages_by_short_reference(
    server: ChatServerUnderTest,
) -> None:
    token = await token_for(server, "alice")
    [first] = await seed(server, "bob", "general", ["the plan"])
    await seed(server, "alice", "general", ["sounds good"])
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await until(pilot, lambda: "sounds good" in screen_text(app), "the history shows")
        await enter(pilot, app, "/react ^2 :tada:")
        await until(pilot, lambda: "🎉 1" in screen_text(app), "the reaction shows")
        await enter(pilot, app, f"/reply #{first} on it")
        await until(pilot, lambda: "↳ bob: the plan" in screen_text(app), "the reply shows")
        await enter(pilot, app, "/edit ^1 on it now")
        await until(pilot, lambda: "on it now (edited)" in screen_text(app), "the edit shows")
        await enter(pilot, app, "/edit ^3 not mine")
        await until(pilot, lambda: "you can edit only your own" in screen_text(app), "refused")
        await enter(pilot, app, "/react ^9 :tada:")
        await until(pilot, lambda: "there is no message ^9 here" in screen_text(app), "said so")
        await enter(pilot, app, "/delete ^1")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDelete), "asked once")
        await pilot.press("y")
        await until(pilot, lambda: "message deleted" in screen_text(app), "the delete shows")
        assert bodies(app) == ["the plan", "sounds good", ""]


@pytest.mark.slow
async def test_a_click_selects_and_the_thread_covers_a_narrow_room(
    server: ChatServerUnderTest,
) -> None:
    token = await token_for(server, "alice")
    await seed(server, "bob", "general", ["question?"])
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await until(pilot, lambda: "question?" in screen_text(app), "the history shows")
        history = app.chat.history
        line = history.visible_text().index(
            next(t for t in history.visible_text() if "question?" in t)
        )
        await pilot.click(history, offset=(30, line))
        assert history.selected == history.timeline("general").messages[0].seq
        await pilot.press("r")
        await pilot.press(*"answer", "enter")
        await until(pilot, lambda: "1 reply (t)" in screen_text(app), "the root counts it")
        await select(pilot, app, "question?")
        await pilot.press("t")
        pane = app.chat.thread
        await until(pilot, lambda: "answer" in "\n".join(pane.history.all_text()), "thread")
        assert not app.chat.query_one("#centre").display, "over the room below 100 columns"
        await pilot.press("r")  # the composer is under the thread: the room comes back
        assert pane.root is None and app.chat.query_one("#centre").display
        assert "replying to" in widget_text(app.chat.mode_line)


@pytest.mark.slow
async def test_typing_goes_on_in_the_composer_whatever_the_keys_did(
    fast_server: ChatServerUnderTest,
) -> None:
    """After a refused action, ctrl+down with nothing selected, or a reply's banner, the
    next keys still reach the composer and the newest line stays in view."""
    token = await token_for(fast_server, "alice")
    await seed(fast_server, "bob", "general", [f"line {n}" for n in range(40)])
    app = create_app(fast_server.url, token=token, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await pilot.press("ctrl+end")  # it opened at "new messages", the first unread
        await until(pilot, lambda: "line 39" in screen_text(app), "the newest shows")
        composer = app.chat.composer
        await pilot.press("ctrl+down")
        await pilot.press(*"abc")
        assert composer.value == "abc" and app.focused is composer
        composer.value = ""
        await select(pilot, app, "line 39")
        await pilot.press("e")
        await until(pilot, lambda: "you can edit only your own" in screen_text(app), "refused")
        await pilot.press(*"hi")
        assert composer.value == "hi", "the refusal gave the keys back to the composer"
        composer.value = ""
        await select(pilot, app, "line 39")
        await pilot.press("r")
        assert "replying to bob: line 39" in widget_text(app.chat.mode_line)
        await pilot.pause()
        assert "line 39" in screen_text(app), "the banner does not hide the newest line"
        async with fast_server.login("bob") as bob:
            await bob.join("general")
            await bob.say("general", "line 40", "late")
        await until(pilot, lambda: "line 40" in screen_text(app), "the view follows on")
        await pilot.press("escape")
        await select(pilot, app, "line 40")
        await pilot.press("plus")
        await until(pilot, lambda: isinstance(app.screen, ReactionPicker), "the picker")
        await pilot.press(*":100:", "enter")  # typed in one burst: the 1 is not a pick
        await until(pilot, lambda: "💯 1" in screen_text(app), "the typed reaction")
