"""Being told about messages meant for you in the browser: desktop notifications only once turned
on (never asked on load), a mention tone off by default, the unread count in the tab's title.

The browser's Notification and AudioContext are replaced in the page by recorders (an init
script): headless Chromium shows no notifications and plays no sound, and a test must not ask
the machine for either. Everything else is real: the server, the page, a terminal user.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Pages, join_room, login
from tests.server.e2e.e2e_support import Chat, Client, uniq

pytestmark = pytest.mark.slow  # a browser and a server subprocess

# Records what the page asks of the browser: permission requests, notifications, tones. The
# permission survives a reload of the tab (as the browser's would).
RECORDERS = """
window.seen = { asked: 0, shown: [], tones: 0 };
class RecordedNotification {
  static get permission() { return sessionStorage.getItem("test.permission") || "default"; }
  static requestPermission() {
    window.seen.asked += 1;
    sessionStorage.setItem("test.permission", "granted");
    return Promise.resolve("granted");
  }
  constructor(title, options) { window.seen.shown.push({ title, ...options }); }
  addEventListener() {}
  close() {}
}
window.Notification = RecordedNotification;
class RecordedAudio {
  constructor() { this.state = "running"; this.currentTime = 0; this.destination = {}; }
  resume() { return Promise.resolve(); }
  createGain() {
    return { gain: { setValueAtTime() {}, exponentialRampToValueAtTime() {} }, connect: (n) => n };
  }
  createOscillator() {
    return { frequency: {}, connect: (n) => n, start() { window.seen.tones += 1; }, stop() {} };
  }
}
window.AudioContext = RecordedAudio;
"""

HTML = "<b>look</b> <img src=x onerror=alert(1)>"


def recorded(page: Page) -> None:
    page.add_init_script(RECORDERS)


def seen(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate("window.seen")
    return result


def elsewhere(page: Page) -> None:
    """The user is in another window: the page has no focus."""
    page.evaluate("document.hasFocus = () => false")


def test_desktop_notifications_only_once_turned_on(pages: Pages, chat: Chat) -> None:
    room = uniq("notify-")
    bob = chat.signup("Bob_")
    bob.join(room)
    alice = uniq("Alice_")
    page = pages.open(before=recorded)
    login(page, alice)
    join_room(page, room)
    desktop = page.get_by_label("Desktop notifications")
    expect(desktop).not_to_be_checked()
    bob.say(room, f"{alice}: before it is on")
    expect(page.locator("#log .msg .body").last).to_have_text(f"{alice}: before it is on")
    assert seen(page)["asked"] == 0  # never asked on load, nor by a message
    assert seen(page)["shown"] == []

    desktop.check()
    expect(desktop).to_be_checked()
    assert seen(page)["asked"] == 1
    assert page.evaluate("localStorage.getItem('chat.notify.desktop')") == "on"

    # on the page: nothing (in another room, its unread count says it)
    bob.say(room, f"hey {alice}, while you look")
    expect(page.locator("#log .msg .body").last).to_have_text(f"hey {alice}, while you look")
    join_room(page, uniq("aside-"))
    bob.say(room, f"hey {alice}, in the room beside")
    expect(page.locator(f'button.room[data-room="{room}"] .badge')).to_have_text("1")
    page.locator(f'button.room[data-room="{room}"]').click()
    expect(page.locator("#log .msg .body").last).to_have_text(f"hey {alice}, in the room beside")
    # elsewhere (another window): a mention and a direct message, not other talk
    elsewhere(page)
    bob.say(room, "talk that names nobody")
    bob.say(room, f"{alice.lower()}alike is not a mention")
    bob.say(room, f"@{alice.upper()} {HTML}")
    bob.send_msg(None, "just between us", to=alice)
    page.wait_for_function("() => window.seen.shown.length >= 2")
    shown = [(n["title"], n["body"]) for n in seen(page)["shown"]]
    assert shown == [
        (f"{bob.nick} in #{room}", f"@{alice.upper()} {HTML}"),
        (bob.nick, "just between us"),
    ]
    assert page.locator("#log img").count() == 0  # the text stayed text

    # kept after a reload; never asked again; turned off, nothing more
    page.reload()
    expect(page.locator("#me-nick")).to_have_text(alice)
    expect(desktop).to_be_checked()
    desktop.uncheck()
    assert page.evaluate("localStorage.getItem('chat.notify.desktop')") is None
    elsewhere(page)
    bob.say(room, f"{alice} after it is off")
    expect(page.locator("#log .msg .body").last).to_have_text(f"{alice} after it is off")
    assert seen(page) == {"asked": 0, "shown": [], "tones": 0}


def test_the_mention_tone_is_off_until_turned_on(pages: Pages, chat: Chat) -> None:
    room, other = uniq("tone-"), uniq("quiet-")
    bob = chat.signup("Bob_")
    bob.join(room)
    alice = uniq("Alice_")
    page = pages.open(before=recorded)
    login(page, alice)
    join_room(page, room)
    join_room(page, other)  # on screen: the mentions come in the room not shown
    sound = page.get_by_label("Sound on mentions")
    expect(sound).not_to_be_checked()
    unread = page.locator(f'button.room[data-room="{room}"] .badge')
    bob.say(room, f"{alice}, one")
    expect(unread).to_have_text("1")
    assert seen(page)["tones"] == 0  # off by default

    sound.check()
    assert page.evaluate("localStorage.getItem('chat.notify.sound')") == "on"
    bob.say(room, "no mention here")
    bob.say(room, f"{alice}, two")
    expect(unread).to_have_text("3")
    assert seen(page)["tones"] == 1
    page.reload()
    expect(sound).to_be_checked()


def tab_shown(page: Page, shown: bool) -> None:
    """The tab goes to the background (or comes back), as the browser tells the page."""
    page.evaluate(
        """shown => {
            const state = shown ? "visible" : "hidden";
            const value = { value: state, configurable: true };
            Object.defineProperty(document, "visibilityState", value);
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        shown,
    )


