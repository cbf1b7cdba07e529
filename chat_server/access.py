"""Who may do what: pure rules of (user, room kind, action), no I/O.

A handler gathers the facts (is the user a member? did either person block the other?)
and asks; the answer is None (go on) or the refusal to report. Rooms are public or direct
conversations (``dm:a:b``); roles come with protocol 2.

Direct conversations are by consent: one exists once a message was sent in it (a
``join`` cannot create one, so nobody is made a member of a conversation they were never
written to), a block either way stops its messages, and a person's presence shows in it
only once they have written there.

Messages change (protocol 2): their author edits them, and deletes them; a server admin
may delete anyone's message in a room they are a member of (``change_refusal``'s
``moderator``; a room's owner and ops may come in the same way), and edit only their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal, NamedTuple, get_args

from chat_server.protocol import dm_pair, nick_key

Action = Literal["join", "leave", "send", "history", "read", "typing", "search", "members"]

# What only a room's members may do; anyone logged in may join a public room.
MEMBERS_ONLY: Final[frozenset[Action]] = frozenset(
    {"leave", "send", "history", "read", "typing", "search", "members"}
)


ChangeAction = Literal["edit", "delete"]


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


def dm_refusal(
    other: str,
    action: Literal["join", "send"],
    *,
    exists: bool,
    blocked: bool = False,
    blocked_by: bool = False,
) -> Refusal | None:
    """Whether the user may join, or send to, the direct conversation with ``other``.

    ``exists``: a message was sent in it already; ``blocked``: the user blocked ``other``;
    ``blocked_by``: ``other`` blocked the user. A block stops messages, never the reading
    of what was said before it.
    """
    if action == "join":
        if exists:
            return None
        return Refusal("not_found", f"no conversation with {other} yet: send them a message")
    if blocked_by:
        return Refusal("forbidden", f"{other} does not accept messages from you")
    if blocked:
        return Refusal("forbidden", f"you blocked {other}: unblock them to write to them")
    return None


def block_refusal(user_key: str, target: str, *, exists: bool) -> Refusal | None:
    """Whether the user may block (or unblock) the nick ``target``."""
    if nick_key(target) == user_key:
        return Refusal("bad_request", "you cannot block yourself")
    if not exists:
        return Refusal("not_found", f"no user {target}")
    return None


def change_refusal(
    action: ChangeAction,
    target: int,
    target_kind: str | None,
    *,
    author: bool,
    deleted: bool,
    moderator: bool = False,
    age: float = 0.0,
    edit_window: float | None = None,
) -> Refusal | None:
    """Whether the user may edit or delete the entry ``target`` (a seq) of a room.

    ``target_kind``: the kind of the entry at that seq ("message", "edit", "delete",
    "react"), None when there is none; ``author``: the user wrote it; ``deleted``: it is
    deleted; ``moderator``: the user may delete anyone's messages there (a server admin;
    a room's owner or an op, once those exist); ``age``: seconds since it was sent;
    ``edit_window``: how long its author may edit it (None: no limit). Only a message can
    change. A deleted message cannot be edited; deleting it again is allowed (the store
    answers with the first delete's ack).
    """
    if target_kind != "message":
        return Refusal("not_found", f"no message {target} in this room")
    if action == "edit":
        if not author:
            return Refusal("forbidden", "you can edit only your own messages")
        if deleted:
            return Refusal("not_found", f"message {target} was deleted")
        if edit_window is not None and age > edit_window:
            return Refusal("forbidden", f"messages can be edited for {edit_window:g} s only")
        return None
    if not (author or moderator):
        return Refusal("forbidden", "you can delete only your own messages")
    return None


def answer_refusal(target: int, target_kind: str | None, *, deleted: bool) -> Refusal | None:
    """Whether a member may react to, or reply to, the entry ``target`` (a seq) of a room
    (``target_kind`` and ``deleted`` as for ``change_refusal``): a message that stands."""
    if target_kind != "message":
        return Refusal("not_found", f"no message {target} in this room")
    if deleted:
        return Refusal("not_found", f"message {target} was deleted")
    return None


def shows_presence(*, dm: bool, wrote: bool, blocks_viewer: bool, blocked_by_viewer: bool) -> bool:
    """Whether a viewer sees a person's presence (online, offline) in a room.

    Never when the person blocked the viewer. In a direct conversation only once the
    person wrote in it (so opening one to someone does not reveal them before they
    answer), and not while either of the two blocks the other. ``wrote`` is whether the
    person has written in the room, ``blocks_viewer`` whether the person blocked the
    viewer, ``blocked_by_viewer`` whether the viewer blocked the person.
    """
    if blocks_viewer:
        return False
    if dm:
        return wrote and not blocked_by_viewer
    return True


def seen_by(rooms: Iterable[str], viewer_key: str, *, viewer_blocks: bool) -> list[str]:
    """Of the rooms a person's presence is announced in (public ones, and the direct
    conversations they wrote in), those where one viewer (by nick key) sees it as long as
    the person does not block them (:func:`shows_presence`): every public room, and the
    person's direct conversation with the viewer unless ``viewer_blocks`` the person. The
    rooms a block or an unblock changes for the viewer; those the viewer is not in reach
    nobody."""
    seen = []
    for room in rooms:
        pair = dm_pair(room)
        if pair is None or (viewer_key in pair and not viewer_blocks):
            seen.append(room)
    return seen


def hidden_from(*, dm: bool, blocked: frozenset[int], blocked_by: frozenset[int]) -> frozenset[int]:
    """Who must not get a person's presence event in a room where it is announced (one
    they may be seen in, ``wrote``): :func:`shows_presence` for every viewer at once,
    given whom the person blocked and who blocked them."""
    return blocked | blocked_by if dm else blocked


# --- rooms with owners (protocol 2) ------------------------------------------------------

# Where a user stands in a room: a member with a role (``owner``, ``op``, ``member``),
# someone it invited, someone it banned, or nobody to it (``none``).
Role = Literal["owner", "op", "member", "invited", "none", "banned"]
# What a room is to a rule: a listed one, an invitation-only one, a direct conversation
# (``dm:a:b``), or a name with no room.
RoomKind = Literal["public", "private", "dm", "missing"]
RoomAction = Literal[
    "join", "leave", "send", "history", "read", "typing", "search", "edit", "delete",
    "react", "invite", "kick", "ban", "unban", "role", "topic", "create",
]  # fmt: skip
ROOM_ACTIONS: Final[tuple[RoomAction, ...]] = get_args(RoomAction)
ROLES: Final[tuple[Role, ...]] = get_args(Role)
ROOM_KINDS: Final[tuple[RoomKind, ...]] = get_args(RoomKind)
# What a member does with the room's messages; the room commands change the room itself.
MEMBER_ACTIONS: Final[frozenset[RoomAction]] = frozenset(
    {"leave", "send", "history", "read", "typing", "search", "edit", "delete", "react"}
)
ROOM_COMMANDS: Final[frozenset[RoomAction]] = frozenset(
    {"invite", "kick", "ban", "unban", "role", "topic"}
)
MEMBERS: Final[frozenset[Role]] = frozenset({"owner", "op", "member"})
# The rank a role gives over others: an op acts on members only, the owner on anyone.
RANK: Final[dict[Role, int]] = {"owner": 2, "op": 1, "member": 0}


def room_refusal(
    action: RoomAction, kind: RoomKind, role: Role, *, admin: bool = False, room: str = "it"
) -> Refusal | None:
    """Whether someone whose place in ``room`` is ``role`` may take ``action`` there; None
    when they may (for the commands aimed at a person, :func:`target_refusal` decides the
    rest). ``admin``: a server admin, who may kick, ban and set roles where they are a
    member, and sees nothing of a room they are not in.

    Whoever is not a member of a private room is told exactly what a missing room tells
    them (``not_member``), so neither the room's existence nor its content shows; only a
    ``join`` of it says ``forbidden`` (a ``join`` of a missing name creates a public room).
    In a direct conversation the room commands are ``bad_request``; who may read and write
    one is :func:`conversation_refusal`'s and :func:`dm_refusal`'s to say.
    """
    member = role in MEMBERS
    if action == "create":
        if kind == "dm":
            return Refusal("bad_request", "a direct conversation starts with a message")
        if kind == "missing":
            return None
        return Refusal("conflict", f"{room} exists already")
    if kind == "missing":  # a join creates a public room
        return None if action == "join" else _not_member(room)
    if kind == "dm":
        if action in ROOM_COMMANDS:
            return Refusal("bad_request", "room commands do not apply to direct conversations")
        if member or action == "join":
            return None
        return _not_member(room)
    if action == "join":
        if role == "banned":
            return Refusal("forbidden", f"you are banned from {room}")
        if kind == "private" and not (member or role == "invited"):
            return Refusal("forbidden", f"{room} is private: you need an invitation")
        return None
    if action == "leave" and role == "invited":
        return None  # declines the invitation
    if not member:
        return _not_member(room)
    if action in MEMBER_ACTIONS:
        return None
    if action == "invite":
        if kind == "private" and role == "member":
            return Refusal("forbidden", f"only the owner and ops of {room} invite people")
        return None
    if action == "topic":
        if role == "member":
            return Refusal("forbidden", f"only the owner and ops of {room} set its topic")
        return None
    if action in ("kick", "ban", "unban") and role == "member" and not admin:
        return Refusal("forbidden", f"only the owner and ops of {room} {action} people")
    return None  # the role a member may set is the target's question


def _not_member(room: str) -> Refusal:
    return Refusal("not_member", f"you are not a member of {room}")


def target_refusal(
    action: RoomAction,
    actor: Role,
    target: Role,
    *,
    admin: bool = False,
    own: bool = False,
    nick: str = "they",
    new_role: Role = "member",
) -> Refusal | None:
    """Whether a member whose role is ``actor`` (past :func:`room_refusal`) may ``invite``,
    ``kick``, ``ban``, ``unban`` or set the role (``role``: to ``new_role``) of ``nick``,
    whose place in the room is ``target``; ``own``: the user aims at themselves.

    An op acts on members, never on ops or the owner; the owner and a server admin on
    anyone. The owner grants and takes back ``op`` and hands ownership on (becoming an op);
    anyone may drop their own role, except the owner, who hands it on instead.
    """
    if action == "invite":
        if target == "banned":
            return Refusal("forbidden", f"{nick} is banned from this room")
        if target != "none":
            what = "invited" if target == "invited" else "a member"
            return Refusal("conflict", f"{nick} is {what} already")
        return None
    if action == "unban":
        if target != "banned":
            return Refusal("not_found", f"{nick} is not banned here")
        return None
    if own and action in ("kick", "ban"):
        return Refusal("bad_request", f"you cannot {action} yourself: leave instead")
    if action == "ban" and target == "banned":
        return Refusal("conflict", f"{nick} is banned already")
    if target not in MEMBERS:
        if action == "ban":
            return None  # kept out before they come
        return Refusal("not_found", f"{nick} is not a member of this room")
    if action in ("kick", "ban"):
        if actor == "owner" or admin or RANK[target] < RANK[actor]:
            return None
        return _outranked(nick)
    if action != "role":
        return None
    if new_role == target:
        return Refusal("conflict", f"{nick} is {target} already")
    if new_role not in MEMBERS:
        return Refusal("bad_request", "a role is owner, op or member")
    if target == "owner":
        return Refusal("forbidden", "the owner hands ownership on: give someone the owner role")
    if own and RANK[new_role] < RANK[target]:
        return None  # dropping one's own role
    if actor == "owner" or admin:
        return None
    return Refusal("forbidden", "only the owner sets roles")


def _outranked(nick: str) -> Refusal:
    return Refusal("forbidden", f"an op acts on members only, and {nick} is not one")
