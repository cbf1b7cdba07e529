"""Who may do what: the pure rules, table-driven."""

from __future__ import annotations

from typing import Literal

import pytest

from chat_server.access import (
    ROLES,
    ROOM_ACTIONS,
    ROOM_KINDS,
    Action,
    ChangeAction,
    Refusal,
    Role,
    RoomAction,
    RoomKind,
    block_refusal,
    change_refusal,
    conversation_refusal,
    dm_refusal,
    hidden_from,
    refusal,
    room_refusal,
    seen_by,
    shows_presence,
    target_refusal,
)
from chat_server.protocol import dm_pair

ALL: tuple[Action, ...] = (
    "join", "leave", "send", "history", "read", "typing", "search", "members",
)  # fmt: skip

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
    ("bob", "dm:alice:bob", "members", False, "not_member"),
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


# --- rooms with owners: every (role, server admin or not, action, room kind) cell --------

# One grid per room kind: a row per action, a column per role (owner, op, member, invited,
# none, banned); "." allows, a letter refuses: b bad_request, c conflict, f forbidden,
# m not_member. ADMIN lists the cells a server admin's flag changes (kind, action, role).
ROLE_COLUMNS = ("owner", "op", "member", "invited", "none", "banned")
CODES = {".": None, "b": "bad_request", "c": "conflict", "f": "forbidden", "m": "not_member"}
GRIDS: dict[RoomKind, str] = {
    "public": """
        join     . . . . . f
        leave    . . . . m m
        send     . . . m m m
        history  . . . m m m
        read     . . . m m m
        typing   . . . m m m
        search   . . . m m m
        edit     . . . m m m
        delete   . . . m m m
        react    . . . m m m
        invite   . . . m m m
        kick     . . f m m m
        ban      . . f m m m
        unban    . . f m m m
        role     . . . m m m
        topic    . . f m m m
        create   c c c c c c
    """,
    "private": """
        join     . . . . f f
        leave    . . . . m m
        send     . . . m m m
        history  . . . m m m
        read     . . . m m m
        typing   . . . m m m
        search   . . . m m m
        edit     . . . m m m
        delete   . . . m m m
        react    . . . m m m
        invite   . . f m m m
        kick     . . f m m m
        ban      . . f m m m
        unban    . . f m m m
        role     . . . m m m
        topic    . . f m m m
        create   c c c c c c
    """,
    # a non-member here is one of the two people (a third party is conversation_refusal's)
    "dm": """
        join     . . . . . .
        leave    . . . m m m
        send     . . . m m m
        history  . . . m m m
        read     . . . m m m
        typing   . . . m m m
        search   . . . m m m
        edit     . . . m m m
        delete   . . . m m m
        react    . . . m m m
        invite   b b b b b b
        kick     b b b b b b
        ban      b b b b b b
        unban    b b b b b b
        role     b b b b b b
        topic    b b b b b b
        create   b b b b b b
    """,
    # a missing name answers as a private room answers a non-member; join creates it
    "missing": """
        join     . . . . . .
        leave    m m m m m m
        send     m m m m m m
        history  m m m m m m
        read     m m m m m m
        typing   m m m m m m
        search   m m m m m m
        edit     m m m m m m
        delete   m m m m m m
        react    m m m m m m
        invite   m m m m m m
        kick     m m m m m m
        ban      m m m m m m
        unban    m m m m m m
        role     m m m m m m
        topic    m m m m m m
        create   . . . . . .
    """,
}
# (kind, action, role) -> code for a server admin, where it differs from the grid
ADMIN: dict[tuple[str, str, str], str | None] = {
    (kind, action, "member"): None
    for kind in ("public", "private")
    for action in ("kick", "ban", "unban")
}


def _cells() -> list[tuple[RoomKind, RoomAction, Role, bool, str | None]]:
    cells = []
    for kind, grid in GRIDS.items():
        rows = [line.split() for line in grid.strip().splitlines()]
        assert [row[0] for row in rows] == list(ROOM_ACTIONS), kind
        for action, *marks in rows:
            assert len(marks) == len(ROLE_COLUMNS)
            for role, mark in zip(ROLE_COLUMNS, marks, strict=True):
                code = CODES[mark]
                cells.append((kind, action, role, False, code))
                cells.append((kind, action, role, True, ADMIN.get((kind, action, role), code)))
    return cells  # type: ignore[return-value]


ROOM_CELLS = _cells()


def test_the_room_table_covers_every_cell() -> None:
    cells = {(k, a, r, admin) for k, a, r, admin, _ in ROOM_CELLS}
    assert set(ROLE_COLUMNS) == set(ROLES)
    assert len(cells) == len(ROLES) * len(ROOM_ACTIONS) * len(ROOM_KINDS) * 2 == len(ROOM_CELLS)


