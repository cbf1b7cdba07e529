"""Long histories: paging at the top keeps the view, auto-follow, new-message count, jumps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.message import Message

from chat_tui.tui.app import OLDER_PAGE, create_app
from chat_tui.tui.screens.search import SearchScreen
from chat_tui.tui.widgets.history import HistoryView
from tests.conftest import ChatServerUnderTest
from tests.tui.conftest import enter, screen_text, seed, token_for, until, widget_text

pytestmark = pytest.mark.slow  # every test here takes more than a second


async def test_paging_at_the_top_keeps_the_view(fast_server: ChatServerUnderTest) -> None:
    await seed(fast_server, "bob", "general", [f"message {n}" for n in range(1, 501)])
    token = await token_for(fast_server, "alice")
    app = create_app(fast_server.url, token=token, rooms=["general"])
    posted: list[Message] = []
    async with app.run_test(size=(80, 24), message_hook=posted.append) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        history = app.chat.history
        timeline = history.timeline("general")
        assert timeline.first_seq == 451, "the join shows the newest 50"
        assert "message 500" in screen_text(app)
        # scroll up to the top of what is loaded: the older page arrives above
        history.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        before = history.visible_text()
        await until(
            pilot, lambda: timeline.first_seq == 451 - OLDER_PAGE, "the previous page arrived"
        )
        await pilot.pause()
        assert history.visible_text() == before, "the same messages stay under the user's eyes"
        # (the hook sees a message once per widget it bubbles through)
        asked = {id(m): m.before for m in posted if isinstance(m, HistoryView.LoadOlder)}
        assert list(asked.values()) == [451], "one request for the page before message 451"
        assert history.scroll_y > 0
        # keep going with the keyboard until the very first message
        for _ in range(200):
            if "message 1\n" in screen_text(app) + "\n":
                break
            await pilot.press("pageup")
            await pilot.pause(0.05)
        await until(pilot, lambda: timeline.first_seq == 1, "the whole history is loaded")
        assert "bob │ message 1" in screen_text(app)
        assert not timeline.more_before


async def test_scrolled_up_new_messages_are_counted_not_shown(
    fast_server: ChatServerUnderTest,
) -> None:
    await seed(fast_server, "bob", "general", [f"old {n}" for n in range(1, 61)])
    token = await token_for(fast_server, "alice")
    app = create_app(fast_server.url, token=token, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        history = app.chat.history
        await pilot.press("pageup")
        await pilot.pause()
        seen = history.visible_text()
        await seed(fast_server, "bob", "general", ["new one", "new two", "new three"])
        await until(pilot, lambda: history.unseen == 3, "three new messages counted")
        assert history.visible_text() == seen, "the view did not move"
        assert "↓ 3 new messages" in widget_text(app.chat.info_line)
        await pilot.click("#info")
        await until(pilot, lambda: history.unseen == 0, "the count is cleared at the bottom")
        assert "bob │ new three" in screen_text(app)
        # at the bottom the view follows
        await seed(fast_server, "bob", "general", ["newest"])
        await until(pilot, lambda: "bob │ newest" in screen_text(app), "followed to the end")


async def test_search_jumps_to_an_old_message(fast_server: ChatServerUnderTest) -> None:
    bodies = [f"filler {n}" for n in range(1, 401)]
    bodies[4] = "the needle is here"
    await seed(fast_server, "bob", "general", bodies)
    token = await token_for(fast_server, "alice")
    app = create_app(fast_server.url, token=token, rooms=["general"])
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await enter(pilot, app, "/search needle")
        await until(pilot, lambda: isinstance(app.screen, SearchScreen), "the results panel")
        assert "the needle is here" in str(app.screen.query_one("#search-results").render_line(0))
        await pilot.press("enter")
        await until(
            pilot, lambda: "bob │ the needle is here" in screen_text(app), "jumped to the hit"
        )
        first = app.chat.history.timeline("general").first_seq
        assert first is not None and first <= 5


async def test_a_search_that_takes_too_long_says_how_to_narrow_it(
    make_server: Callable[..., Any],
) -> None:
    """alice's only "needle" lies below 2,000 of bob's in a room she is not in: with a search
    timeout of 0 the server stops her search, and she reads why, in words, not a code."""
    server = await make_server(search_timeout=0.0, rate_per_second=100000.0, rate_burst=100000)
    await seed(server, "alice", "general", ["a needle of mine"])
    await seed(server, "bob", "archive", [f"needle {n}" for n in range(2000)])
    await seed(server, "alice", "general", ["later", "and later"])  # (ids differ from the first)
    token = await token_for(server, "alice")
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await enter(pilot, app, "/search needle")
        refused = "search failed: the search took too long: add a word, or search one room"

        def shown() -> str:  # the notice wraps: compare its words
            return " ".join(screen_text(app).replace("│", " ").split())

        await until(pilot, lambda: refused in shown(), "the refusal")
        assert "too_large" not in screen_text(app)
        assert not isinstance(app.screen, SearchScreen)


async def test_a_room_with_more_unread_than_fits_opens_at_the_divider(
    fast_server: ChatServerUnderTest,
) -> None:
    token = await token_for(fast_server, "alice")
    await seed(fast_server, "alice", "general", ["where I stopped"])
    await seed(fast_server, "bob", "general", [f"unread {n}" for n in range(1, 41)])
    app = create_app(fast_server.url, token=token, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        lines = app.chat.history.visible_text()
        assert "where I stopped" in lines[0]
        assert "new messages" in lines[1]
        assert "bob │ unread 1" in lines[2]
        info = app.chat.rooms.rooms["general"]
        await pilot.pause(0.7)
        assert info.read_seq == 1, "not marked read until seen"
        await pilot.press("ctrl+end")
        await until(
            pilot,
            lambda: info.read_seq == 41,
            "read at the bottom",
        )


async def test_resizing_rewraps_and_keeps_the_message_in_view(
    fast_server: ChatServerUnderTest,
) -> None:
    words = "the quick brown fox jumps over the lazy dog " * 3
    await seed(fast_server, "bob", "general", [f"{n} {words}" for n in range(1, 51)])
    token = await token_for(fast_server, "alice")
    app = create_app(fast_server.url, token=token, rooms=["general"])
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        history = app.chat.history
        history.scroll_to(y=history._seq_line[20], animate=False, immediate=True)
        await pilot.pause()
        assert "bob │ 20 the quick brown fox" in history.visible_text()[0]
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: history._cache_width < 100, "wrapped for 80 columns")
        await pilot.pause()
        lines = history.all_text()
        assert all(len(line) <= history.scrollable_content_region.width for line in lines)
        assert "bob │ 20 the quick" in history.visible_text()[0], "the same message on top"
