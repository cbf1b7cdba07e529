"""Messages that change, in the browser: edits and deletes made in two browsers and a terminal
reach everyone, survive a reload, and reach a browser that was offline; Escape cancels an edit,
Up edits your last message; markup stays text; only your own messages (or, for an admin, anyone's)
offer edit and delete."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import WebSocketRoute, expect

from chat_server.errors import ProtocolError
from chat_server.protocol import decode_client_frame
from tests.browser.changes_support import Cable, act, actions, delete, message
from tests.browser.conftest import Pages, SentFrames, faulty_network, join_room, login, say
from tests.server.cli_support import assert_ok, cli
from tests.server.e2e.e2e_support import NOISE, SKIP_DEFAULT, Chat, uniq

pytestmark = pytest.mark.slow  # a browser and a server subprocess

HTML = '<img src=x onerror="alert(1)"><b>bold</b><script>alert(2)</script>'


def test_edits_and_deletes_reach_two_browsers_and_a_terminal(pages: Pages, chat: Chat) -> None:
    alice, bob = uniq("Alice_"), uniq("Bob_")
    room = uniq("change-")
    sent = SentFrames()  # every frame both pages send must decode on the server
    a = pages.open(before=sent.watch)
    login(a, alice)
    join_room(a, room)
    b = pages.open(before=sent.watch)
    login(b, bob)
    join_room(b, room)
    term = chat.signup("Term_")
    term.join(room)

    say(a, "the pasword is hunter2")
    first = term.recv_until("message", skip=NOISE, room=room)
    expect(message(b, "the pasword")).to_be_visible()
    # Bob may answer Alice's message, not change it
    message(b, "the pasword").hover()
    assert actions(message(b, "the pasword")) == ["Reply", "React"]
    message(a, "the pasword").hover()
    assert actions(message(a, "the pasword")) == ["Reply", "React", "Edit", "Delete"]

    # an edit that Escape cancels changes nothing
    act(a, "the pasword", "Edit")
    box = a.locator("#log .edit-box")
    expect(box).to_be_focused()
    expect(box).to_have_value("the pasword is hunter2")
    box.fill("never saved")
    box.press("Escape")
    expect(box).to_have_count(0)
    expect(a.locator("#input")).to_be_focused()
    expect(a.locator("#log .msg .body")).to_have_text(["the pasword is hunter2"])

    # an edit that Enter saves reaches everyone
    act(a, "the pasword", "Edit")
    box.fill("the password is hunter2")
    box.press("Enter")
    for page in (a, b):
        expect(page.locator("#log .msg .body")).to_have_text(["the password is hunter2 (edited)"])
    edit = term.recv_until("edit", room=room)
    assert (edit["target"], edit["nick"], edit["body"]) == (
        first["seq"],
        alice,
        "the password is hunter2",
    )

    # a terminal user edits their own message: both browsers show it
    _, said = term.say(room, "from a tty")
    fix = {"type": "edit", "room": room, "target": said["seq"], "body": "from a terminal"}
    term.request({**fix, "id": uniq("e")}, "ack")
    for page in (a, b):
        expect(message(page, "from a terminal").locator(".body")).to_have_text(
            "from a terminal (edited)"
        )

    # a delete is asked once, then erases the text everywhere
    delete(a, "the password")
    for page in (a, b):
        expect(page.locator("#log .msg.deleted .body")).to_have_text(["message deleted"])
        expect(page.locator("#log")).not_to_contain_text("hunter2")
    gone = term.recv_until("delete", skip=SKIP_DEFAULT | {"edit"}, room=room)
    assert (gone["target"], gone["nick"]) == (first["seq"], alice)

    # a reload shows the same state, from the server's pages
    b.reload()
    expect(b.locator("#log .msg .body")).to_have_text(
        ["message deleted", "from a terminal (edited)"]
    )
    expect(b.locator("#log")).not_to_contain_text("hunter2")
    assert sent.failures == []
    assert {"edit", "delete"} <= set(sent.types), sent.types


def test_a_delete_made_while_offline_shows_after_the_reconnect(pages: Pages) -> None:
    alice, bob = uniq("Alice_"), uniq("Bob_")
    room = uniq("offline-")
    a = pages.open()
    login(a, alice)
    join_room(a, room)
    cable = Cable()
    b = pages.open(before=cable.route)
    login(b, bob)
    join_room(b, room)
    say(a, "soon gone")
    say(a, "stays")
    expect(b.locator("#log .msg .body")).to_have_text(["soon gone", "stays"])

    cable.pull()
    expect(b.locator("#status")).to_contain_text("Reconnecting")
    delete(a, "soon gone")
    expect(a.locator("#log .msg .body")).to_have_text(["message deleted", "stays"])
    expect(b.locator("#log .msg .body")).to_have_text(["soon gone", "stays"])  # still offline

    cable.plug(b)
    expect(b.locator("#status")).to_have_text("")
    expect(b.locator("#log .msg .body")).to_have_text(["message deleted", "stays"])
    expect(b.locator("#log")).not_to_contain_text("soon gone")


def test_up_edits_the_last_message_and_markup_stays_text(pages: Pages, chat: Chat) -> None:
    alice = uniq("Alice_")
    room = uniq("up-")
    a = pages.open()
    login(a, alice)
    join_room(a, room)
    term = chat.signup("Term_")
    term.join(room)
    say(a, "first")
    say(a, "second")
    _, said = term.say(room, "not yours")

    # a message's actions take the focus (Tab reaches them) and show while focused
    message(a, "first").locator(".actions").get_by_role("button", name="Reply").focus()
    expect(message(a, "first").locator(".actions")).to_have_css("opacity", "1")
    a.keyboard.press("Enter")
    expect(a.locator("#reply-bar")).to_contain_text(f"Replying to {alice}: first")
    expect(a.locator("#input")).to_be_focused()
    a.keyboard.press("Escape")
    expect(a.locator("#reply-bar")).to_be_hidden()

    a.locator("#input").fill("a draft")
    a.locator("#input").press("ArrowUp")  # not empty: the caret moves, nothing is edited
    expect(a.locator("#log .edit-box")).to_have_count(0)
    a.locator("#input").fill("")
    a.locator("#input").press("ArrowUp")  # empty: edit my last message (not the terminal's)
    box = a.locator("#log .edit-box")
    expect(box).to_be_focused()
    expect(box).to_have_value("second")
    box.fill(HTML)
    box.press("Enter")
    expect(a.locator("#log .msg .body")).to_have_text(["first", f"{HTML} (edited)", "not yours"])

    # markup a terminal user puts in an edit stays text too
    fix = {"type": "edit", "room": room, "target": said["seq"], "body": f"tty {HTML}"}
    term.send({**fix, "id": uniq("e")})
    term.recv_until("ack", skip=SKIP_DEFAULT | {"edit"})
    expect(a.locator("#log .msg .body").last).to_have_text(f"tty {HTML} (edited)")
    assert a.locator("#log img, #log b, #log script").count() == 0


def test_an_admin_deletes_anyones_message(pages: Pages, chat: Chat) -> None:
    """`chat-server users admin NICK`: after their next login the page offers Delete on
    everyone's messages; two browsers and a terminal see the delete. Revoked, the page (not
    reloaded) still offers it, and the server's refusal is said, changing nothing."""
    room = uniq("admin-")
    admin, bob = uniq("Admin_"), uniq("Bob_")
    term = chat.signup("Term_")
    term.join(room)  # its creator, so its owner (who may delete anyone's message there)
    a = pages.open()
    login(a, admin)
    join_room(a, room)
    b = pages.open()
    login(b, bob)
    join_room(b, room)
    term.say(room, "a stranger's words")
    term.say(room, "more of them")
    message(a, "a stranger's words").hover()
    assert actions(message(a, "a stranger's words")) == ["Reply", "React"]

    assert_ok(cli("users", "admin", admin, "--db", str(pages.server.db)))
    a.reload()
    expect(message(a, "more of them")).to_be_visible()
    message(a, "a stranger's words").hover()
    assert actions(message(a, "a stranger's words")) == ["Reply", "React", "Delete"]
    message(b, "a stranger's words").hover()
    assert actions(message(b, "a stranger's words")) == ["Reply", "React"]  # Bob is no admin

    item = act(a, "a stranger's words", "Delete")
    expect(item.locator(".confirm")).to_contain_text(f"Delete {term.nick}'s message?")
    item.locator(".confirm").get_by_role("button", name="Delete", exact=True).click()
    for page in (a, b):
        expect(page.locator("#log .msg .body")).to_have_text(["message deleted", "more of them"])
    gone = term.recv_until("delete", room=room)
    assert gone["nick"] == admin

    assert_ok(cli("users", "admin", admin, "--revoke", "--db", str(pages.server.db)))
    delete(a, "more of them")
    expect(a.locator("#notice")).to_contain_text("Could not delete")
    for page in (a, b):
        expect(page.locator("#log .msg .body")).to_have_text(["message deleted", "more of them"])