def say_in(bob: Client, room: str, count: int) -> None:
    for i in range(count):
        bob.say(room, f"news {i}")


def test_the_tab_title_counts_what_is_unread(pages: Pages, chat: Chat) -> None:
    here, there = uniq("here-"), uniq("there-")
    bob = chat.signup("Bob_")
    bob.join(here)
    bob.join(there)
    page = pages.open()
    login(page, uniq("Reader_"))
    join_room(page, there)
    join_room(page, here)
    expect(page).to_have_title("chat")
    say_in(bob, there, 3)
    expect(page).to_have_title("(3) chat")
    page.locator(f'button.room[data-room="{there}"]').click()  # reading them
    expect(page).to_have_title("chat")

    # the tab hidden: what comes in the room on screen counts too, until the tab is seen
    tab_shown(page, False)
    say_in(bob, there, 2)
    expect(page).to_have_title("(2) chat")
    tab_shown(page, True)
    expect(page).to_have_title("chat")


MENTIONS = [
    ("hi alice", True),
    ("hi @Alice!", True),  # any case, with or without @
    ("ALICE: look", True),
    ("alice", True),
    ("malice", False),  # inside another word
    ("alice_2 is someone else", False),  # another nick
    ("alice-bot said", False),
    ("hi al ice", False),
    ("", False),
]


def test_what_counts_as_a_mention(pages: Pages) -> None:
    page = pages.open()
    expect(page.locator("#login-screen")).to_be_visible()
    found = page.evaluate(
        """async (bodies) => {
            const { mentions } = await import("/notify.js");
            return bodies.map((body) => mentions(body, "alice"));
        }""",
        [body for body, _ in MENTIONS],
    )
    assert found == [expected for _, expected in MENTIONS]
