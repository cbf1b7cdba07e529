"""The room list: joined rooms and direct conversations with unread counts and mention marks,
a lock on private rooms, rooms you were removed from greyed out, and the invitations waiting
for an answer under them."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from chat_server.protocol import Invitation, dm_pair
from chat_tui.tui.render import LOCK, room_label, safe_text

INVITE_PREFIX = "invite:"  # the option id of an invitation: INVITE_PREFIX + room
REMOVED_STYLE = "#5c6370 strike"


@dataclass
class RoomInfo:
    """What the screen knows about one joined room."""

    room: str
    unread: int = 0
    mentioned: bool = False
    read_seq: int = 0
    members: list[str] = field(default_factory=list)
    online: set[str] = field(default_factory=set)
    topic: str = ""
    private: bool = False
    roles: dict[str, str] = field(default_factory=dict)  # nick -> "owner" | "op"
    removed: str | None = None  # kicked or banned: who did it and why, as shown

    def role(self, nick: str) -> str | None:
        key = nick.lower()
        return next((r for n, r in self.roles.items() if n.lower() == key), None)

    @property
    def is_dm(self) -> bool:
        return dm_pair(self.room) is not None


class RoomList(OptionList):
    """Public rooms first, then direct conversations; the current room is highlighted."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.me = ""
        self.rooms: dict[str, RoomInfo] = {}
        self.invites: dict[str, Invitation] = {}  # by room, oldest first
        self.current: str | None = None

    def ordered(self) -> list[str]:
        """Room names in the order shown (what alt+1..9 count)."""
        public = [r for r, info in self.rooms.items() if not info.is_dm]
        direct = [r for r, info in self.rooms.items() if info.is_dm]
        return public + direct

    def prompt(self, info: RoomInfo) -> Text:
        label = safe_text(room_label(info.room, self.me))
        if info.private:
            label.append(f" {LOCK}")
        if info.removed is not None:
            label.stylize(REMOVED_STYLE if info.room != self.current else "bold strike")
            return label
        if info.room == self.current:
            label.stylize("bold")
        elif info.unread:
            label.stylize("bold #ffffff")
        else:
            label.stylize("dim")
        if info.mentioned:
            label.append(" @", "bold #e5c07b")
        if info.unread and info.room != self.current:
            label.append(f" {info.unread}", "bold #61afef")
        return label

    def refresh_rooms(self) -> None:
        """Redraw every entry (cheap: a handful of rooms)."""
        names = self.ordered()
        options = [Option(self.prompt(self.rooms[r]), id=r) for r in names]
        waiting = [i for room, i in self.invites.items() if room not in self.rooms]
        if waiting:
            options.append(Option(Text("invitations", "dim italic"), disabled=True))
            options.extend(
                Option(invitation_prompt(i), id=f"{INVITE_PREFIX}{i.room}") for i in waiting
            )
        self.set_options(options)
        if self.current in names:
            self.highlighted = names.index(self.current)

    def set_current(self, room: str) -> None:
        self.current = room
        info = self.rooms.get(room)
        if info is not None:
            info.unread = 0
            info.mentioned = False
        self.refresh_rooms()


def invitation_prompt(invitation: Invitation) -> Text:
    """``» #hiring 🔒``: a room you are invited to (Enter on it asks: join or decline)."""
    text = Text("» ", "bold #e5c07b")
    text.append_text(safe_text(f"#{invitation.room}", "#e5c07b"))
    if invitation.private:
        text.append(f" {LOCK}")
    return text
