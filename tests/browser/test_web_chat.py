"""The web client in headless Chromium: two people chat, rooms, DMs, presence, typing, unread."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from chat_tui.client.errors import RateLimited
from tests.browser.conftest import (
    PASSWORD,
    Pages,
    SentFrames,
    bodies,
    join_room,
    login,
    say,
    seqs,
)
from tests.server.e2e.e2e_support import Chat, dm_room, start_server, uniq

pytestmark = pytest.mark.slow  # a browser and a server subprocess


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


def test_direct_messages_and_unread_counts(pages: Pages, chat: Chat) -> None:
    alice, bob = uniq("Alice_"), uniq("Bob_")
    room = uniq("web-")
    sent = SentFrames()  # every frame both pages send must decode on the server
    a = pages.open(before=sent.watch)
    login(a, alice)
    join_room(a, room)
    b = pages.open(before=sent.watch)
    login(b, bob)
    join_room(b, room)

    # Alice opens a conversation with Bob: the first message creates it (send with `to`)
    a.get_by_label("Message a person").fill(bob)
    a.get_by_role("button", name="Open").click()
    expect(a.locator("#room-title")).to_have_text(f"@{bob}")
    say(a, "psst, a secret")

    # Bob is looking at the room: the conversation appears with one unread message
    dm_button = b.locator("#dm-list button.room")
    expect(dm_button).to_have_text(f"@{alice}1")
    expect(dm_button.locator(".badge")).to_have_attribute("aria-label", "1 unread")
    expect(b).to_have_title("(1) chat")  # visible from another tab too
    dm_button.click()
    expect(b.locator("#log .msg .body")).to_have_text(["psst, a secret"])
    expect(dm_button.locator(".badge")).to_have_count(0)
    expect(b).to_have_title("chat")
    say(b, "tell me")
    expect(a.locator("#log .msg .body").last).to_have_text("tell me")

    # a message in the room Alice is not looking at counts as unread there
    terminal = chat.signup("Term_")
    terminal.join(room)
    terminal.say(room, "meanwhile in the room")
    room_button = a.locator(f'#room-list button[data-room="{room}"]')
    expect(room_button.locator(".badge")).to_have_text("1")
    room_button.click()
    expect(a.locator("#log .msg .body").last).to_have_text("meanwhile in the room")
    expect(room_button.locator(".badge")).to_have_count(0)

    # the read marker reached the server: a fresh login of Alice shows nothing unread there
    token = a.evaluate("sessionStorage.getItem('chat.token')")
    assert a.evaluate("localStorage.getItem('chat.token')") is None  # not remembered
    deadline = time.monotonic() + 10
    while True:  # the marker is sent a moment after the message is shown
        probe = chat.connect()
        unread = {r["room"]: r["unread"] for r in probe.hello(token=token)["rooms"]}
        probe.close()
        if unread[room] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sent.failures == []
    assert {"hello", "join", "send", "read"} <= set(sent.types), sent.types
    assert unread == {room: 0, dm_room(alice, bob): 0, "general": unread["general"]}


def test_infinite_scroll_loads_older_pages(pages: Pages, chat: Chat) -> None:
    room = uniq("long-")
    writer = chat.signup("Writer_")
    assert writer.user is not None
    stored = chat.fill(writer.user, room, 230, prefix="line ")
    assert sorted(stored) == list(range(1, 231))
    page = pages.open()
    login(page, uniq("Reader_"))
    join_room(page, room)
    messages = page.locator("#log .msg")
    expect(messages).to_have_count(50)  # the newest page
    assert seqs(page) == list(range(181, 231))
    log = page.locator("#log")
    expect(page.locator("#log .msg .body").last).to_have_text("line 229")
    assert log.evaluate("el => el.scrollHeight > el.clientHeight")

    # scrolling to the top loads the page before; what was on screen stays where it was
    first_seen = page.locator('#log .msg[data-seq="181"]')
    log.evaluate("el => { el.scrollTop = 0; }")
    expect(messages).to_have_count(150)
    assert log.evaluate("el => el.scrollTop") > 0  # not thrown to the top of the new page
    assert first_seen.evaluate(
        "el => { const r = el.getBoundingClientRect(), l = el.parentElement.parentElement"
        ".getBoundingClientRect(); return r.bottom > l.top && r.top < l.bottom; }"
    ), "the message at the top before the load is still in view"
    log.evaluate("el => { el.scrollTop = 0; }")
    expect(messages).to_have_count(230)
    expect(page.locator("#log-top")).to_have_text(f"This is the start of #{room}.")
    assert seqs(page) == list(range(1, 231))  # in order, no gap, no duplicate
    assert bodies(page)[:2] == ["line 0", "line 1"]


XSS_CORPUS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "javascript:alert(3)",
    '<a href="javascript:alert(4)">click me</a>',
    '"><svg onload=alert(5)>',
    "<iframe srcdoc='<script>alert(6)</script>'></iframe>",
    "&lt;b&gt;entities stay as typed&lt;/b&gt;",
    "{{constructor.constructor('alert(7)')()}}",
    "<style>body{display:none}</style>",
]


def test_xss_corpus_stays_inert(pages: Pages, chat: Chat) -> None:
    room = uniq("xss-")
    page = pages.open()
    login(page, uniq("Victim_"))
    join_room(page, room)
    mallory = chat.signup("Mallory_")
    mallory.join(room)
    for body in XSS_CORPUS:
        mallory.say(room, body)
    mallory.say(room, "the end")
    expect(page.locator("#log .msg .body").last).to_have_text("the end")
    assert bodies(page) == [*XSS_CORPUS, "the end"]  # shown literally, character for character
    injected = page.locator("#log img, #log script, #log svg, #log iframe, #log a, #log style")
    expect(injected).to_have_count(0)
    expect(page.locator("#chat-screen")).to_be_visible()
    # the same text typed into the composer is sent and shown as text as well
    say(page, XSS_CORPUS[0])
    expect(injected).to_have_count(0)
    # (the pages fixture fails the test if any dialog opened)


def test_wrong_password_shows_an_error(pages: Pages, chat: Chat) -> None:
    owner = chat.signup("Owner_")
    page = pages.open()
    page.get_by_label("Nick").fill(owner.nick)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_have_text("Wrong nick or password.")
    expect(page.locator("#chat-screen")).to_be_hidden()
    expect(page.get_by_label("Password")).to_be_focused()
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    page.get_by_label("Nick").fill("bad nick!")
    page.get_by_label("Password").fill("x")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_contain_text("1 to 32 letters")


def test_a_rate_limited_login_shows_the_wait(pages: Pages, tmp_path: Path) -> None:
    strict = start_server(
        tmp_path / "chat.db", tmp_path / "server.log", ["--login-failures", "1/h"]
    )
    try:
        owner = Chat(strict).signup("Owner_")
        page = pages.open(server=strict)
        for expected in ["Wrong nick or password.", "Too many attempts; try again in 60 min"]:
            page.get_by_label("Nick").fill(owner.nick)
            page.get_by_label("Password").fill("not-the-password")
            page.get_by_role("button", name="Log in").click()
            expect(page.locator("#login-error")).to_have_text(expected)
        expect(page.locator("#chat-screen")).to_be_hidden()
        expect(page.get_by_role("button", name="Log in")).to_be_enabled()
        page.wait_for_timeout(500)  # the server's close (1008) that follows changes nothing
        expect(page.locator("#login-error")).to_have_text("Too many attempts; try again in 60 min")
        owner.close()
    finally:
        strict.stop()


def test_the_wait_reads_as_in_the_terminal(pages: Pages) -> None:
    """login.js's waitLine says what chat_tui's RateLimited says, for the same refusals."""
    cases = [
        ("too many attempts", 41.2),
        ("the server is busy", 0.3),
        ("too many attempts", 119.0),
        ("too many attempts", 161.5),
        ("too many new accounts from this address", 1200.0),
        ("too many attempts", None),
    ]
    page = pages.open()
    lines = page.evaluate(
        """async (cases) => {
          const { waitLine } = await import("/login.js");
          return cases.map(([message, retryAfter]) => waitLine(message, retryAfter));
        }""",
        cases,
    )
    assert lines == [str(RateLimited(message, wait)) for message, wait in cases]


def test_screenshot_of_the_main_screen(pages: Pages, chat: Chat, tmp_path: Path) -> None:
    """Saves the README's picture: CHAT_WEB_SCREENSHOT=docs/web-client.png refreshes the copy."""
    room = "design-review"
    alice, bob = uniq("alice_")[:10], uniq("bob_")[:8]
    b = pages.open()
    login(b, bob)
    join_room(b, room)
    a = pages.open(width=1100, height=640)
    login(a, alice)
    join_room(a, room)
    say(a, "The web client is in: same rooms, same history as the terminal.")
    say(b, "Nice. Does it keep up after a reconnect?")
    say(a, "Yes: it re-joins with since, fills gaps and re-sends unacked messages.")
    typing = a.locator("#typing")
    deadline = time.monotonic() + 10
    for key in "Trying it now, one key at a time":  # one typing frame per 3 s gets through
        b.locator("#input").press(key)
        if typing.text_content() or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    expect(typing).to_have_text(f"{bob} is typing…")
    shot = tmp_path / "web-client.png"
    a.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    target = os.environ.get("CHAT_WEB_SCREENSHOT")
    if target:
        shutil.copyfile(shot, target)
    print(f"screenshot: {shot}")


def test_keyboard_only(pages: Pages) -> None:
    """Log in, write, switch rooms and scroll without a mouse."""
    page = pages.open()
    expect(page.get_by_label("Nick")).to_be_focused()
    nick = uniq("Keys_")
    page.keyboard.type(nick)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("#input")).to_be_focused()
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    page.keyboard.press("Enter")
    mine = page.locator("#log .msg.mine:not(.pending) .body")  # #general is shared
    expect(mine.last).to_have_text("first line\nsecond line")

    room = uniq("keys-")
    page.get_by_label("Join a room").focus()
    page.keyboard.type(room)
    page.keyboard.press("Enter")
    expect(page.locator("#room-title")).to_have_text(f"#{room}")
    expect(page.locator("#input")).to_be_focused()
    general = page.locator('button.room[data-room="general"]')
    general.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#room-title")).to_have_text("#general")
    expect(general).to_have_attribute("aria-current", "page")
    assert page.locator("#log").get_attribute("tabindex") == "0"  # arrow keys scroll it
