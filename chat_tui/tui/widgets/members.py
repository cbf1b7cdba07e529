"""The member list: who is in the current room, online first, the owner marked ``~`` and ops
``@`` (IRC's habit)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from chat_server.protocol import nick_key
from chat_tui.tui.render import nick_text, role_mark
from chat_tui.tui.widgets.rooms import RoomInfo

RANK = {"owner": 0, "op": 1}


def members_text(
    members: list[str],
    online: set[str],
    me: str,
    roles: dict[str, str] | None = None,
    *,
    count: int | None = None,
) -> Text:
    """``● ~alice`` for online members (``~`` the owner, ``@`` an op), ``○ bob`` (dim) for
    the others; online first, then by role, then by name. ``count``: how many members the
    room has (default: those listed)."""
    keys = {nick_key(n) for n in online}
    role_of = {nick_key(n): role for n, role in (roles or {}).items()}

    def order(nick: str) -> tuple[bool, int, str]:
        key = nick_key(nick)
        return key not in keys, RANK.get(role_of.get(key, ""), 2), key

    ordered = sorted(members, key=order)
    total = len(members) if count is None else count
    text = Text(f"{len(keys & {nick_key(m) for m in members}):,}/{total:,} online\n", "dim")
    for nick in ordered:
        here = nick_key(nick) in keys
        text.append("● " if here else "○ ", "#98c379" if here else "dim")
        mark = role_mark(role_of.get(nick_key(nick)))
        if mark:
            text.append(mark, "bold #e5c07b" if here else "dim")
        shown = nick_text(nick, bold=nick_key(nick) == nick_key(me))
        if not here:
            shown.stylize("dim")
        text.append_text(shown)
        text.append("\n")
    text.rstrip()
    return text


class MemberList(VerticalScroll):
    """Redrawn from the room's members and presence; hidden with F2. It scrolls (wheel, or
    focus it and use the arrows): a big room lists hundreds, and its last line says how
    many more there are."""

    can_focus = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines = Static(id="member-lines")
        self.text = Text()

    def compose(self) -> ComposeResult:
        yield self.lines

    def show(self, info: RoomInfo, me: str) -> None:
        shown = members_text(info.members, info.online, me, info.roles, count=info.count)
        if info.unlisted:  # the last line: how many more, and how to list them
            shown.append(f"\n… {info.unlisted:,} more: /members", "dim italic")
        self.text = shown
        self.lines.update(shown)
