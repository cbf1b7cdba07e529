"""The lines that pair a state with the keys that act on it: the status line (connection
state, queued messages, who you are) and the composer's mode line (replying, editing)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.widget import Widget

from chat_tui.client.events import Status
from chat_tui.tui.render import fit_hint, safe_text


def status_text(status: Status, nick: str, url: str, queued: int) -> Text:
    """``● connected as alice · ws://…`` / ``◌ reconnecting in 3s · 2 queued`` / ``✗ offline``."""
    if status.state == "connected":
        text = Text("● connected", "bold #98c379")
    elif status.state == "reconnecting":
        text = Text("◌ reconnecting", "bold #e5c07b")
        if status.retry_in is not None and status.retry_in >= 0.5:
            text.append(f" in {round(status.retry_in)}s", "bold #e5c07b")
    elif status.state == "connecting":
        text = Text("◌ connecting", "bold #e5c07b")
    else:
        text = Text("✗ offline", "bold #ff5f5f")
    if queued:
        text.append(f" · {queued} queued", "bold #e5c07b")
    if nick:
        text.append(" · ", "dim")
        text.append_text(safe_text(nick, "bold"))
    text.append(" @ ", "dim")
    text.append_text(safe_text(url, "dim"))
    if status.error and status.state != "connected":
        text.append(" · ", "dim")
        text.append_text(safe_text(status.error, "dim"))
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


HINT = Text("/help · ctrl+p commands · ctrl+q quit", "dim", no_wrap=True, overflow="ellipsis")


class HintLine(Widget):
    """One line of text and a key hint: at any width the text gives way, never the hint."""

    DEFAULT_CSS = "HintLine { height: 1; width: 1fr; }"
    RIGHT: ClassVar[bool] = False  # the hint at the right edge (else right after the text)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = Text()
        self.hint = Text()

    def show_line(self, text: Text, hint: Text) -> None:
        self.text, self.hint = text, hint
        self.refresh()

    def render(self) -> Text:
        return fit_hint(self.text, self.hint, self.content_size.width, right=self.RIGHT)


class StatusLine(HintLine):
    """One line at the bottom of the screen: the state on the left, key hints on the right."""

    RIGHT = True

    def show(self, status: Status, nick: str, url: str, queued: int) -> None:
        self.show_line(status_text(status, nick, url, queued), HINT)
