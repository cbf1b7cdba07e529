"""The web client's search: results in a panel, a click jumps to the message, text stays text."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Pages, join_room, login, rooms_drawer, say
from tests.browser.test_web_chat import XSS_CORPUS
from tests.server.e2e.e2e_support import Chat, uniq

pytestmark = pytest.mark.slow  # a browser and a server subprocess


def search(page: Page, words: str) -> None:
    rooms_drawer(page)  # on a phone, the field is in the drawer
    page.get_by_label("Search messages").fill(words)
    page.get_by_label("Search messages").press("Enter")
    expect(page.locator("#search-panel")).to_be_visible()
    expect(page.locator("#search-status")).not_to_have_text("Searching…")


def results(page: Page) -> list[str]:
    bodies: list[str] = page.locator("#search-results .result .body").all_text_contents()
    return bodies


def test_search_shows_results_of_every_room_and_closes(pages: Pages, chat: Chat) -> None:
    alice, bob = uniq("Alice_"), uniq("Bob_")
    room, other = uniq("find-"), uniq("find-")
    word = uniq("kiwi")
    a = pages.open()
    login(a, alice)
    join_room(a, other)
    join_room(a, room)
    b = pages.open()
    login(b, bob)
    join_room(b, room)
    say(a, f"the {word} report is due friday")
    say(b, f"I sent the {word} numbers\nsecond line")
    say(b, "nothing to see here")
    terminal = chat.signup("Term_")
    terminal.join(other)
    terminal.say(other, f"{word} in the other room")

    search(a, word)
    expect(a.locator("#search-status")).to_have_text("3 results:")
    items = a.locator("#search-results .result")
    expect(items.locator(".body")).to_have_text(  # newest first
        [
            f"{word} in the other room",
            f"I sent the {word} numbers\nsecond line",
            f"the {word} report is due friday",
        ]
    )
    expect(items.locator(".room")).to_have_text([f"#{other}", f"#{room}", f"#{room}"])
    expect(items.locator(".nick")).to_have_text([terminal.nick, bob, alice])
    expect(items.locator("time")).to_have_count(3)
    assert all(t for t in items.locator("time").all_text_contents())

    # all words must match
    search(a, f"{word} friday")
    expect(items.locator(".body")).to_have_text([f"the {word} report is due friday"])

    # Escape closes the panel; the close button too
    a.keyboard.press("Escape")
    expect(a.locator("#search-panel")).to_be_hidden()
    search(a, word)
    a.get_by_role("button", name="Close search results").click()
    expect(a.locator("#search-panel")).to_be_hidden()

    # the keyboard: "/" from the conversation and Ctrl+K focus the field
    a.locator("#log").focus()
    a.keyboard.press("/")
    expect(a.get_by_label("Search messages")).to_be_focused()
    a.locator("#input").focus()
    a.keyboard.press("Control+k")
    expect(a.get_by_label("Search messages")).to_be_focused()
    a.keyboard.type(f"{word} numbers")
    a.keyboard.press("Enter")
    expect(items.locator(".body")).to_have_text([f"I sent the {word} numbers\nsecond line"])


def test_a_result_before_the_first_page_jumps_to_it(pages: Pages, chat: Chat) -> None:
    room, elsewhere = uniq("old-"), uniq("now-")
    writer = chat.signup("Writer_")
    assert writer.user is not None
    writer.join(room)
    needle = uniq("needle")
    writer.say(room, f"the {needle} is here")  # seq 1
    stored = chat.fill(writer.user, room, 150, prefix="filler ")  # the first page shows 50
    assert max(stored) == 151
    page = pages.open()
    login(page, uniq("Reader_"))
    join_room(page, room)
    expect(page.locator("#log .msg .body").last).to_have_text("filler 149")
    target = page.locator('#log .msg[data-seq="1"]')
    expect(target).to_have_count(0)  # not loaded yet
    join_room(page, elsewhere)  # and the search starts from another room

    search(page, needle)
    expect(page.locator("#search-results .result .body")).to_have_text([f"the {needle} is here"])
    page.locator("#search-results .result").click()
    expect(page.locator("#room-title")).to_have_text(f"#{room}")
    expect(target.locator(".body")).to_have_text(f"the {needle} is here")
    expect(target).to_be_in_viewport()
    expect(page.locator("#search-panel")).to_be_hidden()
    # every page between it and the newest is there, in order, without a hole
    shown = page.locator("#log .msg").evaluate_all("items => items.map(i => Number(i.dataset.seq))")
    assert shown == list(range(shown[0], 152)) and shown[0] == 1

    # a hit that is already on screen: a jump scrolls back to it
    search(page, "filler 149")
    page.locator("#search-results .result", has_text="filler 149").click()
    expect(page.locator('#log .msg[data-seq="151"]')).to_be_in_viewport()


def test_markup_in_a_result_stays_text(pages: Pages, chat: Chat) -> None:
    room = uniq("xss-")
    word = uniq("bait")
    page = pages.open()
    login(page, uniq("Victim_"))
    join_room(page, room)
    mallory = chat.signup("Mallory_")
    mallory.join(room)
    bodies = [f"{word} {payload}" for payload in XSS_CORPUS]
    for body in bodies:
        mallory.say(room, body)
    expect(page.locator("#log .msg .body").last).to_have_text(bodies[-1])

    search(page, word)
    expect(page.locator("#search-results .result .body")).to_have_text(bodies[::-1])
    assert results(page) == bodies[::-1]  # character for character
    tags = ("img", "script", "svg", "iframe", "a", "style")
    injected = page.locator(", ".join(f"#search-panel {tag}" for tag in tags))
    expect(injected).to_have_count(0)
    expect(page.locator("#chat-screen")).to_be_visible()
    # (the pages fixture fails the test if any dialog opened or a script error escaped)


def test_a_search_without_hits_says_so(pages: Pages) -> None:
    page = pages.open()
    login(page, uniq("Empty_"))
    say(page, "something searchable")
    search(page, uniq("nothing"))
    expect(page.locator("#search-status")).to_have_text("No results.")
    expect(page.locator("#search-results .result")).to_have_count(0)


def test_search_on_a_phone(pages: Pages) -> None:
    page = pages.open(width=375, height=740, is_mobile=True, has_touch=True)
    login(page, uniq("Phone_"))
    word = uniq("pocket")
    say(page, f"{word} sized")
    search(page, word)
    result = page.locator("#search-results .result")
    expect(result.locator(".body")).to_have_text([f"{word} sized"])
    expect(result).to_be_in_viewport()
    expect(page.get_by_role("button", name="Close search results")).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scroll
    result.tap()
    expect(page.locator("#search-panel")).to_be_hidden()
    expect(page.locator("#log .msg .body", has_text=f"{word} sized")).to_be_in_viewport()
    expect(page.locator("#input")).to_be_in_viewport()
