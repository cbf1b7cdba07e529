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
from tests.tui.conftest import screen_text, seed, token_for, until, widget_text

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


async def test_a_resume_from_below_the_floor_says_where_messages_were_removed(
    make_server: Callable[..., Any],
) -> None:
    """Offline while the server erased what was written meanwhile: on the resume, the line
    stands between the last message seen and the first one left, never a silent gap."""
    from chat_tui.tui.app import create_app

    kept = 30 * 86400.0
    first: ChatServerUnderTest = await make_server(retention=kept)
    await seed(first, "bob", "general", ["seen before"])
    token = await token_for(first, "alice")
    app = create_app(first.url, token=token, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "seen before" in screen_text(app), "the history is shown")
        port = first.running.port
        await first.running.stop()
        await until(pilot, lambda: "reconnecting" in widget_text(app.chat.status_line), "offline")
        # written and erased on another port, so the app cannot see it happen
        elsewhere: ChatServerUnderTest = await make_server(retention=kept)
        await seed(elsewhere, "bob", "general", ["written while away", "also away", "still here"])
        store = elsewhere.running.store
        room = await store.room_by_name("general")
        assert room is not None
        later = format_ts(datetime.fromtimestamp(time.time() + 60, UTC))
        assert await store.prune(room.id, later, limit=3) == 3  # all but "still here"
        await elsewhere.running.stop()  # (the message seen before is erased too, but was seen)
        await make_server(port=port, retention=kept)
        await until(pilot, lambda: "still here" in screen_text(app), "the resume", timeout=20)
        lines = [line.strip() for line in screen_text(app).splitlines() if line.strip()]
        said = [n for n, line in enumerate(lines) if "older messages were removed" in line]
        assert len(said) == 1, lines  # once: where the gap is, not at the top as well
        [at] = said
        assert lines[at].endswith("older messages were removed (kept for 30 days)")
        assert any("seen before" in line for line in lines[:at])
        assert any("still here" in line for line in lines[at + 1 :])
        assert "away" not in screen_text(app)
