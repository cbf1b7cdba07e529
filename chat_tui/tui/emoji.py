"""Name the emoji a user can react with: the picker's row and the ``:name:`` shortcodes.

Pure: no Textual, no client. A reaction the user types is accepted on the same terms as
the server's :func:`chat_server.protocol.clean_emoji`, so what resolves here is never
refused by the server.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from chat_server.errors import ProtocolError
from chat_server.protocol import clean_emoji


class QuickReaction(NamedTuple):
    """One emoji of the picker's row, with the shortcode that also names it."""

    name: str
    emoji: str


REACTIONS: Final[tuple[QuickReaction, ...]] = (
    QuickReaction("thumbsup", "👍"),
    QuickReaction("thumbsdown", "👎"),
    QuickReaction("smile", "😄"),
    QuickReaction("tada", "🎉"),
    QuickReaction("heart", "❤️"),
    QuickReaction("open_mouth", "😮"),
    QuickReaction("pray", "🙏"),
    QuickReaction("eyes", "👀"),
)

NAMES: Final[dict[str, str]] = {
    "thumbsup": "👍",
    "+1": "👍",
    "thumbsdown": "👎",
    "-1": "👎",
    "smile": "😄",
    "laughing": "😆",
    "joy": "😂",
    "rofl": "🤣",
    "tada": "🎉",
    "party": "🥳",
    "heart": "❤️",
    "open_mouth": "😮",
    "pray": "🙏",
    "eyes": "👀",
    "fire": "🔥",
    "rocket": "🚀",
    "white_check_mark": "✅",
    "check": "✔️",
    "x": "❌",
    "heavy_plus_sign": "➕",
    "thinking": "🤔",
    "clap": "👏",
    "wave": "👋",
    "ok_hand": "👌",
    "100": "💯",
    "sob": "😭",
    "cry": "😢",
    "raised_hands": "🙌",
    "muscle": "💪",
    "star": "⭐",
    "sparkles": "✨",
    "warning": "⚠️",
    "bug": "🐛",
    "coffee": "☕",
    "beer": "🍺",
    "pizza": "🍕",
    "question": "❓",
    "exclamation": "❗",
    "skull": "💀",
    "see_no_evil": "🙈",
}

_SHORTCODE: Final = re.compile(r":([^:\s]+):")


def shortcode(text: str) -> str | None:
    """The name in ``text`` when it is written as a shortcode (``:tada:`` gives ``tada``)."""
    match = _SHORTCODE.fullmatch(text.strip())
    return match[1].lower() if match else None


def resolve(text: str) -> str | None:
    """The emoji the user means by ``text``, or None when it cannot be a reaction.

    ``:name:`` is looked up in :data:`NAMES` (in any case); anything else is taken as
    typed (a pasted emoji) when the server would accept it: 1-32 characters, no spaces.
    """
    name = shortcode(text)
    if name is not None:
        return NAMES.get(name)
    try:
        return clean_emoji(text.strip())
    except ProtocolError:
        return None
