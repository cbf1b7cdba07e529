"""Blocking in the web client: from the people list and with /block in the composer."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Pages, bodies, join_room, login
from tests.server.e2e.e2e_support import Chat, dm_room, uniq

pytestmark = pytest.mark.slow  # a browser and a server subprocess


def test_blocking_a_stranger_from_the_people_list(pages: Pages, chat: Chat) -> None:
    victim = uniq("Victim_")
    page = pages.open()
    login(page, victim)
    stranger = chat.signup("Stranger_")
    room = dm_room(victim, stranger.nick)
    stranger.send_msg(None, "buy my stuff", to=victim)

    # the stranger's conversation appears; open it and block them from the people list
    dm_button = page.locator("#dm-list button.room")
    expect(dm_button).to_have_text(f"@{stranger.nick}1")
    dm_button.click()
    expect(page.locator("#log .msg .body")).to_have_text(["buy my stuff"])
    page.get_by_role("button", name=f"Block {stranger.nick}", exact=True).click()
    expect(page.locator("#notice")).to_have_text(
        f"Blocked {stranger.nick}: they cannot message you or see when you are online."
    )
    expect(page.get_by_role("button", name=f"Unblock {stranger.nick}")).to_be_visible()

    # their messages are refused, and nothing more reaches the page
    refused = stranger.error_for({"type": "send", "to": victim, "body": "hello?", "id": "s2"})
    assert refused["code"] == "forbidden"
    refused = stranger.error_for({"type": "send", "room": room, "body": "hello?", "id": "s3"})
    assert refused["code"] == "forbidden"

    # /unblock in the composer undoes it (and is not sent as a message)
    page.locator("#input").fill(f"/unblock {stranger.nick}")
    page.locator("#input").press("Enter")
    expect(page.locator("#notice")).to_have_text(f"Unblocked {stranger.nick}.")
    expect(page.get_by_role("button", name=f"Block {stranger.nick}", exact=True)).to_be_visible()
    stranger.send_msg(None, "sorry", to=victim)
    expect(page.locator("#log .msg .body")).to_have_text(["buy my stuff", "sorry"])
    assert bodies(page) == ["buy my stuff", "sorry"]  # never "hello?" nor "/unblock ..."

    # /block in the composer works too; yourself is refused on the page
    page.locator("#input").fill(f"/block @{stranger.nick}")
    page.locator("#input").press("Enter")
    expect(page.locator("#notice")).to_have_text(
        f"Blocked {stranger.nick}: they cannot message you or see when you are online."
    )
    assert (
        stranger.error_for({"type": "send", "to": victim, "body": "x", "id": "s4"})["code"]
        == "forbidden"
    )
    page.locator("#input").fill(f"/block {victim}")
    page.locator("#input").press("Enter")
    expect(page.locator("#notice")).to_have_text("That is you: name someone else.")


def test_the_people_list_knows_earlier_blocks_after_a_reload(pages: Pages, chat: Chat) -> None:
    victim, room = uniq("Victim_"), uniq("blocks-")
    page = pages.open()
    login(page, victim)
    join_room(page, room)
    pest, friend = chat.signup("Pest_"), chat.signup("Friend_")
    for client in (pest, friend):
        client.join(room)
    expect(page.get_by_role("button", name=f"Block {friend.nick}", exact=True)).to_be_visible()
    page.get_by_role("button", name=f"Block {pest.nick}", exact=True).click()
    expect(page.get_by_role("button", name=f"Unblock {pest.nick}")).to_be_visible()
    # the pest sees the victim go offline at once
    gone = pest.recv_until("presence", room=room, nick=victim)
    assert gone["status"] == "offline"

    page.reload()  # a new page: only the server's welcome can say whom the victim blocked
    expect(page.locator("#chat-screen")).to_be_visible()
    expect(page.locator("#room-title")).to_have_text(f"#{room}")
    expect(page.get_by_role("button", name=f"Unblock {pest.nick}")).to_be_visible()
    expect(page.get_by_role("button", name=f"Block {friend.nick}", exact=True)).to_be_visible()
    page.get_by_role("button", name=f"Unblock {pest.nick}").click()
    expect(page.get_by_role("button", name=f"Block {pest.nick}", exact=True)).to_be_visible()
    back = pest.recv_until("presence", room=room, nick=victim, status="online")
    assert back["type"] == "presence"
