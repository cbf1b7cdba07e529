"""Turn untrusted chat text (bodies, nicks, room names) into Rich ``Text``, never via markup.

Everything a peer typed reaches the screen through :func:`safe_text`: terminal escape
sequences and control characters are removed with the server's own
:func:`chat_server.protocol.clean_text`, and the invisible characters that could still
mislead a reader (bidi overrides, zero-width characters, other Unicode format
characters) are shown as visible ``<U+202E>`` placeholders. Pure: no Textual, no I/O.
"""

from __future__ import annotations

import re
import zlib
from datetime import date, datetime
from typing import Final

from rich.console import Console
from rich.style import Style
from rich.text import Text

from chat_server.protocol import clean_text, dm_pair, nick_key

# Unicode "format" (Cf) and separator (Zl, Zp) characters: bidi embeddings/overrides/isolates,
# zero-width space/joiners, BOM, soft hyphen, tag characters, line/paragraph separators.
_INVISIBLE: Final = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)
# At most this many combining marks after one base character ("Zalgo" text stays readable).
_MAX_MARKS: Final = 2
_MARKS: Final = re.compile(
    r"([\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f])+"
)

PLACEHOLDER_STYLE: Final = Style(dim=True, reverse=True)
NICK_PALETTE: Final = (
    "#e06c75",
    "#98c379",
    "#e5c07b",
    "#61afef",
    "#c678dd",
    "#56b6c2",
    "#d19a66",
    "#be5046",
    "#7ec699",
    "#f08d49",
    "#8fa1ff",
    "#ff79c6",
)
TIME_STYLE: Final = Style(dim=True)
MENTION_STYLE: Final = Style(bold=True, color="black", bgcolor="#e5c07b")
ACTION_PREFIX: Final = "/me "


# Emoji a terminal may draw wider than Rich measures them (a line longer than the pane
# breaks the history's layout): variation selectors (``❤️`` is one cell to Rich, two in many
# terminals) and skin-tone modifiers (``👍🏽``: two cells to Rich, four in tmux) go, and a
# zero-width joiner between two emoji (``👨‍👩‍👧``) leaves them side by side, as every
# terminal draws them, instead of showing as ``<U+200D>``.
_EMOJI: Final = "\u2600-\u27bf\U0001f000-\U0001faff"
_UNMEASURED: Final = re.compile("[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")
# Applied after ``_UNMEASURED``: in ``🏳️‍🌈`` and ``👩🏽‍💻`` the joiner follows a selector or a
# skin tone, so it is between two emoji only once those are gone.
_JOINED: Final = re.compile(f"(?<=[{_EMOJI}])\u200d(?=[{_EMOJI}])")


def _cap_marks(match: re.Match[str]) -> str:
    return match[0][:_MAX_MARKS]


def safe_text(text: str, style: Style | str = "") -> Text:
    """Untrusted ``text`` as a ``Text`` shown literally: no markup, no control characters.

    Tabs become four spaces; newlines stay (a multi-line message wraps on them).
    """
    cleaned = clean_text(text).replace("\t", "    ")
    cleaned = _MARKS.sub(_cap_marks, _JOINED.sub("", _UNMEASURED.sub("", cleaned)))
    result = Text(style=style, end="", no_wrap=False)
    position = 0
    for match in _INVISIBLE.finditer(cleaned):
        result.append(cleaned[position : match.start()])
        result.append(f"<U+{ord(match[0]):04X}>", PLACEHOLDER_STYLE)
        position = match.end()
    result.append(cleaned[position:])
    return result


def nick_color(nick: str) -> str:
    """A colour for ``nick`` that is the same in every run, room and client."""
    return NICK_PALETTE[zlib.crc32(nick_key(nick).encode()) % len(NICK_PALETTE)]


def nick_text(nick: str, *, bold: bool = False) -> Text:
    return safe_text(nick, Style(color=nick_color(nick), bold=bold))


def room_label(room: str, me: str) -> str:
    """How a room is named on screen: ``#general``, or ``@bob`` for a direct conversation."""
    pair = dm_pair(room)
    if pair is None:
        return f"#{room}"
    other = pair[1] if pair[0] == nick_key(me) else pair[0]
    return f"@{other}"


def mention_pattern(me: str) -> re.Pattern[str]:
    """Matches ``me`` as a whole word, in any case (nick characters are word characters)."""
    return re.compile(rf"(?<![A-Za-z0-9_-]){re.escape(me)}(?![A-Za-z0-9_-])", re.IGNORECASE)


