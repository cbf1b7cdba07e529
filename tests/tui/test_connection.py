"""Login screen, auth failures, and losing the server: status line and the offline queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual import events
from textual.widgets import Input
from websockets.asyncio.client import connect

from chat_server.ratelimit import Allowance
from chat_tui.client import credentials
from chat_tui.tui.app import create_app
from chat_tui.tui.screens.login import LoginScreen
from tests.conftest import ChatServerUnderTest
from tests.tui.conftest import (
    enter,
    login_error,
    on_login_screen,
    screen_text,
    token_for,
    until,
    widget_text,
)


def status(app: Any) -> str:
    return widget_text(app.chat.status_line)


@pytest.mark.slow
async def test_login_screen_creates_the_account_and_stores_the_token(
    server: ChatServerUnderTest,
) -> None:
    app = create_app(server.url, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: on_login_screen(app), "the login screen")
        await pilot.press(*"dave", "enter")
        password = app.screen.query_one("#login-password", Input)
        assert app.focused is password
        await pilot.press(*"s3cret!", "enter")
        await until(pilot, lambda: app.ready, "logged in and the room is shown")
        assert app.focused is app.chat.composer, "the user can type at once"
        stored = credentials.load(server.url)
        assert stored is not None and stored[0] == "dave"
    # next time the stored token is used: no login screen
    again = create_app(server.url, rooms=["general"])
    async with again.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: again.ready, "logged in with the stored token")
        assert "dave" in status(again)


@pytest.mark.slow
async def test_login_screen_shows_auth_failure(server: ChatServerUnderTest) -> None:
    await token_for(server, "erin", "right-password")
    app = create_app(server.url, nick="erin")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: on_login_screen(app), "the login screen")
        screen = app.screen
        password = screen.query_one("#login-password", Input)
        assert password.password, "the password is hidden"
        await pilot.press(*"wrong-password", "enter")
        await until(pilot, lambda: "refused" in login_error(app), "the failure is shown")
        assert app.screen is screen
        assert credentials.load(server.url) is None
        await pilot.press(*"right-password", "enter")
        await until(pilot, lambda: app.ready, "second try logs in")


async def test_login_screen_shows_how_long_to_wait_when_rate_limited(
    make_server: Callable[..., Any],
) -> None:
    server: ChatServerUnderTest = await make_server(login_failures=Allowance(1, 3600.0))
    await token_for(server, "erin", "right-password")
    app = create_app(server.url, nick="erin")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: on_login_screen(app), "the login screen")
        screen = app.screen
        await pilot.press(*"wrong-password", "enter")
        await until(pilot, lambda: "refused" in login_error(app), "the failure is shown")
        await pilot.press(*"wrong-again", "enter")
        wait = "Too many attempts; try again in 60 min"
        await until(pilot, lambda: login_error(app) == wait, "the wait is shown")
        assert app.screen is screen and app.is_running


async def test_a_server_busy_logging_in_is_waited_out_with_the_wait_shown(
    make_server: Callable[..., Any],
) -> None:
    """Started with a saved token while the server is logging a crowd in (503 and a
    Retry-After): the status line says so and counts down, and the app gets in by itself."""
    server: ChatServerUnderTest = await make_server(max_logging_in=1)
    token = await token_for(server, "alice")
    held = await connect(server.url)  # a login that never ends: the only place
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "reconnecting in" in status(app), "the wait is shown")
        assert "◌ reconnecting in" in status(app) and "· busy" in status(app)
        assert not app.ready
        await held.close()
        await until(pilot, lambda: app.ready, "in by itself once a place is free", timeout=20)
        assert "● connected" in status(app)


async def test_a_revoked_stored_token_asks_to_log_in(server: ChatServerUnderTest) -> None:
    credentials.save_token(server.url, "frank", "not-a-valid-token")
    app = create_app(server.url, token="not-a-valid-token", nick="frank")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "refused" in login_error(app), "the login screen says why")


@pytest.mark.slow
async def test_lost_server_queues_and_sends_once_on_return(
    make_server: Callable[..., Any],
) -> None:
    first: ChatServerUnderTest = await make_server()
    token = await token_for(first, "alice")
    app = create_app(first.url, token=token, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        assert "connected" in status(app)
        await enter(pilot, app, "before the outage")
        timeline = app.chat.history.timeline("general")
        await until(pilot, lambda: not timeline.pending, "first message delivered")
        port = first.running.port
        await first.running.stop()
        await until(pilot, lambda: "reconnecting" in status(app), "the status says so")
        await enter(pilot, app, "typed while offline")
        await enter(pilot, app, "and another")
        await until(pilot, lambda: "2 queued" in status(app), "two messages queued")
        assert "typed while offline ⧗" in screen_text(app)
        second: ChatServerUnderTest = await make_server(port=port)
        await until(pilot, lambda: not timeline.pending, "the queue went out", timeout=20)
        await until(pilot, lambda: "● connected" in status(app), "connected again")
        bodies = [m.body for m in timeline.messages]
        assert bodies == ["before the outage", "typed while offline", "and another"]
        assert "queued" not in status(app)
        async with second.login("bob") as bob:
            _, page = await bob.join("general")
        assert [m["body"] for m in page["messages"]] == bodies, "stored once, in order"


@pytest.mark.slow
async def test_a_token_revoked_mid_session_brings_back_the_login(
    server: ChatServerUnderTest,
) -> None:
    token = await token_for(server, "gina", "gina-password")
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        async with server.resume(token) as other:
            await other.send({"type": "logout"})  # revokes the token everywhere
            await until(pilot, lambda: on_login_screen(app), "asked to log in")
        await until(pilot, lambda: "session ended" in login_error(app), "the reason shows")
        await pilot.press(*"gina-password", "enter")
        await until(pilot, lambda: not isinstance(app.screen, LoginScreen), "back in")
        await enter(pilot, app, "back again")
        timeline = app.chat.history.timeline("general")
        await until(pilot, lambda: [m.body for m in timeline.messages] == ["back again"], "sent")


async def test_login_typed_in_one_burst(server: ChatServerUnderTest) -> None:
    """``nick<Tab>password<Enter>`` arriving at once (a paste, a fast typist, tmux)."""
    app = create_app(server.url, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: on_login_screen(app), "the login screen")
        for key in [*"hank", "tab", *"hank-pw", "enter"]:
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        await until(pilot, lambda: app.ready, "logged in")
        stored = credentials.load(server.url)
        assert stored is not None and stored[0] == "hank"
