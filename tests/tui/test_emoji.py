"""Reaction emoji: the picker's row, shortcodes, and what a typed reaction resolves to (pure)."""

from __future__ import annotations

import pytest

from chat_server.protocol import MAX_EMOJI, clean_emoji
from chat_tui.tui import emoji


@pytest.mark.parametrize(
    ("text", "resolved"),
    [
        (":thumbsup:", "👍"),
        (":+1:", "👍"),
        (":-1:", "👎"),
        (":tada:", "🎉"),
        (":TADA:", "🎉"),
        (":Heart:", "❤️"),
        (":100:", "💯"),
        ("  :eyes:  ", "👀"),
        ("👍", "👍"),
        ("❤️", "❤️"),
        ("👨‍👩‍👧", "👨‍👩‍👧"),
        (" 🎉 ", "🎉"),
        ("+1", "+1"),
        ("x" * MAX_EMOJI, "x" * MAX_EMOJI),
        ("a\x1b[31mb", "ab"),
    ],
)
def test_resolve(text: str, resolved: str) -> None:
    assert emoji.resolve(text) == resolved


@pytest.mark.parametrize(
    "text",
    ["", "   ", ":nope:", ":NOPE:", "two words", "👍 👎", "x" * (MAX_EMOJI + 1), "\x1b[0m"],
)
def test_unresolvable(text: str) -> None:
    assert emoji.resolve(text) is None


@pytest.mark.parametrize(
    ("text", "name"),
    [(":tada:", "tada"), (":Ok_Hand:", "ok_hand"), (":nope:", "nope"), ("👍", None), ("::", None)],
)
def test_shortcode(text: str, name: str | None) -> None:
    assert emoji.shortcode(text) == name


def test_the_picker_row_is_eight_named_reactions() -> None:
    assert [r.emoji for r in emoji.REACTIONS] == ["👍", "👎", "😄", "🎉", "❤️", "😮", "🙏", "👀"]
    for reaction in emoji.REACTIONS:
        assert emoji.NAMES[reaction.name] == reaction.emoji


def test_every_name_is_an_emoji_the_server_accepts() -> None:
    assert len(emoji.NAMES) >= 40
    for name, value in emoji.NAMES.items():
        assert name == name.lower()
        assert clean_emoji(value) == value
        assert emoji.resolve(f":{name}:") == value
