"""A room whose oldest messages the server erased (retention): the browser shows one line
where they were, both to a tab that resumes from below the floor and to a fresh one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect

from chat_server.store import NewMessage, SQLiteStore
from chat_server.text import format_ts
from tests.browser.conftest import Pages, bodies, join_room, login, say
from tests.support.servers import ServerProcess, spawn

pytestmark = pytest.mark.slow

LINE = "Older messages were removed (kept for 30 days)."


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    started = spawn(tmp_path / "chat.db", "--retention", "30d", log=tmp_path / "server.log")
    try:
        yield started
    finally:
        started.stop()


async def _more_then_prune(db: Path) -> None:
    """Four more messages of alice's, then the oldest four entries erased: what 30 days of
    the server's pruning do (the server is stopped meanwhile)."""
    store = SQLiteStore(db)
    await store.open()
    try:
        alice = await store.user_by_nick("alice")
        room = await store.room_by_name("general")
        assert alice is not None and room is not None
        for n in range(3, 7):
            await store.append(NewMessage(alice.id, "alice", room.id, f"k{n}", f"note {n}"))
        later = format_ts(datetime.fromtimestamp(time.time() + 60, UTC))
        assert await store.prune(room.id, later, limit=4) == 4
    finally:
        await store.close()


def test_the_log_says_where_older_messages_were_removed(
    pages: Pages, server: ServerProcess
) -> None:
    page = pages.open(server=server)
    login(page, "alice")
    join_room(page, "general")
    say(page, "note 1")
    say(page, "note 2")

    server.stop()
    with ThreadPoolExecutor(1) as pool:  # the page's event loop is not the store's
        pool.submit(asyncio.run, _more_then_prune(Path(server.db))).result()
    server.start()

    # the tab resumes from seq 2: 3 and 4 are gone, the log goes on at 5 and says so there
    expect(page.locator("#log .msg .body", has_text="note 6")).to_be_visible()
    assert bodies(page) == ["note 1", "note 2", "note 5", "note 6"]
    floor = page.locator("#log .floor")
    expect(floor).to_have_text(LINE)
    order = page.locator("#log .floor, #log .msg .body").all_text_contents()
    assert order == ["note 1", "note 2", LINE, "note 5", "note 6"]

    fresh = pages.open(server=server)  # someone who never saw them: the top of the log says it
    login(fresh, "bob")
    join_room(fresh, "general")
    expect(fresh.locator("#log .msg .body", has_text="note 6")).to_be_visible()
    assert bodies(fresh) == ["note 5", "note 6"]
    expect(fresh.locator("#log-top")).to_have_text(LINE)
