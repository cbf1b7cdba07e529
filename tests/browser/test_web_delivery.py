"""The web client's delivery rules under network faults injected between the page and the server.

Playwright's websocket routing sits between the page and the real server: it drops one live
event (the client must see the gap and fetch it), repeats one (shown once), and loses an ack
together with the connection (the client must re-send the same id: stored once).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import WebSocketRoute, expect

from tests.browser.conftest import Pages, faulty_network, join_room, login, say, seqs, write
from tests.server.e2e.e2e_support import Chat, uniq

pytestmark = pytest.mark.slow  # a browser and a server subprocess


def test_a_lost_event_is_fetched_and_a_repeated_one_shown_once(pages: Pages, chat: Chat) -> None:
    dropped: list[dict[str, object]] = []

    def fault(frame: dict[str, object], page_side: WebSocketRoute, raw: str) -> bool:
        if frame["type"] == "message" and frame["body"] == "lost on the way":
            dropped.append(frame)
            return True
        if frame["type"] == "message" and frame["body"] == "said twice":
            page_side.send(raw)  # and once more below
        return False

    room = uniq("gap-")
    page = pages.open(before=faulty_network(down=fault))
    login(page, uniq("Reader_"))
    join_room(page, room)
    writer = chat.signup("Writer_")
    writer.join(room)
    for body in ("one", "lost on the way", "three", "said twice", "five"):
        writer.say(room, body)
    expect(page.locator("#log .msg .body")).to_have_text(
        ["one", "lost on the way", "three", "said twice", "five"]
    )
    assert len(dropped) == 1  # the page never got it live: it came from `history after`
    assert seqs(page) == [1, 2, 3, 4, 5]


def test_a_lost_ack_is_resent_with_the_same_id_and_stored_once(pages: Pages, chat: Chat) -> None:
    lost: list[str] = []

    def fault(frame: dict[str, object], page_side: WebSocketRoute, raw: str) -> bool:
        if frame["type"] == "ack" and not lost:
            lost.append(str(frame["id"]))
            page_side.close(code=1011, reason="the network failed")  # before the ack arrived
            return True
        return False

    room = uniq("ack-")
    sent: list[dict[str, object]] = []
    page = pages.open(before=faulty_network(down=fault, sent=sent))
    login(page, uniq("Sender_"))
    join_room(page, room)
    write(page, "stored exactly once")
    expect(page.locator("#status")).to_contain_text("Reconnecting")
    expect(page.locator("#status")).to_have_text("")  # back
    expect(page.locator("#log .msg.pending")).to_have_count(0)
    expect(page.locator("#log .msg .body")).to_have_text(["stored exactly once"])
    say(page, "and the next one")
    assert seqs(page) == [1, 2]
    reader = chat.signup("Reader_")
    reader.join(room)
    stored = reader.history(room, after=0)["messages"]
    assert [(m["seq"], m["body"]) for m in stored] == [
        (1, "stored exactly once"),
        (2, "and the next one"),
    ]
    assert stored[0]["id"] == lost[0]
    resent = [f["id"] for f in sent if f["type"] == "send" and f["body"] == "stored exactly once"]
    assert resent == [lost[0], lost[0]]  # re-sent after the reconnect, with the same id


def test_a_send_lost_with_the_connection_is_resent(pages: Pages, chat: Chat) -> None:
    lost: list[str] = []

    def fault(frame: dict[str, object], page_side: WebSocketRoute, raw: str) -> bool:
        if frame["type"] == "send" and not lost:
            lost.append(str(frame["id"]))
            page_side.close(code=1001, reason="going away")  # the server never saw it
            return True
        return False

    room = uniq("lost-")
    page = pages.open(before=faulty_network(up=fault))
    login(page, uniq("Sender_"))
    join_room(page, room)
    write(page, "it got there in the end")
    expect(page.locator("#log .msg.pending")).to_have_count(0)
    expect(page.locator("#log .msg .body")).to_have_text(["it got there in the end"])
    assert seqs(page) == [1]
    reader = chat.signup("Reader_")
    reader.join(room)
    stored = reader.history(room, after=0)["messages"]
    assert [(m["body"], m["id"]) for m in stored] == [("it got there in the end", lost[0])]


def test_the_ack_marks_a_message_sent(pages: Pages, chat: Chat) -> None:
    """Between the ack and the message event a message shows as sent (here the event is lost)."""
    nick = uniq("Acked_")

    def drop_own_messages(frame: dict[str, object], page_side: WebSocketRoute, raw: str) -> bool:
        return frame["type"] == "message" and frame["nick"] == nick

    room = uniq("sent-")
    page = pages.open(before=faulty_network(down=drop_own_messages))
    login(page, nick)
    join_room(page, room)
    write(page, "acked, event lost")
    mine = page.locator("#log .msg.pending")
    expect(mine).to_have_attribute("data-state", "sent")
    expect(mine.locator(".state")).to_have_text("sent")
    other = chat.signup("Other_")
    other.join(room)
    other.say(room, "the next message reveals the gap")
    expect(page.locator("#log .msg .body")).to_have_text(
        ["acked, event lost", "the next message reveals the gap"]
    )
    expect(page.locator("#log .msg.pending")).to_have_count(0)
    assert seqs(page) == [1, 2]
