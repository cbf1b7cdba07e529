"""Who may do what: pure rules of (user, room kind, action), no I/O.

A handler gathers the facts (is the user a member?) and asks; the answer is None (go on)
or the refusal to report. Rooms are public or direct conversations (``dm:a:b``); roles
come with protocol 2.
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple

from chat_server.protocol import dm_pair

Action = Literal["join", "leave", "send", "history", "read", "typing", "search"]

# What only a room's members may do; anyone logged in may join a public room.
MEMBERS_ONLY: Final[frozenset[Action]] = frozenset(
    {"leave", "send", "history", "read", "typing", "search"}
)


class Refusal(NamedTuple):
    """Why an action is refused: the wire error code and a message for the user."""

    code: str
    message: str


def conversation_refusal(user_key: str, room: str) -> Refusal | None:
    """A direct conversation is its two people's alone, whatever the action."""
    pair = dm_pair(room)
    if pair is not None and user_key not in pair:
        return Refusal("forbidden", "this is someone else's direct conversation")
    return None


def refusal(user_key: str, room: str, action: Action, *, member: bool) -> Refusal | None:
    """Whether the user (by nick key) may take ``action`` in ``room``; None when they may."""
    refused = conversation_refusal(user_key, room)
    if refused is not None:
        return refused
    if action in MEMBERS_ONLY and not member:
        return Refusal("not_member", f"you are not a member of {room}")
    return None
