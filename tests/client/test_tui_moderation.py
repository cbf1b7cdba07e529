"""A room's owner and ops in chat-tui delete anyone's message there, as the server lets them
(and as ``chat-tui delete`` does); they edit only their own. The app asks the server's own rule
(``access.change_refusal``) with the user's role in the room, so what it offers is what the
server accepts."""

from __future__ import annotations

from itertools import product
from typing import Any

import pytest
from textual.pilot import Pilot

from chat_server import access
from chat_server import protocol as p
from chat_tui.tui.app import ChatApp, create_app
from chat_tui.tui.message_actions import refusal
from chat_tui.tui.screens.confirm_delete import ConfirmDelete
from tests.conftest import ChatServerUnderTest
from tests.tui.conftest import enter, screen_text, seed, token_for, until
from tests.tui.conftest import isolated as isolated  # autouse: private config, UTC

ROOM = "lounge"


def record(nick: str) -> p.MessageRecord:
    return p.MessageRecord(
        room=ROOM, seq=7, nick=nick, body="hi", ts="2026-12-03T09:00:00.000Z", id="m"
    )


@pytest.mark.parametrize(
    ("action", "role", "admin", "own"),
    list(product(("edit", "delete"), ("owner", "op", None), (False, True), (False, True))),
)
def test_the_apps_answer_is_the_servers(
    action: access.ChangeAction, role: str | None, admin: bool, own: bool
) -> None:
    """Every cell: the server's moderator is a server admin or the room's owner or an op."""
    message = record("carol" if own else "bob")
    why = refusal(action, message, "Carol", admin=admin, role=role, edit_window=None, now=0.0)
    server = access.change_refusal(
        action, 7, "message", author=own, deleted=False, moderator=admin or role in ("owner", "op")
    )
    assert why == (None if server is None else server.message)
    assert (why is None) == (own or (action == "delete" and (admin or role is not None)))


async def select(pilot: Pilot[Any], app: ChatApp, body: str) -> None:
    """ctrl+up until the message reading ``body`` is selected (from the newest up)."""
    history = app.chat.history
    await pilot.press("escape")
    for _ in range(20):
        await pilot.press("ctrl+up")
        message = history.timeline(ROOM).message(history.selected or 0)
        if message is not None and message.body == body:
            return
    raise AssertionError(f"no message {body!r} to select")


def shown(app: ChatApp) -> list[str]:
    return [m.body for m in app.chat.history.timeline(ROOM).messages]


@pytest.mark.slow
async def test_the_owner_and_an_op_delete_others_messages(server: ChatServerUnderTest) -> None:
    carol = await token_for(server, "carol")
    await seed(server, "carol", ROOM, ["welcome"])  # carol creates the room: its owner
    [by_bob, also_bob] = await seed(server, "bob", ROOM, ["hello from bob", "more from bob"])
    await seed(server, "dave", ROOM, ["dave here"])
    async with server.login("carol") as owner:
        await owner.join(ROOM)
        await owner.send({"type": "role", "room": ROOM, "nick": "dave", "role": "op", "id": "r1"})
        assert (await owner.recv_type("ack", "error"))["type"] == "ack"

    app = create_app(server.url, token=carol, rooms=[ROOM])
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: "dave here" in screen_text(app), "the history shows")

        # the owner edits only her own: bob's message is not hers to change
        await select(pilot, app, "hello from bob")
        await pilot.press("e")
        await until(pilot, lambda: "you can edit only your own" in screen_text(app), "why not")

        # d on bob's message asks, and y deletes it for everyone
        await select(pilot, app, "hello from bob")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDelete), "the question")
        await pilot.press("y")
        await until(pilot, lambda: "message deleted" in screen_text(app), "the delete shows")
        assert "you can delete only your own" not in screen_text(app)
        assert shown(app) == ["welcome", "", "more from bob", "dave here"]

    dave = await token_for(server, "dave")
    app = create_app(server.url, token=dave, rooms=[ROOM])
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: "dave here" in screen_text(app), "the history shows")
        await enter(pilot, app, f"/delete #{also_bob}")  # an op, by the slash command
        await until(pilot, lambda: isinstance(app.screen, ConfirmDelete), "the question")
        await pilot.press("y")
        await until(pilot, lambda: shown(app) == ["welcome", "", "", "dave here"], "deleted")

    async with server.login("bob") as bob:
        _, page = await bob.join(ROOM)
    deleted = {m["seq"]: m.get("deleted", False) for m in page["messages"] if "kind" not in m}
    assert deleted[by_bob] and deleted[also_bob], "the server deleted both"
