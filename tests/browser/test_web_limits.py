"""What the browser client says at its limits: a message over the server's length limit is
refused with a reason (never cut), a counter shows as it nears it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Pages, SentFrames, join_room, login
from tests.server.e2e.e2e_support import NOISE, Chat, uniq

pytestmark = pytest.mark.slow  # a browser and a server subprocess

MAX_BODY = 4000  # the server's default, which its welcome.limits.max_body announces


def test_a_long_paste_is_refused_with_a_reason_not_cut(pages: Pages, chat: Chat) -> None:
    room = uniq("long-")
    bob = chat.signup("Bob_")
    bob.join(room)
    sent = SentFrames()
    page = pages.open(before=sent.watch)
    login(page, uniq("Long_"))
    join_room(page, room)
    box, counter = page.locator("#input"), page.locator("#counter")

    box.fill("a" * 3500)  # far from the limit: no counter
    expect(counter).to_be_hidden()
    box.fill("b" * 3850)  # near it
    expect(counter).to_be_visible()
    expect(counter).to_have_text(f"3850/{MAX_BODY}")
    expect(counter).not_to_have_class("counter over")

    pasted = "🙂" + "c" * 4999  # 5000 characters (an emoji counts as one, as the server counts)
    box.fill(pasted)
    expect(counter).to_have_text(f"5000/{MAX_BODY}")
    expect(counter).to_have_class("counter over")
    expect(box).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#notice")).to_have_text(
        f"Not sent: 5000 characters, over the limit of {MAX_BODY}. Shorten it by 1000."
    )
    box.press("Enter")  # nor with Enter
    assert box.input_value() == pasted  # the whole paste is still there, to be shortened
    expect(page.locator("#log .msg")).to_have_count(0)
    assert "send" not in sent.types

    kept = pasted[:MAX_BODY]
    box.fill(kept)
    expect(counter).to_have_text(f"{MAX_BODY}/{MAX_BODY}")
    expect(counter).not_to_have_class("counter over")
    expect(box).not_to_have_attribute("aria-invalid", "true")
    box.press("Enter")
    expect(page.locator("#log .msg.mine:not(.pending) .body")).to_have_text([kept])
    expect(counter).to_be_hidden()  # the composer is empty again
    # the other side saw nothing before it: its first message is the one within the limit
    got = bob.recv_until("message", skip=NOISE, room=room)
    assert got["body"] == kept and got["nick"] != bob.nick
    assert sent.failures == []
