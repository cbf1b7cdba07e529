"""A room an administrator removed while the TUI had it open: after the reconnect it leaves
the room list, and no empty room of that name is made in its place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chat_server.store import SQLiteStore
from tests.conftest import ChatServerUnderTest
from tests.tui.conftest import enter, token_for, until, widget_text

pytestmark = pytest.mark.slow


async def test_a_removed_room_leaves_the_list_at_the_reconnect(
    make_server: Callable[..., Any],
) -> None:
    from chat_tui.tui.app import create_app

    first: ChatServerUnderTest = await make_server()
    token = await token_for(first, "alice")
    app = create_app(first.url, token=token, rooms=["general", "spam"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the rooms are shown")
        await until(pilot, lambda: "spam" in app.chat.rooms.rooms, "spam listed")
        await enter(pilot, app, "hello")  # spam holds an entry: a resume names its seq
        app.switch_room("spam")
        await enter(pilot, app, "buy pills")
        timeline = app.chat.history.timeline("spam")
        await until(pilot, lambda: not timeline.pending, "sent")
        port = first.running.port
        await first.running.stop()

        store = SQLiteStore(first.settings.db_path)  # what `chat-server rooms remove` does
        await store.open()
        try:
            assert await store.remove_room("spam")
        finally:
            await store.close()

        second: ChatServerUnderTest = await make_server(port=port)
        await until(pilot, lambda: "● connected" in widget_text(app.chat.status_line), "back")
        await until(pilot, lambda: "spam" not in app.chat.rooms.rooms, "spam left the list")
        assert "general" in app.chat.rooms.rooms
        assert await second.running.store.room_by_name("spam") is None  # nothing re-made
