"""The room list: joined rooms and direct conversations with unread counts and mention marks,
a lock on private rooms, rooms you were removed from greyed out, and the invitations waiting
for an answer under them."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from chat_server import protocol as p
from chat_server.protocol import Invitation, dm_pair, nick_key
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
    # how many members the room has: ``members`` holds those known so far (a big room's
    # ``joined`` lists its first 500; ``members`` pages load more after ``members_after``,
    # None once every page is loaded)
    member_count: int = 0
    members_after: str | None = None

    def role(self, nick: str) -> str | None:
        key = nick.lower()
        return next((r for n, r in self.roles.items() if n.lower() == key), None)

    def set_members(self, members: list[str], online: list[str], count: int) -> None:
        """What a ``joined`` says: the first page of members, and how many there are."""
        self.members, self.online = list(members), set(online)
        self.member_count = max(count, len(members))
        self.members_after = members[-1] if members and count > len(members) else None

    def add_page(self, page: p.MemberPage) -> None:
        """The next page of members (someone already known, from a live event, once)."""
        known = {nick_key(m) for m in self.members}
        self.members.extend(m for m in page.members if nick_key(m) not in known)
        self.online |= set(page.online)
        self.member_count = max(self.member_count, len(self.members))
        self.members_after = page.members[-1] if page.more and page.members else None

    def arrived(self, nick: str, *, new_member: bool) -> None:
        """Someone came online (or, ``new_member``, joined the room)."""
        self.online.add(nick)
        if nick_key(nick) not in {nick_key(m) for m in self.members}:
            self.members.append(nick)
            if new_member:
                self.member_count += 1
        self.member_count = max(self.member_count, len(self.members))

    def departed(self, nick: str, *, listed_only: bool = False) -> None:
        """Someone left the room (or was removed): gone from the list and the count.
        ``listed_only``: count them out only if they were listed (a notice may be read
        again in a catch-up page, after a ``joined`` that counted without them)."""
        key = nick_key(nick)
        listed = any(nick_key(m) == key for m in self.members)
        if listed_only and not listed:
            return
        self.members = [m for m in self.members if nick_key(m) != key]
        self.online = {m for m in self.online if nick_key(m) != key}
        for held in [n for n in self.roles if nick_key(n) == key]:
            del self.roles[held]  # roles end with membership
        self.member_count = max(self.member_count - 1, len(self.members))

    @property
    def count(self) -> int:
        """How many members the room has, as far as the screen knows."""
        return max(self.member_count, len(self.members))

    @property
    def unlisted(self) -> int:
        """Members the screen does not know by name yet (a ``/members`` loads more)."""
        if self.members_after is None:
            return 0
        return max(self.count - len(self.members), 1)

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
