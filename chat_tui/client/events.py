"""What a ChatClient tells its user: the events ``events()`` yields and what ``join()`` returns.

A room's entries arrive in seq order: a new message as ``p.MessageRecord`` (``kind`` None), a
change to one (protocol 2) as the live frame ``p.EditEvent``, ``p.DeleteEvent`` or
``p.ReactEvent``, whether it came live or in a catch-up; ``entries.RoomLog`` applies them all.
A room command's entry comes as ``p.Notice``; an invitation as ``p.InviteEvent``, and a
kick as ``p.Left`` with ``by`` (the room is no longer re-joined).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from chat_server import protocol as p
from chat_tui.client.errors import ClientError

State = Literal["connecting", "connected", "reconnecting", "closed"]


@dataclass(frozen=True)
class Status:
    """Where the connection stands, for a status line."""

    state: State
    retry_in: float | None = None
    queued: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Connected:
    """The client is (again) connected and every room is re-joined."""

    welcome: p.Welcome


@dataclass(frozen=True)
class StatusChanged:
    status: Status


@dataclass(frozen=True)
class Closed:
    """The last event: the client stopped, on its own (``error``) or because it was told to."""

    error: ClientError | None


@dataclass(frozen=True)
class JoinResult:
    """A room just joined: its members (the first page of them, and how many there are),
    and the first history page (not repeated as events)."""

    room: str
    last_seq: int
    members: list[str]
    online: list[str]
    messages: list[p.MessageRecord]
    more: bool
    # the page's change entries (protocol 2), as the live frames that made them: with
    # ``since``, they bring messages the caller already holds up to date
    changes: list[p.EditEvent | p.DeleteEvent | p.ReactEvent] = field(default_factory=list)
    # the page's notices (protocol 2: a topic set, a kick, a role given...), in seq order
    notices: list[p.Notice] = field(default_factory=list)
    topic: str = ""
    private: bool = False
    roles: dict[str, str] = field(default_factory=dict)  # nick -> "owner" | "op"
    floor: int = 1  # the room's first entry still stored (retention erased those below)
    retention_s: int | None = None  # how long the room keeps its entries; None: forever
    # how many members the room has: ``members`` lists the first ``p.JOINED_MEMBERS_MAX``
    # only (ChatClient.members pages on)
    member_count: int = 0


def member_count(joined: p.Joined) -> int:
    """How many members the joined room has (a server older than ``member_count`` listed
    them all)."""
    return len(joined.members) if joined.member_count is None else joined.member_count


Event = (
    p.MessageRecord
    | p.EditEvent
    | p.DeleteEvent
    | p.ReactEvent
    | p.Notice
    | p.InviteEvent
    | p.Left
    | p.Presence
    | p.TypingEvent
    | p.ReadEvent
    | p.Joined
    | Connected
    | StatusChanged
    | Closed
)
