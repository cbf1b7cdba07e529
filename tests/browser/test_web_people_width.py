"""The people list on a laptop screen (1280 px): a short nick beside its ``owner`` mark shows
whole, and the presence and the Block button stay in the row."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Pages, join_room, login
from tests.server.e2e.e2e_support import Chat, uniq

pytestmark = pytest.mark.slow  # a browser and a server subprocess


def test_the_owners_short_nick_is_not_cut_beside_its_mark(pages: Pages, chat: Chat) -> None:
    room, owner = uniq("people-"), "c" + uuid.uuid4().hex[:4]  # as short as "carol"
    term = chat.connect()
    term.hello(owner, uniq("pw"))
    term.join(room)  # the room's creator: its owner

    page = pages.open(1280, 800)
    login(page, uniq("Web_"))
    join_room(page, room)
    row = page.locator(f'#member-list [data-nick="{owner}"]')
    expect(row.locator(".role-owner")).to_have_text("owner")
    nick = row.locator(".nick")
    assert nick.evaluate("n => n.scrollWidth <= n.clientWidth"), "the nick is cut short"
    people, block = page.locator("#people").bounding_box(), row.locator(".block").bounding_box()
    assert people is not None and block is not None
    assert block["x"] + block["width"] <= people["x"] + people["width"]
    expect(row.locator(".presence")).to_have_text("online")
