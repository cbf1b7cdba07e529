"""Names, text cleaning and timestamps: what the wire format and every display share.

Pure: no sockets, no database, no clock except in ``now_ts``. ``chat_server.protocol``
re-exports all of it (``p.clean_text``, ``p.nick_key``, ...).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# --- names ------------------------------------------------------------------------------

_NICK = re.compile(r"[A-Za-z0-9_-]{1,32}")
_ROOM = re.compile(r"[a-z0-9_-]{1,64}")
_DM = re.compile(r"dm:([a-z0-9_-]{1,32}):([a-z0-9_-]{1,32})")


def is_valid_nick(nick: str) -> bool:
    return _NICK.fullmatch(nick) is not None


def nick_key(nick: str) -> str:
    """The case-insensitive identity of a nick (nicks are unique under it)."""
    return nick.lower()


def dm_room(a: str, b: str) -> str:
    """The room of the direct conversation between two nicks."""
    first, second = sorted((nick_key(a), nick_key(b)))
    return f"dm:{first}:{second}"


def dm_pair(room: str) -> tuple[str, str] | None:
    """The two nick keys of a direct-message room name, or None for a public room."""
    match = _DM.fullmatch(room)
    return (match[1], match[2]) if match else None


def is_valid_room(room: str) -> bool:
    """A public room name, or a well-formed direct-message room (sorted, two people)."""
    if _ROOM.fullmatch(room):
        return True
    pair = dm_pair(room)
    return pair is not None and pair[0] < pair[1]


# --- text cleaning ----------------------------------------------------------------------

_ESCAPE = re.compile(
    r"""
      (?:\x1b\[|\x9b) [\x30-\x3f]* [\x20-\x2f]* [\x40-\x7e]?        # CSI ... final
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]) .*? (?:\x07|\x1b\\|\x9c|\Z)
                                                                  # OSC/DCS/SOS/PM/APC ... BEL or ST
    | \x1b [\x20-\x2f]* [\x30-\x7e]                               # two-byte ESC x (and nF)
    """,
    re.VERBOSE | re.DOTALL,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    """Remove terminal escape sequences (payload included) and control characters.

    ``\\n`` and ``\\t`` stay; ``\\r\\n`` becomes ``\\n``. Used on every body the server
    stores and on everything a client shows, so that no untrusted text can drive a
    terminal.
    """
    if _CONTROL.search(text) is None:
        return text
    text = text.replace("\r\n", "\n")
    text = _ESCAPE.sub("", text)
    return _CONTROL.sub("", text)


# --- time -------------------------------------------------------------------------------


def format_ts(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and ``Z``: ``2026-11-26T04:00:00.123Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_ts() -> str:
    return format_ts(datetime.now(UTC))


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (what :func:`clean_text` removes)."""
    return _CONTROL.search(text) is not None