def test_on_a_phone_a_tap_shows_the_actions(pages: Pages, tmp_path: Path) -> None:
    alice = uniq("Alice_")
    room = uniq("phone-")
    a = pages.open(390, 800, has_touch=True, is_mobile=True)
    login(a, alice)
    join_room(a, room)
    say(a, "typed on a phone")
    say(a, "and deleted")
    item = message(a, "typed on a phone")
    expect(item.locator(".actions")).to_be_hidden()  # no hover on a touch screen
    item.locator(".body").tap()
    assert actions(item) == ["Reply", "React", "Edit", "Delete"]
    item.locator(".actions").get_by_role("button", name="Edit").tap()
    box = a.locator("#log .edit-box")
    box.fill("typed on a phone, fixed")
    box.press("Enter")
    expect(message(a, "fixed").locator(".body")).to_have_text("typed on a phone, fixed (edited)")
    # a long press shows them too (a finger held down on the message, then lifted)
    box_of = message(a, "and deleted").locator(".body").bounding_box()
    assert box_of is not None
    point = {"x": box_of["x"] + 10, "y": box_of["y"] + box_of["height"] / 2}
    touch = a.context.new_cdp_session(a)
    touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]})
    expect(message(a, "and deleted")).to_have_class(re.compile(r"\bactive\b"))  # still held
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    expect(message(a, "and deleted")).to_have_class(re.compile(r"\bactive\b"))
    expect(message(a, "fixed")).not_to_have_class(re.compile(r"\bactive\b"))
    message(a, "and deleted").locator(".actions").get_by_role("button", name="Delete").tap()
    a.locator("#log .confirm").get_by_role("button", name="Delete", exact=True).tap()
    expect(a.locator("#log .msg.deleted .body")).to_have_text("message deleted")
    a.screenshot(path=str(tmp_path / "changes-390.png"))


