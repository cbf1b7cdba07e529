"""Who may do what: the pure rules, table-driven."""

from __future__ import annotations

import pytest

from chat_server.access import Action, Refusal, conversation_refusal, refusal

ALL: tuple[Action, ...] = ("join", "leave", "send", "history", "read", "typing", "search")

# (user, room, action, member) -> the refusal's code, or None when allowed
CASES: list[tuple[str, str, Action, bool, str | None]] = [
    # a public room: anyone may join; the rest is for members
    *[("alice", "general", a, True, None) for a in ALL],
    ("alice", "general", "join", False, None),
    *[("alice", "general", a, False, "not_member") for a in ALL if a != "join"],
    # a direct conversation: its two people, as members
    *[("alice", "dm:alice:bob", a, True, None) for a in ALL],
    *[("bob", "dm:alice:bob", a, True, None) for a in ALL],
    ("bob", "dm:alice:bob", "join", False, None),
    ("bob", "dm:alice:bob", "history", False, "not_member"),
    # anyone else is forbidden, member or not (a third party never learns membership)
    *[("mallory", "dm:alice:bob", a, m, "forbidden") for a in ALL for m in (True, False)],
]


@pytest.mark.parametrize(("user", "room", "action", "member", "code"), CASES)
def test_the_rules(user: str, room: str, action: Action, member: bool, code: str | None) -> None:
    decided = refusal(user, room, action, member=member)
    assert (decided.code if decided else None) == code
    if decided is not None:
        assert decided.message  # a refusal always says why


def test_a_refusal_names_the_room_it_refuses() -> None:
    assert refusal("alice", "general", "send", member=False) == Refusal(
        "not_member", "you are not a member of general"
    )


def test_only_direct_conversations_have_owners() -> None:
    assert conversation_refusal("mallory", "general") is None
    assert conversation_refusal("mallory", "dm:alice:bob") is not None
    assert conversation_refusal("alice", "dm:alice:bob") is None
