"""A big room in the browser, against the real server: the people panel counts every member
from ``member_count``, lists the first page, and "Show more" appends the rest; live joins
move the count."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chat_server import protocol as p
from tests.browser.conftest import Pages, join_room, login
from tests.server.e2e.e2e_support import Chat, uniq
from tests.support.crowd import crowd_file

pytestmark = pytest.mark.slow  # a browser and a server subprocess


def test_a_big_room_counts_everyone_and_shows_more(pages: Pages, chat: Chat) -> None:
    room = uniq("crowd-")
    prefix = uniq("p")
    crowd = [f"{prefix}n{n:03}" for n in range(p.JOINED_MEMBERS_MAX + 20)]
    crowd_file(pages.server.db, room, crowd)
    alice = uniq("Alice_")  # sorts before the crowd: listed on the first page
    page = pages.open()
    login(page, alice)
    join_room(page, room)
    people = page.locator("#member-list li")
    expect(page.locator("#people-count")).to_have_text("521 members")
    expect(people).to_have_count(p.JOINED_MEMBERS_MAX)
    more = page.get_by_role("button", name="Show more")
    expect(more).to_have_text("Show more (21 not listed)")

    # someone joins from a terminal: counted at once, listed online
    zed = chat.signup("zz_")
    zed.join(room)
    expect(page.locator("#people-count")).to_have_text("522 members")
    expect(people).to_have_count(p.JOINED_MEMBERS_MAX + 1)
    expect(page.locator(f'#member-list li[data-nick="{zed.nick}"]')).to_have_attribute(
        "data-status", "online"
    )

    more.click()
    expect(people).to_have_count(522)  # zed once, though the page lists them too
    expect(more).to_be_hidden()
    expect(page.locator("#member-list li").last).to_have_attribute("data-nick", crowd[-1])
    expect(page.locator(f'#member-list li[data-nick="{crowd[-1]}"]')).to_have_attribute(
        "data-status", "offline"
    )
    zed.send({"type": "leave", "room": room, "ref": "l1"})
    expect(page.locator("#people-count")).to_have_text("521 members")
    expect(people).to_have_count(521)
