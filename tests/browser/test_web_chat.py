"""The web client in headless Chromium: two people chat, rooms, DMs, presence, typing, unread."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import Pages, bodies, join_room, login, say
from tests.e2e.e2e_support import uniq


def test_two_browser_users_chat(pages: Pages) -> None:
    alice, bob = uniq("Alice_"), uniq("Bob_")
    room = uniq("web-")
    a = pages.open()
    login(a, alice)
    expect(a.locator("#input")).to_be_focused()  # ready to type right after login
    join_room(a, room)
    b = pages.open()
    login(b, bob)
    join_room(b, room)

    # presence: each sees the other online in the room's people list
    expect(a.locator(f'#member-list [data-nick="{bob}"]')).to_have_attribute(
        "data-status", "online"
    )
    expect(b.locator(f'#member-list [data-nick="{alice}"]')).to_have_attribute(
        "data-status", "online"
    )

    # typing: Bob sees that Alice is typing before she sends
    a.locator("#input").press_sequentially("hel")
    expect(b.locator("#typing")).to_have_text(f"{alice} is typing…")
    a.locator("#input").fill("")
    say(a, "hello bob")
    expect(b.locator("#log .msg .body").last).to_have_text("hello bob")
    expect(b.locator("#log .msg .nick").last).to_have_text(alice)
    expect(b.locator("#typing")).to_have_text("")  # her message ends her typing line
    say(b, "hi alice\nsecond line")
    expect(a.locator("#log .msg .body").last).to_have_text("hi alice\nsecond line")
    assert bodies(a) == bodies(b) == ["hello bob", "hi alice\nsecond line"]

    # Bob leaves: Alice sees him offline
    b.context.close()
    expect(a.locator(f'#member-list [data-nick="{bob}"]')).to_have_attribute(
        "data-status", "offline"
    )
