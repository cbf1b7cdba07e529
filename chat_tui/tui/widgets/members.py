"""The member list: who is in the current room, online first, and who is typing."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from chat_server.protocol import nick_key
from chat_tui.tui.render import nick_text


def members_text(members: list[str], online: set[str], me: str) -> Text:
    """``● alice`` for online members, ``○ bob`` (dim) for the others."""
    keys = {nick_key(n) for n in online}
    ordered = sorted(members, key=lambda n: (nick_key(n) not in keys, nick_key(n)))
    text = Text(f"{len(keys & {nick_key(m) for m in members})}/{len(members)} online\n", "dim")
    for nick in ordered:
        here = nick_key(nick) in keys
        text.append("● " if here else "○ ", "#98c379" if here else "dim")
        shown = nick_text(nick, bold=nick_key(nick) == nick_key(me))
        if not here:
            shown.stylize("dim")
        text.append_text(shown)
        text.append("\n")
    text.rstrip()
    return text


class MemberList(Static):
    """Redrawn from the room's members and presence; hidden with F2."""

    def show(self, members: list[str], online: set[str], me: str) -> None:
        self.update(members_text(members, online, me))
