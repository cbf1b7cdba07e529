"""A room whose oldest messages the server erased (retention): the TUI says so in one dim
line at the top of the room's history, instead of a silent gap."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from chat_server.text import format_ts
from chat_tui.tui.floor import floor_text, kept_for
from tests.conftest import ChatServerUnderTest
from tests.tui.conftest import screen_text, seed, token_for, until

pytestmark = pytest.mark.slow


def test_the_line_names_the_retention_in_the_largest_unit_that_fits() -> None:
    assert kept_for(90 * 86400) == "90 days"
    assert kept_for(86400) == "1 day"
    assert kept_for(12 * 3600) == "12 hours"
    assert kept_for(90) == "90 seconds"
    assert floor_text(None) == "older messages were removed"
    assert floor_text(3600) == "older messages were removed (kept for 1 hour)"


async def test_a_pruned_room_shows_where_older_messages_were_removed(
    make_server: Callable[..., Any],
) -> None:
    from chat_tui.tui.app import create_app

    server: ChatServerUnderTest = await make_server(retention=30 * 86400.0)
    await seed(server, "bob", "general", [f"note {n}" for n in range(1, 6)])
    await seed(server, "bob", "quiet", ["never pruned"])
    store = server.running.store
    room = await store.room_by_name("general")
    assert room is not None
    later = format_ts(datetime.fromtimestamp(time.time() + 60, UTC))
    assert await store.prune(room.id, later, limit=3) == 3  # what the task does in 30 days

    token = await token_for(server, "alice")
    app = create_app(server.url, token=token, rooms=["general", "quiet"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the rooms are shown")
        app.switch_room("general")
        await until(pilot, lambda: "note 5" in screen_text(app), "the history is shown")
        lines = [line for line in screen_text(app).splitlines() if line.strip()]
        assert lines[0].strip() == "older messages were removed (kept for 30 days)"
        assert "note 4" in lines[1] or "note 4" in lines[2]  # under it (a day line may lead)
        assert "note 3" not in screen_text(app)
        app.switch_room("quiet")  # nothing erased there: no such line
        await until(pilot, lambda: "never pruned" in screen_text(app), "quiet is shown")
        assert "older messages were removed" not in screen_text(app)
