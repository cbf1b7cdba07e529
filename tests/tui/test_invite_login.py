"""Signing up on an invite-only server from the TUI: the login screen asks for a code only
when the server says a new nick needs one; ``chat-tui connect --invite`` needs no screen."""

from __future__ import annotations

import time

import pytest
from textual.widgets import Input

from chat_server.auth import token_hash
from chat_tui.client import credentials
from chat_tui.tui.app import ChatApp, create_app
from tests.conftest import ChatServerUnderTest, ServerFactory
from tests.tui.conftest import login_error, on_login_screen, until

CODE = "k3mzq8tbxh2wafnvc7ep"

pytestmark = pytest.mark.slow


@pytest.fixture
async def invite_only(make_server: ServerFactory) -> ChatServerUnderTest:
    server: ChatServerUnderTest = await make_server(signup="invite")
    await server.running.store.add_invite_code(
        token_hash(CODE), CODE[:6], 1, time.time() + 3600, ["general"]
    )
    return server


def invite_field(app: ChatApp) -> Input:
    return app.screen.query_one("#login-invite", Input)


async def test_the_login_screen_asks_for_a_code_when_the_server_needs_one(
    invite_only: ChatServerUnderTest,
) -> None:
    app = create_app(invite_only.url)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: on_login_screen(app), "the login screen")
        assert not invite_field(app).display, "no code field until the server asks"
        await pilot.press(*"dana", "enter", *"dana-pw-1", "enter")
        await until(pilot, lambda: "invite code is needed" in login_error(app), "the reason")
        field = invite_field(app)
        assert field.display and app.focused is field, "the code field, ready to type in"
        assert app.screen.query_one("#login-password", Input).value == "dana-pw-1"  # kept

        await pilot.press(*"wrong-code", "enter")
        await until(pilot, lambda: "not valid" in login_error(app), "a wrong code is told")
        field.value = ""
        await pilot.press(*CODE, "enter")
        await until(pilot, lambda: app.ready, "signed up, and the code's room is shown")
        assert app.chat.rooms.rooms.keys() >= {"general"}
        stored = credentials.load(invite_only.url)
        assert stored is not None and stored[0] == "dana"


async def test_a_wrong_password_is_not_taken_for_a_missing_code(
    invite_only: ChatServerUnderTest,
) -> None:
    await invite_only.running.store.create_user("erin", "not-a-hash")
    app = create_app(invite_only.url, nick="erin")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: on_login_screen(app), "the login screen")
        await pilot.press(*"wrong", "enter")
        await until(pilot, lambda: "Login refused" in login_error(app), "refused")
        assert not invite_field(app).display


async def test_connect_with_an_invite_signs_up_without_a_screen(
    invite_only: ChatServerUnderTest,
) -> None:
    app = create_app(invite_only.url, nick="fred", password="fred-pw-1", invite=CODE)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "signed up and in the code's room")
        assert app.welcome is not None and app.welcome.created
        assert [r.room for r in app.welcome.rooms] == ["general"]


async def test_connect_without_a_code_brings_up_the_code_field(
    invite_only: ChatServerUnderTest,
) -> None:
    app = create_app(invite_only.url, nick="gina", password="gina-pw-1")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "invite code is needed" in login_error(app), "asked")
        assert invite_field(app).display
        await pilot.press(*CODE, "enter")
        await until(pilot, lambda: app.ready, "signed up")
