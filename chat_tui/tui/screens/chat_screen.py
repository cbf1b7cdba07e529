"""The main screen's layout and its keys: rooms left, history centre, members right, status below.

The screen only arranges widgets and turns keys into app actions; the app
(``chat_tui.tui.app``) owns the client and decides what happens.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Label

from chat_tui.client.events import Status
from chat_tui.tui.render import LOCK, nick_text, room_label, safe_text
from chat_tui.tui.widgets.composer import Composer
from chat_tui.tui.widgets.history import HistoryView
from chat_tui.tui.widgets.members import MemberList
from chat_tui.tui.widgets.rooms import RoomInfo, RoomList
from chat_tui.tui.widgets.status import HintLine, StatusLine
from chat_tui.tui.widgets.thread import ThreadPane

TYPING_SHOWN_FOR = 5.0  # seconds a typing notification stays on screen


def title_text(info: RoomInfo, me: str) -> Text:
    """``#ops 🔒  3 members, 1 online · the topic…`` (cut with ``…``); a room you were
    removed from says so instead of its topic."""
    title = safe_text(room_label(info.room, me), "bold")
    if info.removed is not None:
        title.stylize("strike")
    if info.private:
        title.append(f" {LOCK}")
    online = len({m.lower() for m in info.online} & {m.lower() for m in info.members})
    count = info.count
    title.append(f"  {count:,} member{'' if count == 1 else 's'}, {online:,} online", "dim")
    if info.removed is not None:
        title.append(" · ", "dim")
        title.append_text(safe_text(info.removed, "bold #ff5f5f"))
    elif info.topic:
        title.append(" · ", "dim")
        title.append_text(safe_text(" ".join(info.topic.split())))
    title.no_wrap = True
    title.overflow = "ellipsis"
    return title


class ChatScreen(Screen[None]):
    """Rooms | history + composer | members, and the status line."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("alt+up", "app.room_offset(-1)", "previous room", priority=True),
        Binding("alt+down", "app.room_offset(1)", "next room", priority=True),
        *(
            Binding(f"alt+{n}", f"app.room_number({n})", f"room {n}", show=False, priority=True)
            for n in range(1, 10)
        ),
        Binding("f2", "toggle_members", "members"),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("ctrl+end", "bottom", "newest", show=False),
        Binding("ctrl+up", "select_message(-1)", "select a message", show=False),
        Binding("ctrl+down", "select_message(1)", "select a message", show=False),
        Binding("escape", "app.escape", "type", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.typing: dict[str, dict[str, float]] = {}
        self.me = ""
        self.url = ""
        self.status = Status("connecting")
        self.retry_at: float | None = None
        self._room_at_bottom = True  # when a thread opened
        self.queued = 0
        # Kept as attributes: the app updates them from client events, even while the
        # screen is being taken down at exit.
        self.rooms = RoomList(id="rooms")
        self.history = HistoryView(id="history")
        self.composer = Composer(id="composer")
        self.members = MemberList(id="members")
        self.thread = ThreadPane(id="thread")
        self.title_line = Label(id="title")
        self.info_line = Label(id="info")
        self.mode_line = HintLine(id="mode")
        self.status_line = StatusLine(id="status")

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield self.rooms
            with Vertical(id="centre"):
                yield self.title_line
                yield self.history
                yield self.info_line
                yield self.mode_line
                yield self.composer
            yield self.thread
            yield self.members
        yield self.status_line

    def on_mount(self) -> None:
        self.composer.focus()
        self.set_interval(1.0, self.tick)

    def on_resize(self) -> None:
        self.rooms.styles.width = 24 if self.size.width >= 160 else 18
        # below 60 columns the conversation takes the width (alt+up/down still switch rooms)
        self.rooms.display = self.size.width >= 60
        members = self.members
        self.set_class(self.size.width < 100, "narrow")  # a thread covers the room
        if not members.has_class("toggled"):
            members.display = self.size.width >= 100 and self.thread.root is None

    # --- what the app tells the screen ------------------------------------------------------

    def show_room(self, info: RoomInfo) -> None:
        """Title (the room, its lock, its topic, who is here) and member list of the
        current room."""
        self.title_line.update(title_text(info, self.me))
        self.members.show(info, self.me)
        self.show_info()

    def show_status(self, status: Status, queued: int) -> None:
        self.status = status
        self.queued = queued
        if status.state == "reconnecting" and status.retry_in is not None:
            self.retry_at = time.monotonic() + status.retry_in
        else:
            self.retry_at = None
        self._draw_status()

    def _draw_status(self) -> None:
        status = self.status
        if self.retry_at is not None:
            status = Status(
                status.state, max(self.retry_at - time.monotonic(), 0), status.queued, status.error
            )
        self.status_line.show(status, self.me, self.url, self.queued)

    def typed(self, room: str, nick: str) -> None:
        self.typing.setdefault(room, {})[nick] = time.monotonic() + TYPING_SHOWN_FOR
        self.show_info()

    def stopped_typing(self, room: str, nick: str) -> None:
        if self.typing.get(room, {}).pop(nick, None) is not None:
            self.show_info()

    def show_info(self) -> None:
        """The line under the history: who is typing, and how many new messages are below."""
        room = self.history.room
        now = time.monotonic()
        typing = sorted(n for n, until in self.typing.get(room or "", {}).items() if until > now)
        text = Text()
        if typing:
            for index, nick in enumerate(typing[:3]):
                if index:
                    text.append(", ")
                text.append_text(nick_text(nick))
            more = f" and {len(typing) - 3} more" if len(typing) > 3 else ""
            verb = " is" if len(typing) == 1 else " are"
            text.append(f"{more}{verb} typing…", "dim italic")
        unseen = self.history.unseen
        if unseen:
            if text:
                text.append("  ")
            text.append(
                f" ↓ {unseen} new message{'s' if unseen != 1 else ''} (ctrl+end) ",
                "bold #000000 on #61afef",
            )
        self.info_line.update(text)

    def tick(self) -> None:
        """Expire typing notifications and count down the reconnect delay."""
        now = time.monotonic()
        for nicks in self.typing.values():
            for nick in [n for n, until in nicks.items() if until <= now]:
                del nicks[nick]
        self.show_info()
        if self.retry_at is not None:
            self._draw_status()

    # --- keys -------------------------------------------------------------------------------

    def on_history_view_unseen_changed(self, event: HistoryView.UnseenChanged) -> None:
        self.show_info()

    def on_click(self, event: events.Click) -> None:
        """A click on the ``↓ N new messages`` mark jumps to them."""
        if event.widget is self.info_line and self.history.unseen:
            self.action_bottom()

    def action_toggle_members(self) -> None:
        members = self.members
        members.add_class("toggled")
        members.display = not members.display

    def action_page(self, direction: int) -> None:
        history = self.history
        history.scroll_to(
            y=history.scroll_y + direction * max(history.size.height - 2, 1),
            animate=False,
            immediate=True,
        )
        history.load_older_at_top()

    def action_bottom(self) -> None:
        self.history.scroll_end(animate=False, immediate=True, x_axis=False)

    def action_focus_composer(self) -> None:
        self.composer.focus()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Back in the composer (after an action, a click, a dialog): no message stays
        selected, so the next ctrl+up starts again at the newest."""
        if event.widget is self.composer:
            self.history.select(None)
            self.thread.history.select(None)

    def open_thread(self, room: str, root: int) -> None:
        """Show the thread pane (beside the room, or over it below 100 columns)."""
        self._room_at_bottom = self.history.at_bottom
        self.thread.open(room, root, self.me)
        self.thread.add_class("open")
        self.set_class(True, "threaded")
        if not self.members.has_class("toggled"):
            self.members.display = False
        self.thread.history.focus()

    def close_thread(self) -> None:
        self.thread.close()
        self.thread.remove_class("open")
        self.set_class(False, "threaded")
        self.on_resize()
        self.composer.focus()
        if self._room_at_bottom:  # hidden under the thread, the room kept no place of its own
            self.call_after_refresh(self.action_bottom)

    def show_mode(self, line: Text | None, hint: Text | None = None) -> None:
        """The line above the composer while it writes a reply or an edit, and its keys
        (``hint``, kept whole where ``line`` is cut); None hides it."""
        self.mode_line.set_class(line is not None, "active")
        self.mode_line.show_line(line or Text(), hint or Text())

    def action_select_message(self, step: int) -> None:
        """ctrl+up/ctrl+down: select a message (the newest first); its keys work at once."""
        history = self.history
        history.action_select(step)
        if history.selected is None:
            self.composer.focus()  # nothing to select (or let go past the newest): type on
        else:
            history.focus()

    def on_history_view_deselected(self, event: HistoryView.Deselected) -> None:
        self.composer.focus()
