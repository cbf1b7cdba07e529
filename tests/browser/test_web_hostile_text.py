"""Text written to mislead or to flood, as the browser shows it: combining marks are capped at two
per character (as chat-tui caps them) and stay inside their message, and a bidi override shows as
a visible ``<U+202E>`` (as chat-tui shows it) instead of turning the text around, in a message's
body, a topic and a reaction chip alike.

What is checked is what a person sees: the text on screen, the order its characters are drawn in
from left to right, and the pixels of the message above a flood.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.browser.conftest import Pages, faulty_network, join_room, login
from tests.server.e2e.e2e_support import Chat, Client, uniq

pytestmark = pytest.mark.slow  # a browser and a server subprocess

MARK = "\u0301"  # a combining acute accent
RLO, PDF = "\u202e", "\u202c"  # right-to-left override, pop directional formatting

# The characters of an element's text sorted by where they are drawn, left to right: the order a
# reader sees them in (a single line of text; invisible characters take no room and are skipped).
DRAWN_ORDER = """(element) => {
  const drawn = [];
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const box = range.getBoundingClientRect();
      if (box.width > 0) drawn.push([box.left, node.data[i]]);
    }
  }
  drawn.sort((a, b) => a[0] - b[0]);
  return drawn.map(([, char]) => char).join("");
}"""


def owner_room(chat: Chat, room: str, topic: str) -> Client:
    """A terminal user who creates ``room`` (its owner) and sets its topic."""
    term = chat.signup("Term_")
    term.join(room)
    term.request({"type": "topic", "room": room, "topic": topic, "id": uniq("t")}, "ack")
    term.recv_until("notice", room=room)
    return term


def react(term: Client, room: str, target: int, emoji: str) -> None:
    term.send({"type": "react", "room": room, "target": target, "emoji": emoji, "id": uniq("r")})
    term.recv_until("ack")
    term.recv_until("react", room=room)


def drawn(page: Page, selector: str) -> str:
    text: str = page.locator(selector).evaluate(DRAWN_ORDER)
    return text


def test_combining_marks_are_capped_and_stay_in_their_message(pages: Pages, chat: Chat) -> None:
    room = uniq("zalgo-")
    term = owner_room(chat, room, "TOPIC: t" + MARK * 30)
    for n in range(8):
        term.say(room, f"plain message {n}")
    ack, _ = term.say(room, "ZALGO: a" + MARK * 200 + " end")
    react(term, room, ack["seq"], "x" + MARK * 31)
    term.say(room, "after the flood")

    page = pages.open(1280, 800)
    login(page, uniq("Web_"))
    join_room(page, room)
    zalgo = page.locator("#log .msg", has_text="ZALGO")
    expect(zalgo.locator(".body")).to_have_text("ZALGO: a" + MARK * 2 + " end")
    expect(zalgo.locator(".reaction")).to_have_text("x" + MARK * 2 + " 1")
    expect(page.locator("#room-topic")).to_have_text("TOPIC: t" + MARK * 2)
    expect(page.locator("#log .event", has_text="TOPIC")).to_contain_text("TOPIC: t" + MARK * 2)

    # the message above looks the same whether the flood is drawn or not
    above = page.locator("#log .msg", has_text="plain message 7")
    box = above.bounding_box()
    assert box is not None
    with_flood = page.screenshot(clip=box)
    zalgo.evaluate("item => { item.style.visibility = 'hidden'; }")
    without = page.screenshot(clip=box)
    assert with_flood == without, "the marks of the flood draw over the message above it"

    # the chip stays inside its message, and its message above the next one
    chip, item = zalgo.locator(".reaction").bounding_box(), zalgo.bounding_box()
    after = page.locator("#log .msg", has_text="after the flood").bounding_box()
    assert chip is not None and item is not None and after is not None
    assert item["y"] <= chip["y"] and chip["y"] + chip["height"] <= item["y"] + item["height"]
    assert item["y"] + item["height"] <= after["y"]


def old_reaction(emoji: str, stored: str) -> Any:
    """The page's websocket, with reactions ``emoji`` shown as ``stored``: what a server kept
    from before it refused bidi controls in reactions."""

    def down(frame: dict[str, Any], page_side: WebSocketRoute, raw: str) -> bool:
        if frame.get("type") != "history":
            return False
        for m in frame.get("messages", []):
            for reaction in m.get("reactions") or []:
                if reaction["emoji"] == emoji:
                    reaction["emoji"] = stored
        page_side.send(json.dumps(frame))
        return True

    return faulty_network(down=down)


def test_a_bidi_override_shows_and_turns_nothing_around(pages: Pages, chat: Chat) -> None:
    room = uniq("bidi-")
    term = owner_room(chat, room, f"{RLO}evil{PDF}")
    ack, _ = term.say(room, f"BIDI: abc{RLO}dcba{PDF} end")
    react(term, room, ack["seq"], "abc")

    page = pages.open(1280, 800, before=old_reaction("abc", f"{RLO}abc"))
    login(page, uniq("Web_"))
    join_room(page, room)
    body = "#log .msg .body >> nth=-1"
    expect(page.locator(body)).to_have_text("BIDI: abc<U+202E>dcba<U+202C> end")
    assert drawn(page, body) == "BIDI: abc<U+202E>dcba<U+202C> end"

    expect(page.locator("#room-topic")).to_have_text("<U+202E>evil<U+202C>")
    assert drawn(page, "#room-topic") == "<U+202E>evil<U+202C>"
    notice = "#log .event .text >> nth=-1"
    assert drawn(page, notice).endswith("<U+202E>evil<U+202C>")

    chip = "#log .msg .reaction >> nth=-1"
    expect(page.locator(chip)).to_have_text("<U+202E>abc 1")
    assert drawn(page, chip) == "<U+202E>abc 1"  # the count stays after the emoji
