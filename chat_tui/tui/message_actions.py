"""What the user does to one message: reply, edit, delete, react (protocol 2).

Reached three ways, all ending here: a key on the highlighted message in the history pane
(``r``, ``e``, ``d``, ``+``), a slash command with a short reference (``/reply ^1 text``,
``/edit #41 text``), and ``up`` in an empty composer (edit your last message).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chat_tui.tui.app import ChatApp


class MessageActions:
    """The message actions of one app; each takes the room and the seq of its target."""

    def __init__(self, app: ChatApp) -> None:
        self.app = app

    def reply(self, room: str, seq: int) -> None:
        self.app.notice(room, f"reply to #{seq}: not built yet", "error")

    def edit(self, room: str, seq: int) -> None:
        self.app.notice(room, f"edit #{seq}: not built yet", "error")

    def delete(self, room: str, seq: int) -> None:
        self.app.notice(room, f"delete #{seq}: not built yet", "error")

    def react(self, room: str, seq: int) -> None:
        self.app.notice(room, f"react to #{seq}: not built yet", "error")

    def edit_last(self, room: str) -> bool:
        """Start editing your last message in ``room``; False when you have none loaded."""
        return False
