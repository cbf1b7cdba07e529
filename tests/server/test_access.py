"""Who may do what: the pure rules, table-driven."""

from __future__ import annotations

from typing import Literal

import pytest

from chat_server.access import (
    Action,
    ChangeAction,
    Refusal,
    block_refusal,
    change_refusal,
    conversation_refusal,
    dm_refusal,
    hidden_from,
    refusal,
    seen_by,
    shows_presence,
)
from chat_server.protocol import dm_pair

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


# (action, exists, the user blocked the other, the other blocked the user) -> refusal code
DM_CASES: list[tuple[Literal["join", "send"], bool, bool, bool, str | None]] = [
    # a conversation exists once a message was sent in it: a join never creates one
    ("join", False, False, False, "not_found"),
    ("join", True, False, False, None),
    # a block stops messages, not the reading of what was said before it
    ("join", True, True, False, None),
    ("join", True, False, True, None),
    ("join", False, True, True, "not_found"),
    # a send creates the conversation, unless either person blocked the other
    ("send", False, False, False, None),
    ("send", True, False, False, None),
    ("send", True, False, True, "forbidden"),
    ("send", False, False, True, "forbidden"),
    ("send", True, True, False, "forbidden"),
    ("send", True, True, True, "forbidden"),
]


@pytest.mark.parametrize(("action", "exists", "blocked", "blocked_by", "code"), DM_CASES)
def test_direct_conversations_by_consent(
    action: Literal["join", "send"], exists: bool, blocked: bool, blocked_by: bool, code: str | None
) -> None:
    decided = dm_refusal("bob", action, exists=exists, blocked=blocked, blocked_by=blocked_by)
    assert (decided.code if decided else None) == code
    if decided is not None:
        assert "bob" in decided.message


def test_a_blocked_sender_is_told_so_and_a_blocker_why() -> None:
    assert dm_refusal("bob", "send", exists=True, blocked_by=True) == Refusal(
        "forbidden", "bob does not accept messages from you"
    )
    refused = dm_refusal("bob", "send", exists=True, blocked=True)
    assert refused is not None and "unblock" in refused.message


# (user key, target nick, the target exists) -> refusal code
BLOCK_CASES: list[tuple[str, str, bool, str | None]] = [
    ("alice", "bob", True, None),
    ("alice", "Bob", True, None),
    ("alice", "bob", False, "not_found"),
    ("alice", "alice", True, "bad_request"),
    ("alice", "ALICE", True, "bad_request"),  # nicks ignore case
    ("alice", "alice", False, "bad_request"),
]


@pytest.mark.parametrize(("user", "target", "exists", "code"), BLOCK_CASES)
def test_who_may_be_blocked(user: str, target: str, exists: bool, code: str | None) -> None:
    decided = block_refusal(user, target, exists=exists)
    assert (decided.code if decided else None) == code


# (dm, the person wrote there, the person blocked the viewer, the viewer blocked the person)
PRESENCE_CASES: list[tuple[bool, bool, bool, bool, bool]] = [
    # public rooms: everyone sees everyone, but never someone who blocked them
    (False, False, False, False, True),
    (False, True, False, False, True),
    (False, False, True, False, False),
    (False, False, False, True, True),  # blocking someone does not hide them from you
    # direct conversations: only once the person wrote, and while no block stands
    (True, False, False, False, False),
    (True, True, False, False, True),
    (True, True, True, False, False),
    (True, True, False, True, False),
    (True, False, True, True, False),
]


@pytest.mark.parametrize(
    ("dm", "wrote", "blocks_viewer", "blocked_by_viewer", "shown"), PRESENCE_CASES
)
def test_whose_presence_shows(
    dm: bool, wrote: bool, blocks_viewer: bool, blocked_by_viewer: bool, shown: bool
) -> None:
    assert (
        shows_presence(
            dm=dm, wrote=wrote, blocks_viewer=blocks_viewer, blocked_by_viewer=blocked_by_viewer
        )
        is shown
    )


@pytest.mark.parametrize("dm", [False, True])
def test_presence_events_skip_whom_the_rule_hides(dm: bool) -> None:
    """``hidden_from`` is ``shows_presence`` for every viewer of an announcement at once."""
    blocked, blocked_by = frozenset({1, 2}), frozenset({2, 3})
    hidden = hidden_from(dm=dm, blocked=blocked, blocked_by=blocked_by)
    for viewer in range(1, 6):
        shown = shows_presence(
            dm=dm,
            wrote=True,
            blocks_viewer=viewer in blocked,
            blocked_by_viewer=viewer in blocked_by,
        )
        assert (viewer not in hidden) is shown, viewer


@pytest.mark.parametrize("viewer_blocks", [False, True])
def test_a_block_changes_the_rooms_where_the_viewer_saw_the_person(viewer_blocks: bool) -> None:
    """``seen_by`` is ``shows_presence`` for one viewer, in the rooms the person is announced
    in, with and without the person's block; other people's conversations are left out."""
    rooms = ["dm:alice:bob", "dm:alice:carol", "general", "random"]
    seen = seen_by(rooms, "bob", viewer_blocks=viewer_blocks)
    for room in rooms:
        pair = dm_pair(room)
        if pair is not None and "bob" not in pair:
            assert room not in seen
            continue
        unblocked, blocked = (
            shows_presence(
                dm=pair is not None,
                wrote=True,
                blocks_viewer=blocks,
                blocked_by_viewer=viewer_blocks,
            )
            for blocks in (False, True)
        )
        assert (room in seen) is (unblocked and not blocked), room


# (action, the target's kind, the user wrote it, it is deleted, a moderator) -> refusal code
CHANGES: list[tuple[ChangeAction, str | None, bool, bool, bool, str | None]] = [
    # the author edits and deletes a live message
    ("edit", "message", True, False, False, None),
    ("delete", "message", True, False, False, None),
    # someone else's: forbidden, unless a moderator (a server admin) deletes it
    ("edit", "message", False, False, False, "forbidden"),
    ("delete", "message", False, False, False, "forbidden"),
    ("delete", "message", False, False, True, None),
    ("edit", "message", False, False, True, "forbidden"),  # nobody edits another's words
    ("edit", "message", False, True, True, "forbidden"),
    ("delete", "message", False, True, True, None),  # again: the first delete's ack
    ("delete", "message", True, False, True, None),  # an admin's own, as anyone's own
    ("edit", "message", True, False, True, None),
    # a deleted message cannot be edited; deleting it again answers the first delete's ack
    ("edit", "message", True, True, False, "not_found"),
    ("delete", "message", True, True, False, None),
    ("delete", "message", False, True, False, "forbidden"),
    # a seq that is no message: nothing there, or a change entry
    *[(a, None, True, False, m, "not_found") for a in ("edit", "delete") for m in (True, False)],
    *[
        (a, k, True, False, True, "not_found")
        for a in ("edit", "delete")
        for k in ("edit", "delete")
    ],
]


@pytest.mark.parametrize(("action", "kind", "author", "deleted", "moderator", "code"), CHANGES)
def test_who_may_change_a_message(
    action: ChangeAction,
    kind: str | None,
    author: bool,
    deleted: bool,
    moderator: bool,
    code: str | None,
) -> None:
    decided = change_refusal(action, 7, kind, author=author, deleted=deleted, moderator=moderator)
    assert (decided.code if decided else None) == code
    if decided is not None:
        assert decided.message


def test_a_change_refusal_names_the_seq() -> None:
    assert change_refusal("edit", 7, None, author=True, deleted=False) == Refusal(
        "not_found", "no message 7 in this room"
    )
