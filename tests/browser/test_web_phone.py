"""The web client on a phone (390 x 844): the conversation fills the screen, the rooms are a
drawer (a button or a swipe from the left edge), the people a sheet; a desktop keeps three
columns."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import FloatRect, Page, expect

from tests.browser.conftest import Pages, join_room, login, rooms_drawer, say
from tests.server.e2e.e2e_support import Chat, uniq

pytestmark = pytest.mark.slow  # a browser and a server subprocess

WIDTH, HEIGHT = 390, 844


def box(page: Page, selector: str) -> FloatRect:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} has no box (not shown)"
    return found


def settled(page: Page, selector: str) -> None:
    """Wait until ``selector`` stopped sliding (its transition is over)."""
    page.wait_for_function(
        "sel => document.querySelector(sel).getAnimations().length === 0", arg=selector
    )


def shoot(page: Page, path: Path) -> None:
    """A screenshot to look at; CHAT_WEB_SHOTS names a folder that keeps a copy."""
    page.screenshot(path=str(path))
    assert path.stat().st_size > 5_000
    folder = os.environ.get("CHAT_WEB_SHOTS")
    if folder:
        Path(folder, path.name).write_bytes(path.read_bytes())


def phone(pages: Pages) -> Page:
    return pages.open(WIDTH, HEIGHT, has_touch=True, is_mobile=True)


def swipe(page: Page, x0: float, x1: float, y: float = 420) -> None:
    """A finger dragged from ``x0`` to ``x1`` (real touch input, through the DevTools protocol)."""
    cdp = page.context.new_cdp_session(page)
    steps = [("touchStart", x0)] + [("touchMove", x0 + (x1 - x0) * i / 5) for i in range(1, 6)]
    for kind, x in steps:
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def test_the_conversation_fills_a_phone_and_the_rooms_are_a_drawer(
    pages: Pages, chat: Chat, tmp_path: Path
) -> None:
    bob = chat.signup("Bob_")
    room = uniq("pocket-")
    page = phone(pages)
    login(page, uniq("Phone_"))
    expect(page.locator("#room-title")).to_have_text("#general")
    sidebar, people = page.locator("#sidebar"), page.locator("#people")
    expect(sidebar).to_be_hidden()
    expect(people).to_be_hidden()

    # the conversation is the whole screen; the messages get all of it but the header and composer
    conversation = box(page, "#conversation")
    assert (conversation["x"], conversation["y"]) == (0, 0), conversation
    assert conversation["width"] == WIDTH and conversation["height"] >= 0.9 * HEIGHT, conversation
    header, log, composer = box(page, ".room-header"), box(page, "#log"), box(page, "#composer")
    assert header["height"] <= 60 and composer["height"] <= 70, (header, composer)
    assert log["height"] >= HEIGHT - header["height"] - composer["height"] - 60, log
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH  # no sideways scroll
    say(page, "typed on a phone")
    expect(page.locator("#input")).to_be_in_viewport()

    # the button opens the drawer; "Message a person" is in it, and opens the conversation
    menu = page.get_by_role("button", name="Rooms", exact=True)
    menu.click()
    expect(sidebar).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "true")
    settled(page, "#sidebar")
    drawer = box(page, "#sidebar")
    assert drawer["x"] == 0 and drawer["width"] <= 0.9 * WIDTH, drawer
    expect(page.locator('#room-list button.room[data-room="general"]')).to_be_in_viewport()
    person = page.get_by_label("Message a person")
    person.scroll_into_view_if_needed()
    expect(person).to_be_in_viewport()
    shoot(page, tmp_path / "phone-drawer.png")
    person.fill(bob.nick)
    person.press("Enter")
    expect(page.locator("#room-title")).to_have_text(f"@{bob.nick}")
    expect(sidebar).to_be_hidden()

    # choosing a room in the drawer shows it and closes the drawer
    join_room(page, room)
    expect(sidebar).to_be_hidden()
    rooms_drawer(page)
    page.locator('#room-list button.room[data-room="general"]').click()
    expect(page.locator("#room-title")).to_have_text("#general")
    expect(sidebar).to_be_hidden()
    expect(page.locator("#log .msg .body", has_text="typed on a phone")).to_be_visible()

    # a tap outside closes it, so does Escape
    rooms_drawer(page)
    page.mouse.click(WIDTH - 10, HEIGHT / 2)
    expect(sidebar).to_be_hidden()
    rooms_drawer(page)
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")

    # a swipe from the left edge opens it, one back to the left closes it; from mid-screen, nothing
    swipe(page, 150, 330)
    page.wait_for_timeout(300)
    expect(sidebar).to_be_hidden()
    swipe(page, 4, 220)
    expect(sidebar).to_be_visible()
    swipe(page, 250, 40)
    expect(sidebar).to_be_hidden()


def test_the_people_are_a_sheet_on_a_phone(pages: Pages, chat: Chat, tmp_path: Path) -> None:
    room = uniq("sheet-")
    bob = chat.signup("Bob_")
    bob.join(room)
    me = uniq("Sheet_")
    page = phone(pages)
    login(page, me)
    join_room(page, room)
    people = page.locator("#people")
    expect(people).to_be_hidden()
    page.get_by_role("button", name="People", exact=True).click()
    expect(people).to_be_visible()
    nicks: list[str] = sorted([me, bob.nick], key=str.lower)
    expect(people.locator(".member .nick")).to_have_text(nicks)
    expect(people.locator(f'.member[data-nick="{bob.nick}"] .presence')).to_have_text("online")
    settled(page, "#people")
    sheet = box(page, "#people")
    assert sheet["x"] == 0 and sheet["width"] == WIDTH, sheet
    assert abs(sheet["y"] + sheet["height"] - HEIGHT) <= 1, sheet  # it rises from the bottom
    shoot(page, tmp_path / "phone-people.png")
    page.get_by_role("button", name="Close the people list").click()
    expect(people).to_be_hidden()
    expect(page.locator("#input")).to_be_focused()
    shoot(page, tmp_path / "phone-conversation.png")


def test_a_desktop_keeps_three_columns(pages: Pages) -> None:
    page = pages.open(1280, 800)
    login(page, uniq("Desk_"))
    expect(page.locator("#room-title")).to_have_text("#general")
    side, main, people = box(page, "#sidebar"), box(page, "#conversation"), box(page, "#people")
    assert side["y"] == main["y"] == people["y"] == 0
    assert side["x"] + side["width"] <= main["x"] < main["x"] + main["width"] <= people["x"]
    assert main["width"] >= 700, main
    for name in ("Rooms", "People"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_hidden()
    expect(page.get_by_label("Message a person")).to_be_visible()
