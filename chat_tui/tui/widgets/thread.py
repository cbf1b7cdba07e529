"""The thread pane: a message and the replies to it, beside the room (over it when narrow).

It is a second :class:`HistoryView` on a timeline of its own that holds only the thread:
the same drawing, the same selection keys (``r`` answers in the thread, ``e``, ``d``,
``+``), and changes applied in place as in the room. The app fills it (``history`` with
``thread``) and feeds it the room's live entries that belong to the thread.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from chat_server.protocol import MessageRecord
from chat_tui.tui.render import quote_text
from chat_tui.tui.widgets.history import HistoryView


class ThreadPane(Vertical):
    """Shows the thread of ``root`` in ``room`` while open; hidden otherwise."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.room: str | None = None
        self.root: int | None = None
        self.title = Label(id="thread-title")
        self.history = HistoryView(id="thread-history", thread=True)

    def compose(self) -> ComposeResult:
        yield self.title
        yield self.history

    def open(self, room: str, root: int, me: str) -> None:
        """Start showing the thread of ``root`` (empty until :meth:`fill`)."""
        self.room, self.root = room, root
        self.history.me = me
        self.history.timelines.clear()
        self.history.room = None
        self.history.show_room(room)
        self.history.timeline(room).more_before = True  # "loading", not "no messages"
        self._title(None)

    def close(self) -> None:
        self.room = self.root = None
        self.history.timelines.clear()
        self.history.room = None

    def fill(self, entries: list[MessageRecord]) -> None:
        """A page of the thread (the root first, then its replies), as they are now."""
        if self.room is None:
            return
        timeline = self.history.timeline(self.room)
        timeline.more_before = False
        self.history.add_messages(self.room, entries, live=False)
        self.history.scroll_end(animate=False, immediate=True, x_axis=False)
        self._title(timeline.message(self.root) if self.root is not None else None)

    def belongs(self, message: MessageRecord) -> bool:
        """Whether a new message of the room is part of the open thread."""
        return (
            self.root is not None
            and message.room == self.room
            and (message.seq == self.root or message.thread == self.root)
        )

    def _title(self, root: MessageRecord | None) -> None:
        line = Text("thread", "bold")
        line.append(" (r reply, esc close) ", "dim")
        if root is not None:
            line.append_text(quote_text(root.nick, root.body, deleted=root.deleted)[2:])
        line.no_wrap = True
        line.overflow = "ellipsis"
        self.title.update(line)
