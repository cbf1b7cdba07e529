"""A room an administrator removes (``chat-server rooms remove``) while a browser has it open:
after the reconnect the page drops it, and puts no empty room of that name in its place."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Pages, join_room, login, say
from tests.server.cli_support import assert_ok, cli
from tests.support.servers import ServerProcess, spawn

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    started = spawn(tmp_path / "chat.db", log=tmp_path / "server.log")
    try:
        yield started
    finally:
        started.stop()


def test_a_removed_room_leaves_the_page_at_the_reconnect(
    pages: Pages, server: ServerProcess
) -> None:
    page = pages.open(server=server)
    login(page, "Alice")
    join_room(page, "spam")
    say(page, "buy cheap pills")
    join_room(page, "general")
    rooms = page.locator("#room-list button.room")
    expect(rooms.filter(has_text="spam")).to_have_count(1)

    server.stop()
    assert_ok(cli("rooms", "remove", "spam", "--yes", "--db", str(server.db)))
    server.start()

    expect(rooms.filter(has_text="spam")).to_have_count(0)
    expect(rooms.filter(has_text="general")).to_have_count(1)
    expect(page.locator("#room-title")).to_have_text("#general")
    listed = cli("rooms", "list", "--db", str(server.db))
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["ROOM", "general"]
