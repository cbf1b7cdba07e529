"""Rooms with owners in the browser, against the real server: a private room made from the
sidebar stays invisible to a third person; an invitation is seen, accepted or declined; a
kicked person's page stops showing the room at once and says who and why; an op's topic
reaches everyone. Untrusted names and text stay text (the fixtures fail a test on a dialog).
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Locator, Page, WebSocket, expect

from tests.browser.changes_support import actions, delete, message
from tests.browser.conftest import Pages, join_room, login, rooms_drawer, say, write
from tests.server.e2e.e2e_support import NOISE, Chat, Client, Frame, uniq

pytestmark = pytest.mark.slow  # a browser and a server subprocess

HTML = '<img src=x onerror="alert(1)">'


def create_room(page: Page, room: str, *, private: bool, topic: str = "") -> None:
    """Create a room from the sidebar's form, as a person would; it opens once the server
    made it."""
    rooms_drawer(page)
    page.get_by_text("Create a room").click()
    page.locator("#create-name").fill(room)
    page.locator("#create-topic").fill(topic)
    page.get_by_role("checkbox", name="Private").set_checked(private)
    page.locator("#create-form").get_by_role("button", name="Create").click()
    expect(page.locator("#room-title")).to_have_text(f"#{room}")
    expect(page.locator("#member-list")).not_to_be_empty()


def settings(page: Page) -> Locator:
    """Open the room settings of the room on screen."""
    page.get_by_role("button", name="Settings", exact=True).click()
    panel = page.locator("#settings-panel")
    expect(panel).to_be_visible()
    return panel


def member_row(panel: Locator, nick: str) -> Locator:
    return panel.locator("#settings-members li", has=panel.page.locator(".nick", has_text=nick))


def command(client: Client, frame: Frame) -> Frame:
    """A room command from a terminal: its ack, or its error (the notices it made pass by)."""
    frame = {**frame, "id": uniq("cmd")}
    client.send(frame)
    return client.recv_until_any(("ack", "error"), skip=NOISE | {"notice"})


def notices(page: Page) -> Locator:
    return page.locator("#log .event .text")


def test_a_private_room_is_invisible_to_a_third_user(pages: Pages, chat: Chat) -> None:
    alice, carol = uniq("Alice_"), uniq("Carol_")
    room = uniq("hiring-")
    a = pages.open()
    login(a, alice)
    create_room(a, room, private=True, topic="Candidates for the backend job")
    expect(a.locator("#room-lock")).to_be_visible()
    expect(a.locator("#room-topic")).to_have_text("Candidates for the backend job")
    item = a.locator("#room-list button.room", has_text=room)
    expect(item.get_by_role("img", name="private")).to_be_visible()
    expect(a.locator("#member-list li", has_text=alice).locator(".role")).to_have_text("owner")
    say(a, "salary band is 90k")

    c = pages.open()
    login(c, carol)
    # never listed, never found, and a join by its name is refused without a trace
    stranger = chat.signup("Term_")
    assert room not in [r["room"] for r in stranger.all_rooms()]
    c.get_by_label("Join a room").fill(room)
    c.get_by_role("button", name="Join", exact=True).click()
    expect(c.locator("#notice")).to_contain_text("private: you need an invitation")
    expect(c.locator("#room-list button.room", has_text=room)).to_have_count(0)
    c.locator("#search-q").fill("salary")
    c.locator("#search-q").press("Enter")
    expect(c.locator("#search-status")).to_have_text("No results.")
    # the room is still Alice's alone
    expect(a.locator("#member-list li")).to_have_count(1)


def test_an_invited_user_sees_the_invitation_and_joins(pages: Pages, chat: Chat) -> None:
    alice, bob = uniq("Alice_"), uniq("Bob_")
    room, other = uniq("incident-"), uniq("spam-")
    a = pages.open()
    login(a, alice)
    create_room(a, room, private=True)
    say(a, "the root cause was DNS")
    b = pages.open()
    login(b, bob)

    panel = settings(a)
    panel.get_by_label("Invite someone").fill(bob)
    panel.get_by_role("button", name="Invite", exact=True).click()
    expect(notices(a)).to_have_text([f"{alice} created the room", f"{alice} invited {bob}"])

    invitation = b.locator("#invite-list li", has_text=f"#{room}")
    expect(invitation).to_contain_text(f"from {alice}")
    expect(invitation.get_by_role("img", name="private")).to_be_visible()
    expect(b.locator("#room-list button.room", has_text=room)).to_have_count(0)
    invitation.get_by_role("button", name=f"Accept the invitation to #{room}").click()
    expect(b.locator("#room-title")).to_have_text(f"#{room}")
    expect(b.locator("#log .msg .body")).to_have_text(["the root cause was DNS"])
    expect(b.locator("#invites")).to_be_hidden()
    expect(member_row(panel, bob)).to_be_visible()  # Alice's panel follows the members
    say(b, "thanks for the invite")
    expect(a.locator("#log .msg .body")).to_have_text(
        ["the root cause was DNS", "thanks for the invite"]
    )

    # kicked from a private room there is no way back but another invitation
    row = member_row(panel, bob)
    row.get_by_role("button", name=f"Kick: {bob}").click()
    row.get_by_role("button", name=f"Kick {bob}").click()
    expect(b.locator("#removed-text")).to_have_text(f"{alice} removed you from #{room}.")
    expect(b.get_by_role("button", name="Join again")).to_be_hidden()
    panel.get_by_label("Invite someone").fill(bob)
    panel.get_by_role("button", name="Invite", exact=True).click()
    b.get_by_role("button", name=f"Accept the invitation to #{room}").click()
    expect(b.locator("#removed")).to_be_hidden()
    expect(b.locator("#input")).to_be_enabled()
    expect(member_row(panel, bob)).to_be_visible()

    # an invitation to a public room, declined: gone here and after a reload
    pest = chat.signup("Pest_")
    pest.join(other)
    command(pest, {"type": "invite", "room": other, "nick": bob})
    invitation = b.locator("#invite-list li", has_text=f"#{other}")
    expect(invitation).to_contain_text(f"from {pest.nick}")
    invitation.get_by_role("button", name=f"Decline the invitation to #{other}").click()
    expect(b.locator("#invites")).to_be_hidden()
    # again: Block declines it and refuses every later invitation of theirs
    command(pest, {"type": "invite", "room": other, "nick": bob})
    b.get_by_role("button", name=f"Decline and block {pest.nick}").click()
    expect(b.locator("#notice")).to_contain_text(f"Blocked {pest.nick}")
    expect(b.locator("#invites")).to_be_hidden()
    assert command(pest, {"type": "invite", "room": other, "nick": bob})["code"] == "forbidden"
    b.reload()
    expect(b.locator("#room-title")).to_have_text(f"#{room}")
    expect(b.locator("#invites")).to_be_hidden()
    expect(b.locator("#room-list button.room", has_text=other)).to_have_count(0)


def test_a_kicked_user_stops_seeing_the_room_at_once_and_sees_why(pages: Pages, chat: Chat) -> None:
    alice, bob = uniq("Alice_"), uniq("Bob_")
    room = uniq("ops-")
    a = pages.open()
    login(a, alice)
    create_room(a, room, private=False)
    received: list[dict[str, object]] = []  # what reaches Bob's page over its websocket

    def watch(page: Page) -> None:
        def socket(ws: WebSocket) -> None:
            ws.on("framereceived", lambda raw: received.append(_frame(raw)))

        page.on("websocket", socket)

    b = pages.open(before=watch)
    login(b, bob)
    join_room(b, room)
    bystander = chat.signup("Carol_")
    bystander.join(room)
    say(b, "buy cheap watches")
    expect(a.locator("#log .msg .body")).to_have_text(["buy cheap watches"])

    row = member_row(settings(a), bob)
    row.get_by_role("button", name=f"Kick: {bob}").click()
    row.get_by_label(f"Why {bob} is removed").fill("spam, twice")
    row.get_by_role("button", name=f"Kick {bob}").click()

    # Bob's page: who and why, greyed, nothing to type into
    expect(b.locator("#removed-text")).to_have_text(
        f"{alice} removed you from #{room}: spam, twice"
    )
    expect(b.locator("#input")).to_be_disabled()
    expect(b.get_by_role("button", name="Join again")).to_be_visible()
    expect(b.locator("#room-list button.room.removed", has_text=room)).to_be_visible()
    # the others: a dim line, and Bob gone from the list
    expect(notices(a).last).to_have_text(f"{alice} removed {bob}: spam, twice")
    expect(a.locator("#member-list li", has_text=bob)).to_have_count(0)
    kick = bystander.recv_until("notice", skip=NOISE | {"message"}, room=room)
    assert (kick["event"], kick["target_nick"], kick["reason"]) == ("kick", bob, "spam, twice")
    # and the owner deletes the spam (the owner and ops may delete anyone's message)
    a.get_by_role("button", name="Close the room settings").click()
    message(a, "buy cheap watches").hover()
    assert actions(message(a, "buy cheap watches")) == ["Reply", "React", "Delete"]
    delete(a, "buy cheap watches")
    expect(a.locator("#log .msg .body")).to_have_text(["message deleted"])

    # Alice writes in the room, then to Bob directly: his page gets the second, never the first
    say(a, "he is gone")
    bystander.recv_until("message", skip=NOISE | {"delete"}, room=room, body="he is gone")
    dm = chat.signup("Dm_")  # a message Bob's socket must carry, sent after the room's
    dm.send_msg(None, "still there?", to=bob)
    expect(b.locator("#dm-list button.room")).to_contain_text(dm.nick)
    bodies = [f.get("body") for f in received if f.get("type") == "message"]
    assert "still there?" in bodies and "he is gone" not in bodies, bodies
    b.locator("#room-list button.room", has_text=room).click()
    expect(b.locator("#log .msg .body")).to_have_text(["buy cheap watches"])

    # a public room: Bob may come back, and sees what was said meanwhile
    b.get_by_role("button", name="Join again").click()
    expect(b.locator("#removed")).to_be_hidden()
    expect(b.locator("#input")).to_be_enabled()
    expect(b.locator("#log .msg .body")).to_have_text(["message deleted", "he is gone"])
    write(b, "sorry")
    expect(a.locator("#log .msg .body").last).to_have_text("sorry")


def test_an_op_sets_the_topic_and_everyone_sees_it(pages: Pages, chat: Chat) -> None:
    bob, carol = uniq("Bob_"), uniq("Carol_")
    room = uniq("plans-")
    owner = chat.signup("Owner_")
    assert command(owner, {"type": "create", "room": room})["type"] == "ack"
    owner.join(room)
    b = pages.open()
    login(b, bob)
    join_room(b, room)
    c = pages.open(390, 844)  # a phone
    login(c, carol)
    join_room(c, room)
    owner.say(room, "plan A")
    message(b, "plan A").hover()
    assert actions(message(b, "plan A")) == ["Reply", "React"]
    assert (
        command(owner, {"type": "role", "room": room, "nick": bob, "role": "op"})["type"] == "ack"
    )
    # an op may delete anyone's message: the action shows as soon as the role comes
    expect(message(b, "plan A").locator(".actions button")).to_have_count(3)
    message(b, "plan A").hover()
    assert actions(message(b, "plan A")) == ["Reply", "React", "Delete"]
    for page in (b, c):
        expect(page.locator("#member-list li", has_text=bob).locator(".role")).to_have_text("op")
        expect(page.locator("#member-list li", has_text=owner.nick).locator(".role")).to_have_text(
            "owner"
        )
        made = [f"{owner.nick} created the room", f"{owner.nick} made {bob} an op"]
        expect(notices(page)).to_have_text(made)

    # a member sees the topic, not the form; the op sets it
    panel = settings(c)
    expect(panel.locator("#topic-form")).to_be_hidden()
    expect(panel.locator("#topic-view")).to_have_text("No topic.")
    expect(member_row(panel, bob).get_by_role("button")).to_have_count(0)
    panel.get_by_role("button", name="Close the room settings").click()
    topic = f"Q3 plans {HTML}"
    panel = settings(b)
    panel.get_by_label("Topic").fill(topic)
    panel.get_by_role("button", name="Set topic").click()
    for page in (b, c):
        expect(page.locator("#room-topic")).to_have_text(topic)
        expect(notices(page).last).to_have_text(f"{bob} set the topic: {topic}")
    changed = owner.recv_until("notice", skip=NOISE | {"notice"}, event="topic")
    assert (changed["nick"], changed["topic"]) == (bob, topic)

    # an op cannot act on the owner; a reload keeps the topic and the roles
    expect(member_row(panel, owner.nick).get_by_role("button")).to_have_count(0)
    expect(member_row(panel, carol).get_by_role("button", name=f"Kick: {carol}")).to_be_visible()
    expect(member_row(panel, bob).get_by_role("button", name=f"Step down: {bob}")).to_be_visible()
    c.reload()
    expect(c.locator("#room-topic")).to_have_text(topic)
    expect(c.locator("#member-list li", has_text=bob).locator(".role")).to_have_text("op")


def _frame(raw: str | bytes) -> dict[str, object]:
    frame: dict[str, object] = json.loads(raw)
    return frame


def test_a_ban_keeps_someone_out_until_an_unban_and_the_owner_hands_the_room_on(
    pages: Pages, chat: Chat
) -> None:
    alice, bob, carol = uniq("Alice_"), uniq("Bob_"), uniq("Carol_")
    room = uniq("team-")
    a = pages.open()
    login(a, alice)
    create_room(a, room, private=False)
    b = pages.open(390, 844)
    login(b, bob)
    join_room(b, room)
    c = pages.open()
    login(c, carol)
    join_room(c, room)

    # banned by nick from the form: removed at once, and "Join again" is refused
    panel = settings(a)
    panel.get_by_label("Ban or unban someone").fill(bob)
    panel.get_by_label("Reason for the ban").fill("ads")
    panel.get_by_role("button", name="Ban", exact=True).click()
    expect(b.locator("#removed-text")).to_have_text(f"{alice} removed you from #{room}: ads")
    expect(notices(c).last).to_have_text(f"{alice} banned {bob}: ads")
    b.get_by_role("button", name="Join again").click()
    expect(b.locator("#notice")).to_contain_text("banned")
    expect(b.locator("#removed")).to_be_visible()
    expect(b.locator("#input")).to_be_disabled()

    # unbanned: Bob may come back
    panel.get_by_label("Ban or unban someone").fill(bob)
    panel.get_by_role("button", name="Unban", exact=True).click()
    expect(notices(c).last).to_have_text(f"{alice} unbanned {bob}")
    b.get_by_role("button", name="Join again").click()
    expect(b.locator("#removed")).to_be_hidden()
    expect(b.locator("#member-list li", has_text=bob)).to_be_attached()  # in the phone's sheet

    # the owner hands the room to Carol (asked once) and becomes an op
    row = member_row(panel, carol)
    row.get_by_role("button", name=f"Make owner: {carol}").click()
    expect(row).to_contain_text(f"Hand the room to {carol}? You become an op.")
    row.get_by_role("button", name=f"Make owner {carol}").click()
    for page in (a, b, c):
        people = page.locator("#member-list")
        expect(people.locator("li", has_text=carol).locator(".role")).to_have_text("owner")
        expect(people.locator("li", has_text=alice).locator(".role")).to_have_text("op")
    expect(notices(c).last).to_have_text(f"{alice} made {carol} the owner")
    # an op now: no say over roles, Carol (the owner) out of reach, and may step down
    expect(member_row(panel, carol).get_by_role("button")).to_have_count(0)
    expect(member_row(panel, bob).get_by_role("button", name=f"Make op: {bob}")).to_have_count(0)
    member_row(panel, alice).get_by_role("button", name=f"Step down: {alice}").click()
    expect(notices(c).last).to_have_text(f"{alice} gave up their role")
    expect(a.locator("#member-list li", has_text=alice).locator(".role")).to_have_count(0)
    expect(panel.locator("#topic-form")).to_be_hidden()

    # the owner leaves: the longest-standing member (Alice) owns the room, and her panel says so
    c.get_by_role("button", name=f"Leave #{room}").click()
    expect(c.locator("#room-list button.room", has_text=room)).to_have_count(0)
    expect(a.locator("#member-list li", has_text=alice).locator(".role")).to_have_text("owner")
    expect(b.locator("#member-list li", has_text=alice).locator(".role")).to_have_text("owner")
    expect(panel.locator("#topic-form")).to_be_visible()
    expect(member_row(panel, bob).get_by_role("button", name=f"Make op: {bob}")).to_be_visible()
    a.keyboard.press("Escape")
    expect(panel).to_be_hidden()