@pytest.mark.parametrize(("kind", "action", "role", "admin", "code"), ROOM_CELLS)
def test_who_may_do_what_in_a_room(
    kind: RoomKind, action: RoomAction, role: Role, admin: bool, code: str | None
) -> None:
    decided = room_refusal(action, kind, role, admin=admin, room="ops")
    assert (decided.code if decided else None) == code
    if decided is not None:
        assert decided.message


def test_a_private_room_answers_a_stranger_as_a_missing_one_does() -> None:
    """Word for word, so that neither its existence nor its content shows."""
    for action in ROOM_ACTIONS:
        if action not in ("join", "create"):
            assert room_refusal(action, "private", "none", room="x") == room_refusal(
                action, "missing", "none", room="x"
            )


# (action, the actor's role, the target's role, admin, own, new role) -> refusal code
TARGET_CASES: list[tuple[RoomAction, Role, Role, bool, bool, Role, str | None]] = [
    # invite: only someone with no place in the room yet
    ("invite", "member", "none", False, False, "member", None),
    ("invite", "op", "invited", False, False, "member", "conflict"),
    *[
        ("invite", "owner", t, False, False, "member", "conflict")
        for t in ("owner", "op", "member")
    ],
    ("invite", "owner", "banned", False, False, "member", "forbidden"),
    # kick: the owner anyone, an op members only, an admin anyone; nobody themselves
    *[("kick", "owner", t, False, False, "member", None) for t in ("op", "member")],
    ("kick", "op", "member", False, False, "member", None),
    ("kick", "op", "op", False, False, "member", "forbidden"),
    ("kick", "op", "owner", False, False, "member", "forbidden"),
    ("kick", "member", "owner", True, False, "member", None),
    ("kick", "op", "op", True, False, "member", None),
    ("kick", "owner", "owner", False, True, "member", "bad_request"),
    ("kick", "op", "op", False, True, "member", "bad_request"),
    *[("kick", "owner", t, False, False, "member", "not_found") for t in ("none", "invited")],
    ("kick", "owner", "banned", False, False, "member", "not_found"),
    # ban: as kick, and also someone not (yet) in the room; not twice
    ("ban", "op", "member", False, False, "member", None),
    ("ban", "op", "none", False, False, "member", None),
    ("ban", "op", "invited", False, False, "member", None),
    ("ban", "op", "op", False, False, "member", "forbidden"),
    ("ban", "op", "owner", False, False, "member", "forbidden"),
    ("ban", "owner", "op", False, False, "member", None),
    ("ban", "member", "owner", True, False, "member", None),
    ("ban", "owner", "banned", False, False, "member", "conflict"),
    ("ban", "op", "op", False, True, "member", "bad_request"),
    # unban: only the banned
    ("unban", "op", "banned", False, False, "member", None),
    *[("unban", "owner", t, False, False, "member", "not_found") for t in ("member", "none")],
    # role: the owner grants and takes back op, and hands ownership on
    ("role", "owner", "member", False, False, "op", None),
    ("role", "owner", "op", False, False, "member", None),
    ("role", "owner", "op", False, False, "owner", None),
    ("role", "owner", "member", False, False, "owner", None),
    ("role", "owner", "op", False, False, "op", "conflict"),
    ("role", "owner", "owner", False, True, "op", "forbidden"),  # hands it on instead
    ("role", "owner", "owner", False, True, "member", "forbidden"),
    ("role", "owner", "none", False, False, "op", "not_found"),
    ("role", "owner", "invited", False, False, "op", "not_found"),
    ("role", "owner", "member", False, False, "banned", "bad_request"),
    # anyone drops their own role; an op sets nobody else's
    ("role", "op", "op", False, True, "member", None),
    ("role", "op", "member", False, False, "op", "forbidden"),
    ("role", "op", "op", False, False, "member", "forbidden"),
    ("role", "op", "owner", False, False, "member", "forbidden"),
    ("role", "member", "member", False, False, "op", "forbidden"),
    ("role", "member", "member", False, True, "op", "forbidden"),
    # a server admin sets roles as an owner does, but takes no owner's role away
    ("role", "member", "member", True, False, "op", None),
    ("role", "member", "op", True, False, "owner", None),
    ("role", "member", "owner", True, False, "op", "forbidden"),
]


@pytest.mark.parametrize(("action", "actor", "target", "admin", "own", "new", "code"), TARGET_CASES)
def test_whom_a_member_may_act_on(
    action: RoomAction,
    actor: Role,
    target: Role,
    admin: bool,
    own: bool,
    new: Role,
    code: str | None,
) -> None:
    decided = target_refusal(action, actor, target, admin=admin, own=own, nick="bob", new_role=new)
    assert (decided.code if decided else None) == code
    if decided is not None:
        assert decided.message