def is_action(body: str) -> bool:
    return body.startswith(ACTION_PREFIX) and bool(body[len(ACTION_PREFIX) :].strip())


def mentions(body: str, nick: str, me: str) -> bool:
    """Whether a message from ``nick`` names ``me`` (your own messages never do)."""
    if nick_key(nick) == nick_key(me):
        return False
    return mention_pattern(me).search(clean_text(body)) is not None


def parse_ts(ts: str) -> datetime:
    """A server timestamp (UTC ISO-8601) as an aware datetime in the local time zone."""
    try:
        moment = datetime.fromisoformat(ts)
    except ValueError:
        return datetime.now().astimezone()
    return moment.astimezone()


def local_day(ts: str) -> date:
    return parse_ts(ts).date()


def day_label(day: date) -> str:
    return day.strftime("%A %d %B %Y")


def body_text(body: str, me: str) -> Text:
    """A message body with mentions of ``me`` highlighted."""
    text = safe_text(body)
    if me:
        text.highlight_regex(mention_pattern(me), MENTION_STYLE)
    return text


def message_parts(nick: str, body: str, *, me: str, nick_width: int) -> tuple[Text, Text, bool]:
    """The nick column and the body of one message, and whether it mentions ``me``.

    The nick column is right-aligned to ``nick_width`` cells (longer nicks are cut with
    ``+``, as WeeChat does); a ``/me`` action shows ``*`` there and the nick in the body.
    """
    mentioned = mentions(body, nick, me)
    own = nick_key(nick) == nick_key(me)
    named = "" if own else me  # your own name in your own message is no mention
    if is_action(body):
        prefix = Text(" " * (nick_width - 1) + "*", style="bold")
        text = nick_text(nick, bold=True)
        text.append(" ")
        text.append_text(body_text(body[len(ACTION_PREFIX) :], named))
        text.stylize("italic")
    else:
        shown = nick if len(nick) <= nick_width else nick[: nick_width - 1] + "+"
        prefix = Text(" " * (nick_width - len(shown)))
        name = nick_text(shown, bold=own)
        if mentioned:
            name.stylize(MENTION_STYLE)
        prefix.append_text(name)
        text = body_text(body, named)
    return prefix, text, mentioned


NARROW_BODY = 24  # cells: a narrower column beside the nick reads as a word per line


def wrap_lines(
    console: Console, head: Text, body: Text, width: int, indent: int | None = None
) -> list[Text]:
    """``head`` then ``body`` wrapped to ``width`` cells, continuation lines indented.

    Long words are folded, so nothing is ever cut off; wide characters (CJK, emoji) are
    measured in cells, as the terminal shows them. When the column left beside ``head`` is
    narrower than ``NARROW_BODY`` (a phone's terminal, a split pane), ``head`` takes a line of
    its own and the body wraps under it, two cells in.
    """
    hang = head.cell_len if indent is None else indent
    if width - hang < NARROW_BODY and head.plain.strip():
        alone = head.copy()
        alone.rstrip()
        if alone.plain.endswith("│"):  # the column's separator, with no column beside it
            alone.right_crop(1)
            alone.rstrip()
        return [alone, *wrap_lines(console, Text("  "), body, width)]
    body_width = max(width - hang, 8)
    lines: list[Text] = []
    for number, line in enumerate(body.wrap(console, body_width, overflow="fold")):
        row = head.copy() if number == 0 else Text(" " * hang)
        row.append_text(line)
        row.rstrip()
        lines.append(row)
    if not lines:
        lines.append(head.copy())
    return lines


def rule(label: Text, width: int, style: Style | str) -> Text:
    """``──── label ────`` centred across ``width`` cells."""
    inner = max(width - label.cell_len - 2, 2)
    left = inner // 2
    text = Text("─" * left + " ", style=style)
    text.append_text(label)
    text.append(" " + "─" * (inner - left), style)
    return text


# --- protocol 2: what a message's changes look like ---------------------------------------

QUOTE_STYLE: Final = Style(dim=True)
DELETED_STYLE: Final = Style(dim=True, italic=True)
EDITED_STYLE: Final = Style(dim=True)
REACTION_STYLE: Final = Style(color="#abb2bf", bgcolor="#2c313a")
MY_REACTION_STYLE: Final = Style(color="#000000", bgcolor="#61afef", bold=True)
QUOTE_WORDS: Final = 60  # at most this many characters of the quoted text
NBSP: Final = "\u00a0"


