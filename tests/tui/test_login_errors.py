"""The login screen's errors: a long one wraps and shows in full; the password typed is
kept after a connection error (nothing was wrong with it) and cleared after a refusal."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from chat_server.ratelimit import Allowance
from chat_tui.tui.app import create_app
from tests.conftest import ChatServerUnderTest, ServerFactory
from tests.support.servers import free_port
from tests.tui.conftest import login_error, on_login_screen, token_for, until, widget_text

LONG_PATH = "/ws/" + "a-very-long-path-segment-" * 6 + "end"


@pytest.mark.parametrize("width", [80, 120])
async def test_a_connection_error_shows_in_full_and_keeps_the_password(width: int) -> None:
    url = f"ws://127.0.0.1:{free_port()}{LONG_PATH}"  # nobody listens there
    app = create_app(url, nick="dana")
    async with app.run_test(size=(width, 40)) as pilot:
        await until(pilot, lambda: on_login_screen(app), "the login screen")
        await pilot.press(*"dana-pw-1", "enter")
        await until(pilot, lambda: "cannot connect" in login_error(app), "the error")
        error = app.screen.query_one("#login-error")
        assert error.region.right <= width, "the error fits the screen"
        shown = login_error(app).splitlines()
        assert len(shown) > 2, "the error wraps onto more lines"
        whole = "".join(shown)
        assert "".join(f"cannot connect to {url}: ".split()) in "".join(whole.split())
        assert "Connect call failed" in whole
        title = "".join(widget_text(app.screen.query_one("#login-title")).split())
        assert title == f"Loginto{url}", "the address in the title is whole too"
        assert app.screen.query_one("#login-password", Input).value == "dana-pw-1"


async def test_a_wrong_password_is_cleared(server: ChatServerUnderTest) -> None:
    await token_for(server, "erin", "right-password")
    app = create_app(server.url, nick="erin")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: on_login_screen(app), "the login screen")
        await pilot.press(*"wrong-password", "enter")
        await until(pilot, lambda: "refused" in login_error(app), "the refusal")
        assert app.screen.query_one("#login-password", Input).value == ""


async def test_a_login_refused_for_a_moment_keeps_the_password_and_tries_again(
    make_server: ServerFactory,
) -> None:
    """After one failed login, an address may try again 2 s later (``1/2s``): the login
    typed meanwhile is refused ``rate_limited`` for about that long, which the screen says,
    keeping the password, and then it logs in by itself."""
    server = await make_server(login_failures=Allowance(1, 2.0))
    await token_for(server, "fay", "right-password")
    app = create_app(server.url, nick="fay")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: on_login_screen(app), "the login screen")
        await pilot.press(*"wrong-password", "enter")
        await until(pilot, lambda: "refused" in login_error(app), "the refusal")
        await pilot.press(*"right-password", "enter")
        await until(pilot, lambda: "trying again by itself" in login_error(app), "the wait")
        assert app.screen.query_one("#login-password", Input).value == "right-password"
        await until(pilot, lambda: not on_login_screen(app), "logged in after the wait")
        assert app.nick == "fay"
