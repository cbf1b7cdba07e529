"""The search results panel: one line per hit, Enter jumps to the message in its room."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from chat_server.protocol import SearchHit
from chat_tui.tui.render import nick_text, parse_ts, room_label, safe_text


def hit_text(hit: SearchHit, me: str) -> Text:
    """``#general 26 Nov 04:00 alice: the body`` on one line (newlines shown as ``⏎``)."""
    text = safe_text(room_label(hit.room, me), "bold")
    text.append(parse_ts(hit.ts).strftime(" %d %b %H:%M "), "dim")
    text.append_text(nick_text(hit.nick))
    text.append(": ")
    text.append_text(safe_text(hit.body.replace("\n", " ⏎ ")))
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


class SearchScreen(ModalScreen[tuple[str, int] | None]):
    """Dismissed with ``(room, seq)`` of the chosen hit, or None (escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "close")]

    def __init__(self, query: str, hits: list[SearchHit], me: str) -> None:
        super().__init__()
        self.query_text = query
        self.hits = hits
        self.me = me

    def compose(self) -> ComposeResult:
        with Vertical(id="search-panel"):
            title = Text(f"{len(self.hits)} result{'s' if len(self.hits) != 1 else ''} for ")
            title.append_text(safe_text(self.query_text, "bold"))
            title.append("  (Enter: jump, Esc: close)", "dim")
            yield Label(title, id="search-title")
            options = [Option(hit_text(hit, self.me), id=str(i)) for i, hit in enumerate(self.hits)]
            yield OptionList(*options, id="search-results")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        hit = self.hits[event.option_index]
        self.dismiss((hit.room, hit.seq))