def quote_text(nick: str | None, body: str | None, *, deleted: bool) -> Text:
    """``↳ alice: the first words…`` (a reply's target), ``↳ deleted message``, or ``↳ …``
    while the target is being fetched: one line, newlines shown as spaces."""
    text = Text("↳ ", style=QUOTE_STYLE, end="")
    if deleted:
        text.append("deleted message", DELETED_STYLE)
        return text
    if nick is None or body is None:
        text.append("…")
        return text
    text.append_text(nick_text(nick))
    text.append(": ")
    words = " ".join(body.split())
    if len(words) > QUOTE_WORDS:
        words = words[: QUOTE_WORDS - 1].rstrip() + "…"
    text.append_text(safe_text(words, QUOTE_STYLE))
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def reactions_text(reactions: list[tuple[str, int, bool]], replies: int) -> Text:
    """``👍 2  🎉 1  3 replies``: each (emoji, count, mine), yours highlighted."""
    text = Text(end="")
    for emoji, number, mine in reactions:
        if text:
            text.append(" ")
        chip = Text(NBSP, end="")  # no-break spaces: a chip wraps whole, padding kept
        chip.append_text(safe_text(emoji))
        chip.append(f"{NBSP}{number}{NBSP}")
        chip.stylize(MY_REACTION_STYLE if mine else REACTION_STYLE)
        text.append_text(chip)
    if replies:
        if text:
            text.append("  ")
        label = f"{replies} repl{'y' if replies == 1 else 'ies'} (t)".replace(" ", NBSP)
        text.append(label, "bold #61afef")
    return text


# --- protocol 2: rooms with owners ---------------------------------------------------------

NOTICE_LINE_STYLE: Final = Style(dim=True, italic=True)
ROLE_MARKS: Final = {"owner": "~", "op": "@"}  # IRC's habit: ~ founder, @ op
LOCK: Final = "🔒"


def role_mark(role: str | None) -> str:
    """``~`` for the owner, ``@`` for an op, "" for anyone else."""
    return ROLE_MARKS.get(role or "", "")


def notice_text(
    event: str,
    nick: str,
    target: str | None,
    *,
    topic: str | None = None,
    role: str | None = None,
    reason: str | None = None,
) -> Text:
    """What a room command did, as one line: ``alice removed bob: spam``, ``alice set the
    topic: …``, ``alice made bob an op``. Every name and word in it is untrusted."""
    text = Text(end="")
    text.append_text(safe_text(nick, "bold"))
    other = safe_text(target or "someone", "bold")
    if event == "create":
        text.append(" created the room")
        if topic:
            text.append(": ")
            text.append_text(safe_text(" ".join(topic.split())))
        return text
    if event == "topic":
        if topic:
            text.append(" set the topic: ")
            text.append_text(safe_text(" ".join(topic.split())))
        else:
            text.append(" cleared the topic")
        return text
    if event == "role":
        verb = {"owner": " made {} the owner", "op": " made {} an op"}.get(
            role or "", " made {} a member"
        )
        before, _, after = verb.partition("{}")
        if target is not None and nick_key(target) == nick_key(nick) and role == "member":
            text.append(" gave up their role")
            return text
        text.append(before)
        text.append_text(other)
        text.append(after)
        return text
    action = {
        "kick": " removed ",
        "ban": " banned ",
        "unban": " unbanned ",
        "invite": " invited ",
    }.get(event)
    if action is None:
        text.append(" changed the room")
        return text
    text.append(action)
    text.append_text(other)
    if reason:
        text.append(": ")
        text.append_text(safe_text(" ".join(reason.split())))
    return text


def fit_hint(text: Text, hint: Text, width: int, *, right: bool = False) -> Text:
    """``text`` and then ``hint`` on one line of ``width`` cells: the text gives way (cut
    with ``…``), never the hint, which says what the keys do. ``right``: the hint at the
    right edge, at least two cells from the text; else right after it."""
    gap = 2 if right else 0
    room = width - hint.cell_len - gap
    line = Text(end="", no_wrap=True, overflow="ellipsis")
    if room < 1:  # not even the hint fits: the hint, cut
        line.append_text(hint)
        line.truncate(max(width, 0), overflow="ellipsis")
        return line
    shown = text.copy()
    shown.truncate(room, overflow="ellipsis")
    line.append_text(shown)
    if right:
        line.append(" " * (width - shown.cell_len - hint.cell_len))
    line.append_text(hint)
    return line
