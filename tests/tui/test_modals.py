"""The delete confirmation and the reaction picker, each shown over a bare app.

Each test pushes one modal with a callback that records what it was dismissed with, then
presses the keys a user would and checks what the user sees and what came back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.app import App
from textual.geometry import Region
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

import chat_tui.tui
from chat_tui.tui.screens.confirm_delete import QUESTION, ConfirmDelete, preview_text
from chat_tui.tui.screens.react_picker import ReactionPicker, ReactionRow

CSS_PATH = Path(chat_tui.tui.__file__).parent / "chat.tcss"
MARKUP = "[bold red]x[/]"


class Host(App[None]):
    """A bare app with the chat's stylesheet that shows ``modal`` and records its result."""

    CSS_PATH = str(CSS_PATH)

    def __init__(self, modal: Screen[Any]) -> None:
        super().__init__()
        self.modal = modal
        self.results: list[object] = []

    def on_mount(self) -> None:
        self.push_screen(self.modal, self.results.append)


def shown(widget: Widget) -> str:
    """What a widget shows, padding and borders included, as plain text."""
    width, height = widget.outer_size
    return "\n".join(s.text.rstrip() for s in widget.render_lines(Region(0, 0, width, height)))


def fits(app: Host, selector: str) -> bool:
    """The modal's box is wholly on the screen."""
    box = app.screen.query_one(selector).region
    return app.screen.region.contains_region(box)


@pytest.mark.parametrize(("key", "result"), [("y", True), ("enter", True), ("n", False)])
async def test_confirm_delete_answers(key: str, result: bool) -> None:
    app = Host(ConfirmDelete("alice", "the deploy is on friday"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert QUESTION in shown(app.screen.query_one("#confirm-delete-question"))
        preview = shown(app.screen.query_one("#confirm-delete-preview"))
        assert "alice: the deploy is on friday" in preview
        await pilot.press(key)
        await pilot.pause()
        assert app.results == [result]
        assert not isinstance(app.screen, ConfirmDelete)


async def test_escape_keeps_the_message() -> None:
    app = Host(ConfirmDelete("alice", "hi"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [False]


async def test_confirm_delete_shows_markup_literally() -> None:
    app = Host(ConfirmDelete(MARKUP, "[b]no[/b] [link=http://x]y[/link]"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        preview = shown(app.screen.query_one("#confirm-delete-preview"))
        assert f"{MARKUP}: [b]no[/b] [link=http://x]y[/link]" in preview


@pytest.mark.parametrize("size", [(80, 24), (40, 24)])
async def test_confirm_delete_fits_and_cuts_a_long_message(size: tuple[int, int]) -> None:
    app = Host(ConfirmDelete("alice", "first words of a very long message " * 20 + "\nmore"))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert fits(app, "#confirm-delete-box")
        question = shown(app.screen.query_one("#confirm-delete-question"))
        assert " ".join(question.split()) == QUESTION
        preview = shown(app.screen.query_one("#confirm-delete-preview"))
        assert preview.strip().startswith("alice: first words of a")
        assert "…" in preview
        assert "\n" not in preview
        assert "n/Esc: keep" in shown(app.screen.query_one("#confirm-delete-keys"))


@pytest.mark.parametrize(
    ("nick", "body", "line"),
    [
        ("alice", "two\nlines", "alice: two ⏎ lines"),
        ("alice", "/me waves", "* alice waves"),
        ("bob", "a\x1b[31mred", "bob: ared"),
    ],
)
def test_preview_is_one_line(nick: str, body: str, line: str) -> None:
    assert preview_text(nick, body).plain == line


@pytest.mark.parametrize(
    ("keys", "emoji"),
    [
        (["1"], "👍"),
        (["4"], "🎉"),
        (["8"], "👀"),
        (["enter"], "👍"),
        (["right", "right", "enter"], "😄"),
        (["left", "enter"], "👀"),
        (["right", "left", "enter"], "👍"),
        ([*":tada:", "enter"], "🎉"),
        ([*":+1:", "enter"], "👍"),
    ],
)
async def test_picking_a_reaction(keys: list[str], emoji: str) -> None:
    app = Host(ReactionPicker(set()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
        assert app.results == [emoji]


async def test_the_row_shows_numbers_and_the_highlight() -> None:
    app = Host(ReactionPicker(set()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        row = app.screen.query_one(ReactionRow)
        assert " ".join(shown(row).split()) == "[1 👍] 2 👎 3 😄 4 🎉 5 ❤ 6 😮 7 🙏 8 👀"
        await pilot.press("right")
        await pilot.pause()
        assert "[2 👎]" in shown(row)
        assert not app.screen.query("#react-mine")


async def test_a_pasted_emoji_is_picked() -> None:
    app = Host(ReactionPicker(set()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.screen.post_message(events.Paste("🔥"))
        await pilot.pause()
        assert app.screen.query_one(Input).value == "🔥"
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == ["🔥"]


async def test_an_unknown_name_keeps_the_picker_open() -> None:
    app = Host(ReactionPicker(set()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*":nope:", "enter")
        await pilot.pause()
        assert app.results == []
        assert isinstance(app.screen, ReactionPicker)
        assert "unknown emoji :nope:" in shown(app.screen.query_one("#react-error"))
        await pilot.press("backspace")
        await pilot.pause()
        assert shown(app.screen.query_one("#react-error")).strip() == ""
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        (":[b]x[/b]:", "unknown emoji :[b]x[/b]:"),
        ("[b]x[/b] y", "[b]x[/b] y is not an emoji"),
        ("two words", "two words is not an emoji"),
        ("", "type :name: or paste an emoji"),
    ],
)
async def test_what_cannot_be_a_reaction_is_explained(typed: str, error: str) -> None:
    app = Host(ReactionPicker(set()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        field = app.screen.query_one(Input)
        field.focus()
        field.value = typed
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == []
        assert error in shown(app.screen.query_one("#react-error"))


async def test_escape_picks_nothing() -> None:
    app = Host(ReactionPicker(set()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]


async def test_your_reactions_are_marked() -> None:
    app = Host(ReactionPicker({"🎉", "🔥"}))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        hint = shown(app.screen.query_one("#react-mine"))
        assert "yours: 🎉 🔥" in hint
        assert "take it back" in hint
        row = app.screen.query_one(ReactionRow)
        line = row.render_lines(Region(0, 0, row.outer_size.width, 1))[0]
        reversed_text = "".join(s.text for s in line if s.style is not None and s.style.reverse)
        assert reversed_text == "4 🎉"
        await pilot.press("4")
        await pilot.pause()
        assert app.results == ["🎉"]


@pytest.mark.parametrize("size", [(80, 24), (40, 24)])
async def test_the_picker_fits(size: tuple[int, int]) -> None:
    app = Host(ReactionPicker({"👍"}))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert fits(app, "#react-box")
        row = shown(app.screen.query_one(ReactionRow))
        for number in range(1, 9):
            assert f"{number} " in row
