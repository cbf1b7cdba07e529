"""The history pane: a Line-API ScrollView over the current room's timeline.

One widget for the whole history (never one widget per message): each timeline item is
wrapped once per width into ``Strip`` lines that are cached, and ``render_line`` only
indexes them. Older pages are prepended without moving what the user looks at; at the
bottom the view follows new messages, scrolled up it counts them instead.

A change to a message (an edit, a delete, a reaction, a new reply to a thread root) draws
that message again, and the replies that quote it, and nothing else; the view stays where
it was (on the newest line when it was there, else on the message at its top).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Hashable
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from chat_server.protocol import MessageRecord, nick_key
from chat_tui.tui.floor import FloorItem, floor_text
from chat_tui.tui.render import (
    DELETED_STYLE,
    EDITED_STYLE,
    NARROW_BODY,
    NOTICE_LINE_STYLE,
    TIME_STYLE,
    day_label,
    message_parts,
    notice_text,
    parse_ts,
    quote_text,
    reactions_text,
    room_label,
    rule,
    safe_text,
    wrap_lines,
)
from chat_tui.tui.timeline import (
    Change,
    DayItem,
    DividerItem,
    Item,
    Notice,
    PendingSend,
    Timeline,
)

SEPARATOR = " │ "
# The first column of a notice's table row (``/join #room      join a room…``): up to 24
# characters, then two spaces or more before the second.
_COLUMN = re.compile(r"\S[^\n]{0,22}?\s{2,}(?=\S)")
MARK_STYLE = Style(bgcolor="#3e4451")
SELECTED_STYLE = Style(bgcolor="#2f4a6d")
ACTION_KEYS = {"r": "reply", "e": "edit", "d": "delete", "plus": "react", "t": "thread"}
NOTICE_STYLES = {"info": Style(color="#e5c07b"), "error": Style(color="#ff5f5f", bold=True)}


def _read(strip: Strip) -> str:
    """A line as the user reads it (a no-break space is a space)."""
    return strip.text.replace("\u00a0", " ").rstrip()


class EmptyRoom:
    """What the pane shows for a room without messages."""


@dataclass
class _Place:
    """Where the user was in a room they switched away from."""

    at_bottom: bool
    scroll_y: float


class HistoryView(ScrollView, can_focus=True):
    """Shows one room at a time; keeps every joined room's timeline.

    A message can be selected (ctrl+up/ctrl+down from anywhere, up/down here, or a click);
    on the selected one ``r`` replies, ``e`` edits, ``d`` deletes, ``+`` reacts and ``t``
    opens its thread (:class:`Act`); escape lets it go and gives the keys back to the
    composer.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "select(-1)", "older message", show=False),
        Binding("down", "select(1)", "newer message", show=False),
        Binding("escape", "deselect", "back to typing", show=False),
        *(Binding(key, f"act('{action}')", action) for key, action in ACTION_KEYS.items()),
    ]

    DEFAULT_CSS = """
    HistoryView {
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
    }
    """

    @dataclass
    class LoadOlder(Message):
        """The user reached the top of a room that has older messages on the server."""

        room: str
        before: int

    @dataclass
    class UnseenChanged(Message):
        """How many new messages arrived below the view while scrolled up."""

        count: int

    @dataclass
    class ReachedBottom(Message):
        """The user scrolled down to the newest message: it has been seen."""

        room: str

    @dataclass
    class Act(Message):
        """A key on the highlighted message: ``action`` is reply, edit, delete, react or
        thread; ``seq`` is the message's."""

        action: str
        room: str
        seq: int
        view: HistoryView

        @property
        def control(self) -> HistoryView:
            return self.view

    @dataclass
    class NeedQuote(Message):
        """A reply quotes the message ``seq``, which this client does not hold: fetch it."""

        room: str
        seq: int

    @dataclass
    class Deselected(Message):
        """The selection was let go (escape): the keys go back to the composer."""

    def __init__(self, me: str = "", *, id: str | None = None, thread: bool = False) -> None:
        super().__init__(id=id)
        self.me = me
        self.thread = thread  # the thread pane's: no older pages, no read marker
        self.timelines: dict[str, Timeline] = {}
        self.room: str | None = None
        self.unseen = 0
        self._lines: list[Strip] = []
        self._tail: list[Strip] = []
        self._seq_line: dict[int, int] = {}
        self._seq_span: dict[int, int] = {}
        self.selected: int | None = None  # the seq of the selected message (current room)
        self._divider_line: int | None = None
        self._cache: dict[Hashable, list[Strip]] = {}
        self._cache_width = 0
        self._places: dict[str, _Place] = {}
        self._resize_timer: Timer | None = None
        self._height = 0  # the lines shown before the last resize
        self._follow_after_resize = True
        self.marked: tuple[str, int] | None = None  # (room, seq) of the last search jump

    # --- the data -----------------------------------------------------------------------

    def timeline(self, room: str) -> Timeline:
        if room not in self.timelines:
            self.timelines[room] = Timeline(room, self.me)
        return self.timelines[room]

    def forget(self, room: str) -> None:
        self.timelines.pop(room, None)
        self._places.pop(room, None)
        if self.room == room:
            self.room = None
            self.rebuild()

    def add_messages(self, room: str, messages: list[MessageRecord], *, live: bool) -> None:
        """Add messages (ascending); live ones count as unseen when scrolled up."""
        timeline = self.timeline(room)
        active = room == self.room
        follow = self.at_bottom
        settled = len(timeline.notices)
        start = len(timeline.messages)
        # the "no messages yet" line goes; a message goes above a notice drawn last
        rebuild = start == 0 or timeline.events_after_last
        new_from_others = 0
        me = nick_key(self.me)
        for message in messages:
            added = timeline.add(message)
            if added == "inserted":
                rebuild = True
            if added != "duplicate" and nick_key(message.nick) != me:
                new_from_others += 1
        stale = self._forget_drawings(timeline)  # a thread root counts a new reply
        if not active:
            return
        if rebuild or len(timeline.notices) != settled:
            self.rebuild()  # an insertion, or notices moved from below a send into the history
        else:
            self._extend(timeline, start)
            if stale:
                self._redraw_in_place(stale)
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif live and new_from_others:
            self._set_unseen(self.unseen + new_from_others)

    def add_events(self, room: str, notices: list[MessageRecord]) -> None:
        """Notices of the room's log (a topic set, a kick, a role given), each drawn at its
        seq as a dim line."""
        timeline = self.timeline(room)
        added = [timeline.add_event(notice) for notice in notices]
        if room == self.room and any(added):
            follow = self.at_bottom
            self.rebuild()
            if follow:
                self.scroll_end(animate=False, immediate=True, x_axis=False)

    def prepend(self, room: str, messages: list[MessageRecord], more: bool) -> None:
        """Add an older page above, keeping the same message under the user's eyes."""
        timeline = self.timeline(room)
        timeline.loading = False
        before = len(self._lines)
        timeline.prepend(messages, more)
        self._forget_drawings(timeline)
        if room != self.room:
            return
        old_y = self.scroll_y
        self.rebuild()
        self.scroll_to(y=old_y + len(self._lines) - before, animate=False, immediate=True)
        self.call_after_refresh(self.load_older_at_top)  # still at the top: the page was short

    def set_floor(self, room: str, floor: int, retention_s: int | None) -> None:
        """The room's floor and retention as the server last said them (a resume's
        ``joined``): the line above its history says where older messages were erased."""
        timeline = self.timeline(room)
        if (timeline.floor, timeline.retention_s) == (floor, retention_s):
            return
        timeline.mark_erased_below(floor, floor_text(retention_s))
        timeline.floor, timeline.retention_s = floor, retention_s
        if room == self.room:
            self.rebuild()

    def apply(self, room: str, changes: list[Change]) -> None:
        """Edits, deletes and reactions: the messages they change are drawn again in place."""
        timeline = self.timeline(room)
        for change in changes:
            timeline.apply(change)
        changed = self._forget_drawings(timeline)
        if changed and room == self.room:
            self._redraw_in_place(changed)

    def take_quotes(self, room: str, entries: list[MessageRecord]) -> None:
        """Messages fetched for the quotes of replies: the replies waiting for them redraw."""
        timeline = self.timeline(room)
        timeline.take_quotes(entries)
        changed = self._forget_drawings(timeline)
        if changed and room == self.room:
            self._redraw_in_place(changed)

    def _forget_drawings(self, timeline: Timeline) -> set[int]:
        """Drop the cached lines of the messages that changed; their seqs."""
        changed = set(timeline.dirty)
        for seq in changed:
            self._cache.pop((timeline.room, ("message", seq)), None)
        timeline.dirty.clear()
        return changed

    def _redraw_in_place(self, seqs: set[int]) -> None:
        """Draw the messages ``seqs`` again, their lines spliced into the rest (a change in a
        room of thousands of lines costs the lines of that message, not a redraw of all),
        without moving the view: on the newest line, or on the lines it showed."""
        assert self.room is not None
        timeline = self.timeline(self.room)
        width = self._width()
        follow = self.at_bottom
        top = round(self.scroll_y)
        above = 0  # lines added (or taken) wholly above the view
        marked = self.marked[1] if self.marked and self.marked[0] == self.room else None
        for seq in sorted((s for s in seqs if s in self._seq_line), reverse=True):
            message = timeline.message(seq)
            if message is None:
                continue
            start, span = self._seq_line[seq], self._seq_span[seq]
            strips = self._strips((self.room, ("message", seq)), message, width)
            if seq == marked:
                strips = [strip.apply_style(MARK_STYLE) for strip in strips]
            self._lines[start : start + span] = strips
            self._seq_span[seq] = len(strips)
            delta = len(strips) - span
            if not delta:
                continue
            for later, line in self._seq_line.items():
                if line > start:
                    self._seq_line[later] = line + delta
            if self._divider_line is not None and self._divider_line > start:
                self._divider_line += delta
            if start + span <= top:
                above += delta
        self._rebuild_tail()
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif above:
            self.scroll_to(y=top + above, animate=False, immediate=True)

    def add_pending(self, room: str, msg_id: str, body: str) -> None:
        self.timeline(room).add_pending(msg_id, body)
        if room == self.room:
            self._rebuild_tail()
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def mark_sent(self, room: str, msg_id: str) -> None:
        self.timeline(room).mark_sent(msg_id)
        if room == self.room:
            self._rebuild_tail()

    def mark_failed(self, room: str, msg_id: str, error: str) -> None:
        """A refused message moves from the sends in flight to where it was typed."""
        self.timeline(room).mark_failed(msg_id, error)
        if room == self.room:
            follow = self.at_bottom
            self.rebuild()
            if follow:
                self.scroll_end(animate=False, immediate=True, x_axis=False)

    def add_notice(self, room: str, text: str, level: str = "info") -> None:
        """Show a local line (command output or error) in ``room``."""
        self.timeline(room).add_notice(text, "error" if level == "error" else "info")
        if room == self.room:
            self.rebuild()
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def show_room(self, room: str) -> None:
        """Switch to ``room``, back where the user left it (at the bottom the first time)."""
        if self.room is not None:
            self._places[self.room] = _Place(self.at_bottom, self.scroll_y)
        self.room = room
        self.selected = None
        timeline = self.timeline(room)
        timeline.open_divider()
        self._set_unseen(0)
        self.rebuild()
        place = self._places.get(room)
        height = self.scrollable_content_region.height
        total = len(self._lines) + len(self._tail)
        if self._divider_line is not None and total - self._divider_line > height:
            # more unread than fits: start at the divider, the user scrolls down to read on
            self.scroll_to(y=max(self._divider_line - 1, 0), animate=False, immediate=True)
        elif place is None or place.at_bottom:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            self.scroll_to(y=place.scroll_y, animate=False, immediate=True)
        self.call_after_refresh(self.load_older_at_top)

    def scroll_to_seq(self, seq: int) -> bool:
        """Bring the message ``seq`` of the current room to the upper third, highlighted."""
        if self.room is not None and self.marked != (self.room, seq):
            self.marked = (self.room, seq)
            self.rebuild()
        line = self._seq_line.get(seq)
        if line is None:
            return False
        target = max(line - self.scrollable_content_region.height // 3, 0)
        self.scroll_to(y=target, animate=False, immediate=True)
        return True

    def visible_text(self) -> list[str]:
        """The plain text of the lines on screen (what the user reads)."""
        top = round(self.scroll_y)
        height = self.scrollable_content_region.height
        lines = self._lines + self._tail
        return [_read(strip) for strip in lines[top : top + height]]

    def all_text(self) -> list[str]:
        return [_read(strip) for strip in self._lines + self._tail]

    @property
    def at_bottom(self) -> bool:
        return self.scroll_y >= self.max_scroll_y - 0.5

    # --- drawing ------------------------------------------------------------------------

    def _width(self) -> int:
        return max(self.scrollable_content_region.width, 20)

    def _nick_width(self, width: int) -> int:
        return 9 if width < 70 else 12

    def _strips(self, key: Hashable, payload: object, width: int) -> list[Strip]:
        if width != self._cache_width:
            self._cache.clear()
            self._cache_width = width
        cached = self._cache.get(key)
        if cached is None:
            console = self.app.console
            cached = []
            for text in self._texts(payload, width):
                text.end = ""
                strip = Strip(text.render(console), text.cell_len)
                cached.append(strip.adjust_cell_length(width))
            self._cache[key] = cached
        return cached

    def _texts(self, payload: object, width: int) -> list[Text]:
        console = self.app.console
        if isinstance(payload, EmptyRoom):
            label = safe_text(room_label(self.room or "", self.me), "bold")
            return [Text.assemble(" No messages in ", label, " yet. Say hello!", style="dim")]
        if isinstance(payload, DayItem):
            return [rule(Text(day_label(payload.day)), width, "dim")]
        if isinstance(payload, DividerItem):
            return [rule(Text("new messages", style="bold"), width, "#ff5f5f")]
        if isinstance(payload, FloorItem):
            return [Text(f" {payload.text}", style="dim italic")]
        if isinstance(payload, Notice):
            head = Text(parse_ts(payload.ts).strftime("%H:%M "), end="")
            head.stylize(TIME_STYLE)
            head.append("-!- ", "bold")
            texts: list[Text] = []
            style = NOTICE_STYLES[payload.level]
            for number, line in enumerate(payload.text.split("\n")):
                first = head.copy() if number == 0 else Text(" " * head.cell_len)
                column = _COLUMN.match(line)
                if column is not None:  # a table's row (/help): wrap under its second column
                    first.append_text(safe_text(column[0], style))
                    line = line[column.end() :]
                texts.extend(wrap_lines(console, first, safe_text(line, style), width))
            return texts
        if isinstance(payload, PendingSend):
            return self._message_texts(payload.ts, self.me, payload.body, width, payload)
        assert isinstance(payload, MessageRecord)
        if payload.kind == "notice":
            return self._event_texts(payload, width)
        return self._record_texts(payload, width)

    def _event_texts(self, event: MessageRecord, width: int) -> list[Text]:
        """A notice of the room's log: ``12:04        • │ alice removed bob: spam``, dim."""
        nick_width = self._nick_width(width)
        head = Text(parse_ts(event.ts).strftime("%H:%M "), end="")
        head.stylize(TIME_STYLE)
        head.append(" " * (nick_width - 1) + "•", "dim")
        head.append(SEPARATOR, "dim")
        line = notice_text(
            event.event or "",
            event.nick,
            event.target_nick,
            topic=event.topic,
            role=event.role,
            reason=event.reason,
        )
        line.stylize(NOTICE_LINE_STYLE)
        return wrap_lines(self.app.console, head, line, width)

    def _record_texts(self, record: MessageRecord, width: int) -> list[Text]:
        """A message as it is now: the quote of what it answers above it, ``(edited)`` or
        ``message deleted``, and its reactions and replies on a line below."""
        changed = record.deleted or record.edited or record.reactions or record.replies
        if not changed and record.reply_to is None:  # the common case, as protocol 1
            return self._message_texts(record.ts, record.nick, record.body, width, None)
        nick_width = self._nick_width(width)
        prefix, text, _ = message_parts(
            record.nick, "" if record.deleted else record.body, me=self.me, nick_width=nick_width
        )
        head = Text(parse_ts(record.ts).strftime("%H:%M "), end="")
        head.stylize(TIME_STYLE)
        head.append_text(prefix)
        head.append(SEPARATOR, "dim")
        # what goes under the message lines up with its text (in a narrow room, the text is
        # under the nick: see wrap_lines)
        hang = head.cell_len if width - head.cell_len >= NARROW_BODY else 2
        texts: list[Text] = []
        if record.reply_to is not None and not (self.thread and record.reply_to == record.thread):
            quote = self._quote(record.reply_to)  # in a thread, an answer to its root: none
            quote.truncate(max(width - hang, 8), overflow="ellipsis")
            line = Text(" " * hang, end="")
            line.append_text(quote)
            texts.append(line)
        if record.deleted:
            text = Text("message deleted", DELETED_STYLE)
        elif record.edited:
            text.append(" (edited)", EDITED_STYLE)
        console = self.app.console
        texts.extend(wrap_lines(console, head, text, width))
        replies = 0 if self.thread else record.replies  # the pane shows them all
        if record.reactions or replies:
            me = nick_key(self.me)
            chips = [
                (r.emoji, r.count or len(r.nicks), any(nick_key(n) == me for n in r.nicks))
                for r in record.reactions
            ]
            below = reactions_text(chips, replies)
            texts.extend(wrap_lines(console, Text(" " * hang), below, width))
        return texts

    def _quote(self, seq: int) -> Text:
        """The quote line of a reply to ``seq``; a target not held is fetched (once)."""
        room = self.room or ""
        timeline = self.timeline(room)
        target = timeline.quoted(seq)
        if target is None:
            if seq not in timeline.quotes_asked:
                timeline.quotes_asked.add(seq)
                self.post_message(self.NeedQuote(room, seq))
            return quote_text(None, None, deleted=False)
        return quote_text(target.nick, target.body, deleted=target.deleted)

    def _message_texts(
        self, ts: str, nick: str, body: str, width: int, pending: PendingSend | None
    ) -> list[Text]:
        nick_width = self._nick_width(width)
        prefix, text, _ = message_parts(nick, body, me=self.me, nick_width=nick_width)
        head = Text(parse_ts(ts).strftime("%H:%M "), end="")
        head.stylize(TIME_STYLE)
        head.append_text(prefix)
        head.append(SEPARATOR, "dim")
        if pending is not None and pending.state == "sending":
            text.stylize("dim")
            text.append(" ⧗", "dim")
        elif pending is not None and pending.state == "failed":
            text.stylize("dim strike")
            text.append_text(safe_text(f" ✗ not sent: {pending.error}", "bold #ff5f5f"))
        return wrap_lines(self.app.console, head, text, width)

    def rebuild(self) -> None:
        """Redraw the whole current room (after a resize, a prepend or an insertion)."""
        self._lines = []
        self._seq_line = {}
        self._seq_span = {}
        self._divider_line = None
        if self.room is not None:
            timeline = self.timeline(self.room)
            if not timeline.messages and not timeline.events and not timeline.more_before:
                self._lines.extend(self._strips((self.room, "empty"), EmptyRoom(), self._width()))
            self._append_items(timeline.items())
        self._rebuild_tail()

    def _extend(self, timeline: Timeline, start: int) -> None:
        self._append_items(timeline.items(start))
        self._rebuild_tail()

    def _append_items(self, items: object) -> None:
        width = self._width()
        lines = self._lines
        seq_line = self._seq_line
        marked = self.marked[1] if self.marked and self.marked[0] == self.room else None
        for key, payload in items:  # type: ignore[attr-defined]
            strips = self._strips((self.room, key), payload, width)
            if isinstance(payload, DividerItem):
                self._divider_line = len(lines)
            elif isinstance(payload, MessageRecord):
                seq_line[payload.seq] = len(lines)
                self._seq_span[payload.seq] = len(strips)
                if payload.seq == marked:
                    strips = [strip.apply_style(MARK_STYLE) for strip in strips]
            lines.extend(strips)

    def _rebuild_tail(self) -> None:
        width = self._width()
        self._tail = []
        if self.room is not None:
            for key, payload in self.timeline(self.room).pending_items():
                self._tail.extend(self._strips((self.room, key), payload, width))
        self.virtual_size = Size(width, len(self._lines) + len(self._tail))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_y) + y
        width = self.scrollable_content_region.width
        if index < len(self._lines):
            strip = self._lines[index]
        elif index - len(self._lines) < len(self._tail):
            strip = self._tail[index - len(self._lines)]
        else:
            return Strip.blank(width, self.rich_style)
        pad = self.rich_style
        selected = self.selected
        if selected is not None and selected in self._seq_line:
            start = self._seq_line[selected]
            if start <= index < start + self._seq_span.get(selected, 1):
                strip = strip.apply_style(SELECTED_STYLE)  # under the text's own styles
                pad = pad + SELECTED_STYLE
        return strip.crop_extend(0, width, pad).apply_style(self.rich_style)

    # --- the selected message -------------------------------------------------------------

    def select(self, seq: int | None) -> None:
        """Select the message ``seq`` of the current room (None: none) and show it."""
        self.selected = seq
        if seq is not None and seq in self._seq_line:
            top = self._seq_line[seq]
            bottom = top + self._seq_span.get(seq, 1)
            height = self.scrollable_content_region.height
            if top < self.scroll_y:
                self.scroll_to(y=top, animate=False, immediate=True)
            elif bottom > self.scroll_y + height:
                self.scroll_to(y=bottom - height, animate=False, immediate=True)
        self.refresh()

    def action_select(self, step: int) -> None:
        """Move the selection ``step`` messages (ctrl+up starts at the newest); past the
        newest it lets go."""
        if self.room is None:
            return
        seqs = [m.seq for m in self.timeline(self.room).messages]
        if not seqs:
            return
        if self.selected is None or self.selected not in self._seq_line:
            self.select(seqs[-1] if step < 0 else None)
            return
        index = bisect.bisect_left(seqs, self.selected) + step
        if index >= len(seqs):
            self.deselect()
        else:
            self.select(seqs[max(index, 0)])
            if index < 0:
                self.scroll_to(y=0, animate=False, immediate=True)
                self.load_older_at_top()

    def action_deselect(self) -> None:
        if self.selected is None:
            raise SkipAction()  # escape goes on to the screen (leave a mode, close a thread)
        self.deselect()

    def deselect(self) -> None:
        self.select(None)
        self.post_message(self.Deselected())

    def action_act(self, action: str) -> None:
        """A key on the selected message; in a thread with none selected, on its root."""
        if self.room is None:
            return
        seq = self.selected
        if seq is None and self.thread:
            messages = self.timeline(self.room).messages
            seq = messages[0].seq if messages else None
        if seq is not None:
            self.post_message(self.Act(action, self.room, seq, self))

    def on_click(self, event: events.Click) -> None:
        """A click selects the message under the pointer."""
        seq = self._seq_at(round(self.scroll_y) + event.y)
        if seq is not None:
            self.focus()
            self.select(seq)

    def _seq_at(self, line: int) -> int | None:
        for seq, start in self._seq_line.items():
            if start <= line < start + self._seq_span.get(seq, 1):
                return seq
        return None

    # --- events -------------------------------------------------------------------------

    def on_resize(self) -> None:
        """Re-wrap for the new width; a long history waits until the resizing stops."""
        lines = len(self._lines) + len(self._tail)
        if self._height:  # where it was before this resize
            was_at_bottom = round(self.scroll_y) + self._height >= lines
        else:  # its first size
            was_at_bottom = self.at_bottom
        if self._resize_timer is not None:  # still dragging: where it was when it began
            self._resize_timer.stop()
            self._resize_timer = None
            was_at_bottom = self._follow_after_resize
        self._height = self.scrollable_content_region.height
        if self._width() == self._cache_width:
            if was_at_bottom:  # shorter (a reply's banner, a smaller terminal): the newest
                self.scroll_end(animate=False, immediate=True, x_axis=False)  # stays in view
            return
        loaded = len(self.timeline(self.room).messages) if self.room else 0
        if loaded < 1000:
            self._rewrap(was_at_bottom)
        else:  # a terminal being dragged sends many resizes: wrap thousands of lines once
            self._follow_after_resize = was_at_bottom
            self._resize_timer = self.set_timer(0.2, lambda: self._rewrap(was_at_bottom))

    def _rewrap(self, follow: bool) -> None:
        """Wrap again, keeping the bottom in view (``follow``), or else the message at the
        top."""
        self._resize_timer = None
        anchor = None if follow else self._top_seq()
        self.rebuild()
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif anchor is not None:
            self.scroll_to(y=self._seq_line[anchor], animate=False, immediate=True)

    def _top_seq(self) -> int | None:
        """The message at the top of the view (its first line there or above)."""
        if self.room is None:
            return None
        seqs = [m.seq for m in self.timeline(self.room).messages]
        starts = [self._seq_line.get(seq, 0) for seq in seqs]
        index = bisect.bisect_right(starts, round(self.scroll_y)) - 1
        return seqs[index] if 0 <= index < len(seqs) else None

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.thread:
            return
        if self.at_bottom and old_value < new_value and self.room is not None:
            self._set_unseen(0)
            self.post_message(self.ReachedBottom(self.room))
        if new_value < 1:
            self.load_older_at_top()

    def on_mouse_scroll_up(self) -> None:
        self.load_older_at_top()  # the wheel at the top does not move the view any more

    def load_older_at_top(self) -> None:
        """Ask for the previous page when the top is in view and the server has more."""
        if self.room is None or self.scroll_y >= 1 or self.thread:
            return
        timeline = self.timeline(self.room)
        first = timeline.first_seq
        if timeline.loading or not timeline.more_before or first is None or first <= timeline.floor:
            return
        timeline.loading = True
        self.post_message(self.LoadOlder(self.room, first))

    def _set_unseen(self, count: int) -> None:
        if count != self.unseen:
            self.unseen = count
            self.post_message(self.UnseenChanged(count))

    def typed_items(self) -> list[Item]:
        """The current room's items (for tests and the benchmark)."""
        return list(self.timeline(self.room).items()) if self.room else []
