"""The composer: a one-line input with the history of what you sent (shift+up/shift+down).

``up`` in an empty composer edits your last message (the habit of Slack and Discord);
once you walk your sent lines, up and down go on walking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import Input

NEWLINE = "⏎"  # how a line break of a pasted text shows in the one-line composer


class Composer(Input):
    """Enter sends (the screen handles ``Input.Submitted``); up/down walk your sent lines."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "up", "edit your last message", show=False),
        Binding("down", "newer", "next line", show=False),
        Binding("shift+up", "older", "previous line", show=False),
        Binding("shift+down", "newer", "next line", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="Type a message, /help for commands", id=id)
        self.sent: list[str] = []
        self._position: int | None = None
        self._draft = ""
        self.edit_last: Callable[[], bool] | None = None  # the app's: False when none

    async def _on_key(self, event: events.Key) -> None:
        """Submit on Enter right here, in key order.

        Input's own Enter binding runs after the keys already queued behind it, so a fast
        typist (or a terminal paste of "text\\rmore") would submit text typed after Enter.
        """
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            value = self.value.replace(NEWLINE, "\n")
            self.value = ""
            self.post_message(self.Submitted(self, value))
            return
        await super()._on_key(event)

    def _on_paste(self, event: events.Paste) -> None:
        """Keep every line of a paste (Input keeps the first): breaks show as ⏎ and are sent."""
        event.stop()
        event.prevent_default()
        text = event.text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
        if not text:
            return
        text = text.replace("\n", NEWLINE)
        if self.selection.is_empty:
            self.insert_text_at_cursor(text)
        else:
            self.replace(text, *self.selection)

    def remember(self, line: str) -> None:
        """Keep a sent line (consecutive repeats once) and reset the walk."""
        if not self.sent or self.sent[-1] != line:
            self.sent.append(line)
        self._position = None

    def action_up(self) -> None:
        """Edit your last message from an empty composer; else the previous sent line."""
        if self._position is None and not self.value and self.edit_last and self.edit_last():
            return
        self.action_older()

    def action_older(self) -> None:
        if not self.sent:
            return
        if self._position is None:
            self._draft = self.value
            self._position = len(self.sent)
        self._position = max(self._position - 1, 0)
        self.value = self.sent[self._position]
        self.cursor_position = len(self.value)

    def action_newer(self) -> None:
        if self._position is None:
            return
        self._position += 1
        if self._position >= len(self.sent):
            self._position = None
            self.value = self._draft
        else:
            self.value = self.sent[self._position]
        self.cursor_position = len(self.value)
