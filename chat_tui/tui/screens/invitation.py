"""Answer an invitation to a room: join it, decline it (the server forgets it), or later."""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from chat_server.protocol import Invitation
from chat_tui.tui.render import LOCK, nick_text, safe_text

Answer = Literal["join", "decline"]


def invitation_text(invitation: Invitation) -> Text:
    """``bob invited you to #hiring 🔒 (a private room)``."""
    text = nick_text(invitation.by, bold=True)
    text.append(" invited you to ")
    text.append_text(safe_text(f"#{invitation.room}", "bold"))
    if invitation.private:
        text.append(f" {LOCK} (a private room)")
    return text


class InvitationScreen(ModalScreen[Answer | None]):
    """Dismissed with "join" (``y`` or Enter), "decline" (``n``) or None (Esc: decide later;
    the invitation stays in the room list)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "dismiss('join')", "join"),
        Binding("enter", "dismiss('join')", "join", show=False),
        Binding("n", "dismiss('decline')", "decline"),
        Binding("escape", "dismiss(None)", "later", show=False),
    ]

    def __init__(self, invitation: Invitation) -> None:
        super().__init__()
        self.invitation = invitation

    def compose(self) -> ComposeResult:
        with Vertical(id="invitation-box"):
            yield Label(invitation_text(self.invitation), id="invitation-question")
            keys = Text("y", style="bold")
            keys.append("/Enter: join   ", "dim")
            keys.append("n", "bold")
            keys.append(": decline   ", "dim")
            keys.append("Esc", "bold")
            keys.append(": later", "dim")
            yield Label(keys, id="invitation-keys")
