"""The status line: connection state, queued messages, who you are."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from chat_tui.client.events import Status
from chat_tui.tui.render import safe_text


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


class StatusLine(Static):
    """One line at the bottom of the screen: the state on the left, key hints on the right."""

    def show(self, status: Status, nick: str, url: str, queued: int) -> None:
        line = Table.grid(expand=True)
        line.add_column(ratio=1, no_wrap=True)
        line.add_column(justify="right", no_wrap=True)
        line.add_row(status_text(status, nick, url, queued), HINT)
        self.update(line)