def test_every_new_frame_the_page_sends_decodes_on_the_server(pages: Pages, chat: Chat) -> None:
    """Reply, react, edit, delete, a thread's page and a quote's `around`: whatever this server
    does with them, the page builds them as the protocol says. Two messages from the terminal
    are made replies on their way to the page, to one held (a thread) and one not (a quote to
    fetch)."""
    room = uniq("frames-")
    term = chat.signup("Term_")
    assert term.user is not None
    stored = chat.fill(term.user, room, 60, prefix="old")  # more than a join's backlog
    far, near = min(stored), max(stored)
    replies = {"points far back": far, "points near": near}

    def as_reply(frame: dict[str, object], page_side: WebSocketRoute, raw: str) -> bool:
        target = replies.get(str(frame.get("body"))) if frame.get("type") == "message" else None
        if target is None:
            return False
        page_side.send(json.dumps({**frame, "reply_to": target, "thread": target}))
        return True

    frames: list[dict[str, object]] = []
    a = pages.open(before=faulty_network(down=as_reply, sent=frames))
    login(a, uniq("Alice_"))
    join_room(a, room)
    term.join(room)
    term.say(room, "points far back")
    term.say(room, "points near")
    expect(message(a, "points near").locator(".quote")).to_have_text(f"↳ {term.nick}: old59")
    message(a, "old59").locator(".replies").click()  # counted by the page: opens its thread
    expect(a.locator("#thread-panel")).to_be_visible()
    a.locator("#thread-close").click()

    say(a, "mine")
    act(a, "mine", "Reply")
    say(a, "my answer")
    item = act(a, "mine", "React")
    item.locator(".picker").get_by_role("button", name="React with 🎉").click()
    act(a, "my answer", "Edit")
    a.locator("#log .edit-box").fill("my answer, edited")
    a.locator("#log .edit-box").press("Enter")
    expect(message(a, "my answer, edited")).to_be_visible()
    delete(a, "my answer")
    expect(a.locator("#log .msg.deleted")).to_have_count(1)

    failures = []
    for frame in frames:
        try:
            decode_client_frame(json.dumps(frame))
        except ProtocolError as exc:
            failures.append(f"{exc.code}: {frame}")
    assert failures == []
    kinds = {(f["type"], next((k for k in KEYS if k in f), None)) for f in frames}
    assert {
        ("send", "reply_to"),
        ("react", "emoji"),
        ("edit", "target"),
        ("delete", "target"),
        ("history", "thread"),
        ("history", "around"),
    } <= kinds, kinds
    sent_reply = next(f for f in frames if f["type"] == "send" and "reply_to" in f)
    assert sent_reply["body"] == "my answer"
    around = next(f for f in frames if f["type"] == "history" and "around" in f)
    assert around["around"] == far


KEYS = ("reply_to", "emoji", "thread", "around", "target")
