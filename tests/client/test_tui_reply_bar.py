"""At 80 columns the composer's mode line and the status line keep their key hints whole:
the quoted message and the status give way (cut with ``…``), never the keys."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.geometry import Region
from textual.widget import Widget

from chat_tui.tui.app import create_app
from chat_tui.tui.render import fit_hint
from tests.client.test_tui_moderation import select
from tests.conftest import ChatServerUnderTest
from tests.tui.conftest import isolated as isolated  # autouse: private config, UTC
from tests.tui.conftest import screen_text, seed, token_for, until

HINT = "  (enter sends, esc cancels)"


def shown(widget: Widget) -> str:
    """The line as the screen draws it, padding included."""
    region = Region(0, 0, widget.outer_size.width, 1)
    return "".join(strip.text for strip in widget.render_lines(region)).strip()


@pytest.mark.parametrize("width", [10, 20, 30, 60])
def test_the_text_gives_way_to_the_hint(width: int) -> None:
    text, hint = Text("replying to bob: hello from bob in the browser"), Text(" (keys)")
    after = fit_hint(text, hint, width)
    assert after.plain.endswith(" (keys)") and after.cell_len <= width
    assert after.plain == text.plain + " (keys)" or "…" in after.plain
    right = fit_hint(text, hint, width, right=True)
    assert right.plain.endswith("  (keys)") and right.cell_len == width


def test_a_hint_wider_than_the_line_is_cut() -> None:
    assert fit_hint(Text("status"), Text("a long hint"), 5).plain == "a lo…"


@pytest.mark.slow
async def test_the_reply_bar_keeps_its_keys_at_80_columns(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "carol")
    await seed(server, "carol", "lounge", ["welcome"])
    await seed(server, "bob", "lounge", ["hello from bob in the browser"])
    app = create_app(server.url, token=token, rooms=["lounge"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "hello from bob" in screen_text(app), "the history shows")
        await select(pilot, app, "hello from bob in the browser")
        await pilot.press("r")
        await until(pilot, lambda: app.chat.mode_line.has_class("active"), "the reply bar")
        await pilot.pause()
        line = shown(app.chat.mode_line)
        assert line.startswith("replying to bob: hello") and line.endswith("…" + HINT), line
        status = shown(app.chat.status_line)
        assert status.endswith("/help · ctrl+p commands · ctrl+q quit"), status
        assert "   /help" in status, "the status stays apart from the keys"
