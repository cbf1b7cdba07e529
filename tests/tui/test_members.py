"""A room bigger than one ``joined`` lists: the panel and the title count every member, the
panel's last line says how many are not listed, and ``/members`` loads the next page."""

from __future__ import annotations

import pytest

from chat_server import protocol as p
from chat_tui.tui.app import create_app
from chat_tui.tui.widgets.rooms import RoomInfo
from tests.conftest import ChatServerUnderTest
from tests.support.crowd import crowd
from tests.tui.conftest import enter, screen_text, token_for, until, widget_text

CROWD = p.JOINED_MEMBERS_MAX + 20  # with alice: 521 members


@pytest.mark.slow
async def test_a_big_room_counts_everyone_and_lists_more_on_demand(
    server: ChatServerUnderTest,
) -> None:
    token = await token_for(server, "alice")
    await crowd(server.running.store, "lobby", [f"m{n:03}" for n in range(CROWD)])
    app = create_app(server.url, token=token, rooms=["lobby"])
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        panel, title = app.chat.members, app.chat.title_line
        await until(pilot, lambda: "521 members, 1 online" in widget_text(title), "the count")
        info = app.room_info("lobby")
        assert len(info.members) == p.JOINED_MEMBERS_MAX
        assert "1/521 online" in panel.text.plain
        assert panel.text.plain.endswith("… 21 more: /members")

        # someone joins: counted at once, listed as online
        async with server.login("zed") as zed:
            await zed.join("lobby")
            await until(pilot, lambda: "522 members, 2 online" in widget_text(title), "zed")
            assert panel.text.plain.endswith("… 21 more: /members")

            await enter(pilot, app, "/members")
            await until(pilot, lambda: info.members_after is None, "the next page")
            shown = panel.text.plain
            assert "… " not in shown and "m519" in shown
            assert shown.count("\n") == 522  # the header, then one line each
            assert "2/522 online" in shown
            await enter(pilot, app, "/members")
            await until(pilot, lambda: "all 522 members are listed" in screen_text(app), "all")
            # someone leaves: counted out
            await zed.request({"type": "leave", "room": "lobby"}, "left")
            await until(pilot, lambda: "521 members, 1 online" in widget_text(title), "zed left")
        await enter(pilot, app, "/who")
        said = "#lobby: 521 members; online: alice; 520 offline"
        await until(pilot, lambda: said in screen_text(app), "/who")


def test_what_the_screen_knows_of_a_big_room() -> None:
    info = RoomInfo("lobby")
    info.set_members(["a", "b"], ["a"], 5)
    assert (info.count, info.unlisted, info.members_after) == (5, 3, "b")
    info.arrived("zed", new_member=True)  # a new member: listed, counted
    info.arrived("x", new_member=False)  # an unlisted member came online: listed only
    assert (info.count, info.unlisted) == (6, 2)
    info.add_page(p.MemberPage(room="lobby", members=["c", "x"], online=["x"], more=True))
    assert info.members == ["a", "b", "zed", "x", "c"]  # x once
    assert (info.members_after, info.unlisted) == ("x", 1)
    info.departed("c")
    info.departed("nobody-listed")  # a left event of someone not listed yet
    assert (info.count, info.unlisted) == (4, 1)
    info.add_page(p.MemberPage(room="lobby", members=["y"], online=[], more=False))
    assert (info.count, info.unlisted, info.members_after) == (5, 0, None)
    info.departed("y", listed_only=True)
    info.departed("ghost", listed_only=True)  # a notice read again: no change
    assert info.count == 4
    small = RoomInfo("small")
    small.set_members(["a", "b"], [], 2)
    assert (small.count, small.unlisted, small.members_after) == (2, 0, None)
