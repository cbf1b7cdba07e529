"""What the browser client says at its limits: a message over the server's length limit is
refused with a reason (never cut), a counter shows as it nears it; the search field is not cut;
while disconnected, presence is greyed out (not known), not shown as it last was."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chat_server.text import clean_text
from tests.browser.changes_support import Cable
from tests.browser.conftest import Pages, SentFrames, join_room, login, rooms_drawer
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

    # an edit over the limit is refused the same way, its box keeping the text
    box.press("ArrowUp")  # edits the last message
    edit = page.locator("#log .msg.editing .edit-box")
    edit.fill(kept + "d")
    edit.press("Enter")
    expect(page.locator("#notice")).to_have_text(
        f"Not saved: {MAX_BODY + 1} characters, over the limit of {MAX_BODY}. Shorten it by 1."
    )
    assert edit.input_value() == kept + "d"
    assert "edit" not in sent.types
    assert sent.failures == []


# The width the placeholder's text takes in its input's own font, and the room inside the input.
PLACEHOLDER_FITS = """input => {
    const style = getComputedStyle(input);
    const pen = document.createElement("canvas").getContext("2d");
    pen.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return {text: input.placeholder, needs: pen.measureText(input.placeholder).width, room};
}"""


@pytest.mark.parametrize("width", [390, 1280])
def test_the_search_field_says_what_it_is_in_full(pages: Pages, width: int) -> None:
    page = pages.open(width, 844, has_touch=width < 600, is_mobile=width < 600)
    login(page, uniq("Find_"))
    rooms_drawer(page)
    field = page.get_by_label("Search messages")
    expect(field).to_be_visible()
    fit = field.evaluate(PLACEHOLDER_FITS)
    assert fit["text"] and fit["needs"] <= fit["room"], fit  # the placeholder is not cut
    label = page.locator('label[for="search-q"]')
    expect(label).to_have_text("Search messages Ctrl+K")  # the shortcut, where it is not cut
    assert label.evaluate("l => l.scrollWidth <= l.clientWidth")
    expect(field).to_have_attribute(
        "title", "Words to find in your rooms (Ctrl+K or / from anywhere)"
    )


def test_while_disconnected_nobody_shows_as_online(pages: Pages, chat: Chat) -> None:
    room = uniq("gone-")
    bob = chat.signup("Bob_")
    bob.join(room)
    cable = Cable()
    page = pages.open(before=cable.route)
    me = uniq("Cut_")
    login(page, me)
    join_room(page, room)
    people, status = page.locator("#people"), page.locator("#people-status")
    members = page.locator("#member-list .member")
    expect(members).to_have_count(2)
    expect(page.locator(f'.member[data-nick="{bob.nick}"] .presence')).to_have_text("online")
    expect(status).to_be_hidden()

    cable.pull()
    expect(status).to_have_text("Offline: reconnecting…")
    expect(people).to_have_class("stale")
    expect(members).to_have_count(2)  # the list stays, greyed
    expect(page.locator(".member.online")).to_have_count(0)
    expect(page.locator("#member-list .presence")).to_have_text(["", ""])
    assert members.evaluate_all("items => items.map(i => i.dataset.status)") == ["unknown"] * 2
    dot = page.locator(f'.member[data-nick="{bob.nick}"] .dot')
    assert dot.evaluate("d => getComputedStyle(d).backgroundColor") == "rgba(0, 0, 0, 0)"

    cable.plug(page)
    expect(status).to_be_hidden()
    expect(people).not_to_have_class("stale")
    expect(page.locator(f'.member[data-nick="{bob.nick}"] .presence')).to_have_text("online")
    expect(page.locator(f'.member[data-nick="{me}"] .presence')).to_have_text("online")


LENGTHS = [
    "abc",
    "🙂" * 3,  # code points, not UTF-16 units
    "a\r\nb",  # a CRLF is one newline once cleaned
    "a\x07b\x1b[31mc\x1b]0;title\x07d",  # control characters and escapes are cleaned away
    "tab\tand\nnewline",
]


def test_the_length_counted_is_the_servers(pages: Pages) -> None:
    """The page counts as the server does: code points of the body after clean_text."""
    page = pages.open()
    expect(page.locator("#login-screen")).to_be_visible()
    found = page.evaluate(
        """async (texts) => {
            const { lengthOf } = await import("/length.js");
            return texts.map(lengthOf);
        }""",
        LENGTHS,
    )
    assert found == [len(clean_text(text)) for text in LENGTHS]
    assert found[:4] == [3, 3, 3, 4]
