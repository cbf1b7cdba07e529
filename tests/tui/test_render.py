"""The safety corpus and the text rules of render.py: untrusted text shows literally."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.text import Text

from chat_tui.tui.render import (
    message_parts,
    nick_color,
    room_label,
    safe_text,
    wrap_lines,
)

# (what a peer sends, what the screen must show)
CORPUS = [
    ("[bold red]x[/]", "[bold red]x[/]"),
    ("[@click=app.quit]hi[/]", "[@click=app.quit]hi[/]"),
    ("[link=file:///etc/passwd]x[/]", "[link=file:///etc/passwd]x[/]"),
    ("a stray [/] closer", "a stray [/] closer"),
    ("[[nested [b]brackets[/b]]]", "[[nested [b]brackets[/b]]]"),
    ("before\x1b]0;title\x07after", "beforeafter"),
    ("clip\x1b]52;c;SGVsbG8=\x07board", "clipboard"),
    ("wipe\x1b[2Jscreen", "wipescreen"),
    ("\x1b[31mred\x1b[0m", "red"),
    ("c1\u009b31mcsi", "c1csi"),
    ("bell\x07", "bell"),
    ("carriage\rreturn", "carriagereturn"),
    ("nul\x00del\x7fc1\x85", "nuldelc1"),
    ("rtl \u202eevil", "rtl <U+202E>evil"),
    ("zero\u200bwidth\u2060join\ufeff", "zero<U+200B>width<U+2060>join<U+FEFF>"),
    ("isolate \u2066x\u2069", "isolate <U+2066>x<U+2069>"),
    ("tag \U000e0041", "tag <U+E0041>"),
    ("tab\there", "tab    here"),
]


@pytest.mark.parametrize(("body", "shown"), CORPUS)
def test_untrusted_text_is_literal(body: str, shown: str) -> None:
    text = safe_text(body)
    assert text.plain == shown
    assert not any(ch in text.plain for ch in "\x1b\x07\r\x9b")
    # no span carries a style from the text itself: only our placeholder style
    assert all(span.style == text.spans[0].style for span in text.spans)


@pytest.mark.parametrize(("body", "shown"), CORPUS)
def test_rendered_message_has_no_escape_sequences(body: str, shown: str) -> None:
    console = Console(width=80, force_terminal=True, color_system="truecolor")
    prefix, text, _ = message_parts("mallory", body, me="alice", nick_width=9)
    with console.capture() as capture:
        console.print(prefix + text, markup=False)
    output = capture.get()
    # the only escapes are the SGR colour codes Rich writes itself
    for chunk in output.split("\x1b[")[1:]:
        params = chunk.split("m", 1)[0]
        assert all(part.isdigit() for part in params.split(";") if part), repr(chunk)
    assert "\x07" not in output and "\x1b]" not in output


def test_zalgo_marks_are_capped() -> None:
    assert safe_text("e" + "\u0301" * 50).plain == "e\u0301\u0301"


def test_long_words_and_wide_characters_wrap_within_the_width() -> None:
    console = Console(width=200)
    body = Text("x" * 100 + " 漢字漢字漢字漢字漢字漢字 🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉")
    lines = wrap_lines(console, Text("12:00 alice │ "), body, 40)
    assert all(line.cell_len <= 40 for line in lines)
    assert "".join(line.plain[14:] for line in lines).replace(" ", "") == body.plain.replace(
        " ", ""
    )
    assert all(line.plain.startswith(" " * 14) for line in lines[1:])


def test_a_column_too_narrow_to_read_puts_the_text_under_the_nick() -> None:
    console = Console(width=200)
    body = Text("a long message that would be a word per line")
    lines = wrap_lines(console, Text("12:00     alice │ "), body, 38)  # a 40-column terminal
    assert [line.plain for line in lines] == [
        "12:00     alice",
        "  a long message that would be a word",
        "  per line",
    ]
    wide = wrap_lines(console, Text("12:00     alice │ "), body, 80)
    assert [line.plain for line in wide] == [f"12:00     alice │ {body.plain}"]


def test_nick_colours_are_stable_per_nick() -> None:
    assert nick_color("alice") == nick_color("ALICE") == nick_color("alice")
    colours = {nick_color(f"user{n}") for n in range(40)}
    assert len(colours) > 5


def test_action_mention_and_long_nicks() -> None:
    prefix, text, mentioned = message_parts("bob", "/me waves at Alice", me="alice", nick_width=9)
    assert prefix.plain == "        *"
    assert text.plain == "bob waves at Alice"
    assert mentioned
    prefix, text, mentioned = message_parts("a" * 32, "malice", me="alice", nick_width=9)
    assert prefix.plain == "aaaaaaaa+"
    assert not mentioned  # "malice" does not name alice
    _, _, mentioned = message_parts("alice", "alice here", me="alice", nick_width=9)
    assert not mentioned  # your own messages never ring


def test_room_labels() -> None:
    assert room_label("general", "alice") == "#general"
    assert room_label("dm:alice:bob", "alice") == "@bob"
    assert room_label("dm:alice:bob", "Bob") == "@alice"


def test_quotes_and_reactions_are_literal_and_measured() -> None:
    from chat_tui.tui.render import quote_text, reactions_text

    quote = quote_text("bob", "[bold]hi[/bold]\nthere " + "word " * 30, deleted=False)
    assert quote.plain.startswith("↳ bob: [bold]hi[/bold] there word")
    assert quote.plain.endswith("…") and "\n" not in quote.plain
    assert quote_text(None, None, deleted=True).plain == "↳ deleted message"
    assert quote_text(None, None, deleted=False).plain == "↳ …"
    chips = reactions_text([("👍", 2, True), ("❤️", 1, False), ("[b]x", 1, False)], 3)
    assert chips.plain.replace("\u00a0", " ") == " 👍 2   ❤ 1   [b]x 1   3 replies (t)"
    nb = "\u00a0"
    assert chips.plain.split(" ") == [
        f"{nb}👍{nb}2{nb}",
        f"{nb}❤{nb}1{nb}",
        f"{nb}[b]x{nb}1{nb}",
        "",
        f"3{nb}replies{nb}(t)",
    ], "a line breaks between chips, never inside one"
    assert chips.cell_len == len(chips.plain) + 1, "only 👍 is two cells wide"


def test_emoji_are_drawn_at_the_width_rich_measures() -> None:
    """Skin tones, variation selectors and joiners inside emoji go (terminals draw them at
    widths Rich does not know); a joiner between letters still shows, as a disguise would."""
    shown = safe_text("ok 👍🏽 ❤️ 👨\u200d👩\u200d👧 a\u200db")
    assert shown.plain == "ok 👍 ❤ 👨👩👧 a<U+200D>b"
    assert shown.cell_len == len("ok  ") + 2 + 1 + 6 + len(" a<U+200D>b") + 1


def test_a_joiner_after_a_selector_or_a_skin_tone_is_inside_the_emoji() -> None:
    """The rainbow flag, the fire heart and a coder with a skin tone join after a selector or
    a tone: they show as emoji side by side, never with a ``<U+200D>`` between them."""
    shown = safe_text("🏳\ufe0f\u200d🌈 ❤\ufe0f\u200d🔥 👩🏽\u200d💻")
    assert shown.plain == "🏳🌈 ❤🔥 👩💻"
    assert "<U+" not in shown.plain


def test_your_own_name_in_your_own_message_is_no_mention() -> None:
    _, text, mentioned = message_parts("alice", "alice here", me="alice", nick_width=12)
    assert not mentioned and not text.spans
    _, text, mentioned = message_parts("bob", "alice here", me="alice", nick_width=12)
    assert mentioned and text.spans
