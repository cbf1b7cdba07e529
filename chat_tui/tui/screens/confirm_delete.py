"""Ask before a message is deleted: its text is erased for everyone and cannot come back."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from chat_tui.tui.render import ACTION_PREFIX, is_action, nick_text, safe_text

QUESTION = "Delete this message? Its text is erased for everyone."
# Enough of a long body for any terminal width; the label cuts the rest.
_PREVIEW_CHARS = 300


def preview_text(nick: str, body: str) -> Text:
    """``alice: the first words of the body`` as one line (the label cuts it with ``…``).

    Newlines show as ``⏎`` and a ``/me`` action as ``* alice waves``.
    """
    action = is_action(body)
    shown = body[len(ACTION_PREFIX) :] if action else body
    shown = " ⏎ ".join(line.strip() for line in shown[:_PREVIEW_CHARS].splitlines())
    text = Text("* ") if action else Text()
    text.append_text(nick_text(nick, bold=True))
    text.append(" " if action else ": ")
    text.append_text(safe_text(shown))
    return text


class ConfirmDelete(ModalScreen[bool]):
    """Dismissed with True when the user confirms (``y`` or Enter), False to keep it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "dismiss(True)", "delete"),
        Binding("enter", "dismiss(True)", "delete", show=False),
        Binding("n", "dismiss(False)", "keep"),
        Binding("escape", "dismiss(False)", "keep", show=False),
    ]

    def __init__(self, nick: str, body: str) -> None:
        super().__init__()
        self.nick = nick
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-delete-box"):
            yield Label(Text(QUESTION, style="bold"), id="confirm-delete-question")
            yield Label(preview_text(self.nick, self.body), id="confirm-delete-preview")
            keys = Text("y", style="bold")
            keys.append("/Enter: delete   ", "dim")
            keys.append("n", "bold")
            keys.append("/Esc: keep", "dim")
            yield Label(keys, id="confirm-delete-keys")
