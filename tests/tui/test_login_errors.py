"""The login screen's errors: a long one wraps and shows in full; the password typed is
kept after a connection error (nothing was wrong with it) and cleared after a refusal."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from chat_tui.tui.app import create_app
from tests.conftest import ChatServerUnderTest
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
