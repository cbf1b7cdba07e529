"""Reactions, replies and threads in the browser: two browsers and a terminal see each change,
a reload keeps them, a reply quotes its target (fetched with `history around` when not held),
and the thread panel shows a thread and answers it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.changes_support import act, delete, message
from tests.browser.conftest import Pages, SentFrames, join_room, login, say
from tests.server.e2e.e2e_support import NOISE, SKIP_DEFAULT, Chat, uniq

pytestmark = pytest.mark.slow  # a browser and a server subprocess

CHANGES = SKIP_DEFAULT | {"edit", "delete", "react"}


def test_reactions_show_counts_and_who(pages: Pages, chat: Chat) -> None:
    alice, bob = uniq("Alice_"), uniq("Bob_")
    room = uniq("react-")
    sent = SentFrames()
    a = pages.open(before=sent.watch)
    login(a, alice)
    join_room(a, room)
    b = pages.open(before=sent.watch)
    login(b, bob)
    join_room(b, room)
    term = chat.signup("Term_")
    term.join(room)
    say(a, "react to me")
    target = term.recv_until("message", skip=NOISE, room=room)["seq"]

    item = act(a, "react to me", "React")
    item.locator(".picker").get_by_role("button", name="React with 👍").click()
    expect(item.locator(".picker")).to_have_count(0)
    for page in (a, b):
        chips = message(page, "react to me").locator(".reaction")
        expect(chips).to_have_text(["👍 1"])
        expect(chips).to_have_attribute("title", alice)  # who reacted
    expect(message(a, "react to me").locator(".reaction.mine")).to_have_count(1)
    expect(message(b, "react to me").locator(".reaction.mine")).to_have_count(0)
    seen = term.recv_until("react", room=room)
    assert (seen["target"], seen["emoji"], seen["nick"]) == (target, "👍", alice)

    # Bob adds his to the same emoji with a tap on it; the terminal reacts with another
    message(b, "react to me").locator(".reaction").click()
    term.send({"type": "react", "room": room, "target": target, "emoji": "🎉", "id": uniq("r")})
    term.recv_until("ack", skip=CHANGES)
    for page in (a, b):
        chips = message(page, "react to me").locator(".reaction")
        expect(chips).to_have_text(["👍 2", "🎉 1"])
        expect(chips.first).to_have_attribute("title", f"{alice}, {bob}")
    expect(message(b, "react to me").locator(".reaction.mine")).to_have_text(["👍 2"])

    # Alice takes hers back with a tap on her highlighted reaction
    message(a, "react to me").locator(".reaction.mine").click()
    for page in (a, b):
        expect(message(page, "react to me").locator(".reaction")).to_have_text(["👍 1", "🎉 1"])
    expect(message(a, "react to me").locator(".reaction.mine")).to_have_count(0)

    b.reload()  # the server's page says the same
    chips = message(b, "react to me").locator(".reaction")
    expect(chips).to_have_text(["👍 1", "🎉 1"])
    expect(chips.first).to_have_attribute("title", bob)
    expect(message(b, "react to me").locator(".reaction.mine")).to_have_text(["👍 1"])
    assert sent.failures == []
    assert "react" in sent.types, sent.types


def test_replies_quote_their_target_and_open_a_thread(pages: Pages, chat: Chat) -> None:
    alice, bob = uniq("Alice_"), uniq("Bob_")
    room = uniq("thread-")
    sent = SentFrames()
    a = pages.open(before=sent.watch)
    login(a, alice)
    join_room(a, room)
    b = pages.open(before=sent.watch)
    login(b, bob)
    join_room(b, room)
    term = chat.signup("Term_")
    term.join(room)
    say(a, "the root message")
    root = term.recv_until("message", skip=NOISE, room=room)["seq"]

    # Bob answers it from the log
    act(b, "the root message", "Reply")
    expect(b.locator("#reply-bar")).to_contain_text(f"Replying to {alice}: the root message")
    say(b, "a reply from bob")
    expect(b.locator("#reply-bar")).to_be_hidden()
    for page in (a, b):
        reply = message(page, "a reply from bob")
        expect(reply.locator(".quote")).to_have_text(f"↳ {alice}: the root message")
        expect(message(page, "the root message").locator(".replies")).to_have_text("1 reply")
    answer = term.recv_until("message", skip=NOISE, room=room)
    assert (answer["reply_to"], answer["thread"]) == (root, root)

    # a terminal user answers too
    term.send({"type": "send", "room": room, "body": "a reply from a tty", "id": uniq("m"),
               "reply_to": root})  # fmt: skip
    term.recv_until("ack", skip=CHANGES)
    expect(message(a, "the root message").locator(".replies")).to_have_text("2 replies")

    # the thread panel: the root and its replies; its composer answers the thread
    message(a, "the root message").locator(".replies").click()
    panel = a.locator("#thread-list .msg .body")
    expect(panel).to_have_text(["the root message", "a reply from bob", "a reply from a tty"])
    a.locator("#thread-input").fill("said in the thread")
    a.locator("#thread-input").press("Enter")
    expect(panel.last).to_have_text("said in the thread")
    expect(message(b, "the root message").locator(".replies")).to_have_text("3 replies")
    expect(message(b, "said in the thread").locator(".quote")).to_have_text(
        f"↳ {alice}: the root message"
    )
    a.keyboard.press("Escape")
    expect(a.locator("#thread-panel")).to_be_hidden()

    # a delete of the root erases the quotes too
    delete(a, "the root message")
    for page in (a, b):
        expect(message(page, "a reply from bob").locator(".quote")).to_have_text(
            "↳ deleted message"
        )
    b.reload()
    expect(message(b, "a reply from bob").locator(".quote")).to_have_text("↳ deleted message")
    assert sent.failures == []
    replies = [t for t in sent.types if t == "send"]
    assert len(replies) >= 3 and "history" in sent.types


def test_a_quote_of_a_message_not_held_is_fetched(pages: Pages, chat: Chat) -> None:
    room = uniq("far-")
    term = chat.signup("Term_")
    assert term.user is not None
    stored = chat.fill(term.user, room, 70, prefix="old")  # more than a join's backlog
    first = min(stored)
    term.join(room)
    term.send({"type": "send", "room": room, "body": "answering the very first", "id": uniq("m"),
               "reply_to": first})  # fmt: skip
    term.recv_until("ack", skip=CHANGES)

    sent = SentFrames()
    b = pages.open(before=sent.watch)
    login(b, uniq("Bob_"))
    join_room(b, room)
    reply = message(b, "answering the very first")
    expect(reply.locator(".quote")).to_have_text(f"↳ {term.nick}: old0")
    expect(b.locator("#log .msg .body").first).not_to_have_text("old0")  # not put in the log
    reply.locator(".quote").click()  # jumps there: older pages load until it is on screen
    expect(message(b, "old0")).to_have_class(re.compile(r"\bhit\b"))
    expect(message(b, "old0")).to_be_in_viewport()
    assert sent.failures == []


def test_screenshots_of_changed_messages(pages: Pages, chat: Chat, tmp_path: Path) -> None:
    """The log with an edited message (with a reaction and a reply) and a deleted one, at 1280
    and 390 px, actions showing."""
    room = uniq("look-")
    term = chat.signup("Term_")
    term.join(room)
    _, said = term.say(room, "a message that was edited later, with a few more words")
    term.send({"type": "edit", "room": room, "target": said["seq"], "id": uniq("e"),
               "body": "a message that was edited, with a few more words"})  # fmt: skip
    term.recv_until("ack", skip=CHANGES)
    term.recv_until("edit", room=room)
    term.send(
        {"type": "react", "room": room, "target": said["seq"], "emoji": "👍", "id": uniq("r")}
    )
    term.recv_until("ack", skip=CHANGES)
    term.send({"type": "send", "room": room, "body": "a reply to it", "id": uniq("m"),
               "reply_to": said["seq"]})  # fmt: skip
    term.recv_until("ack", skip=CHANGES)
    _, gone = term.say(room, "a secret")
    term.send({"type": "delete", "room": room, "target": gone["seq"], "id": uniq("d")})
    term.recv_until("ack", skip=CHANGES)
    for width, height, touch in ((1280, 800, False), (390, 800, True)):
        page = pages.open(width, height, has_touch=touch, is_mobile=touch)
        login(page, uniq("Look_"))
        join_room(page, room)
        mine = f"mine at {width} px, with actions showing"
        say(page, mine)
        expect(page.locator("#log .msg.deleted .body")).to_have_text("message deleted")
        if touch:
            message(page, mine).locator(".body").tap()
        else:
            message(page, mine).hover()
        expect(message(page, mine).locator(".actions")).to_be_visible()
        page.screenshot(path=str(tmp_path / f"changes-{width}.png"))
        assert (tmp_path / f"changes-{width}.png").stat().st_size > 0
