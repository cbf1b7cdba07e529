"""What one room's history pane holds: messages by seq, local notices and your own pending sends.

Pure: no Textual, no client. :class:`Timeline` keeps the loaded, contiguous run of a room's
messages (older pages are prepended), the "new messages" divider, inline notices (command
errors, ``/who``, ``/help``) and the messages you sent that the server has not echoed yet;
:meth:`Timeline.items` lists what to draw, in order, each with a key that says when its
drawing can be reused.

The messages are those of a :class:`~chat_tui.client.entries.RoomLog`, as they are now:
an edit, delete or reaction (live, on resume, or in an older page) changes the record in
place, and :attr:`Timeline.dirty` collects the seqs whose drawing is stale (the message,
and the replies that quote it) for the view to draw again, those and nothing else.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from itertools import count
from typing import Literal

from chat_server import protocol as p
from chat_server.protocol import MessageRecord, format_ts, nick_key
from chat_tui.client.entries import RoomLog
from chat_tui.tui.floor import FloorItem, floor_item
from chat_tui.tui.render import local_day

SendState = Literal["sending", "sent", "failed"]
Added = Literal["duplicate", "appended", "inserted"]
Change = p.EditEvent | p.DeleteEvent | p.ReactEvent


@dataclass
class PendingSend:
    """A message you sent that the server has not shown back yet."""

    id: str
    body: str
    ts: str
    state: SendState = "sending"
    error: str = ""
    after_seq: int = 0  # the last line drawn when it was typed: where it stays if refused


@dataclass(frozen=True)
class Notice:
    """A local line (not stored on the server) anchored after the message ``after_seq``."""

    number: int
    text: str
    level: Literal["info", "error"]
    after_seq: int
    ts: str


@dataclass(frozen=True)
class DayItem:
    day: date


@dataclass(frozen=True)
class DividerItem:
    seq: int


Payload = MessageRecord | Notice | PendingSend | DayItem | DividerItem | FloorItem
Item = tuple[Hashable, Payload]

_notice_numbers = count(1)


def _text_of(entry: MessageRecord) -> int | None:
    """The message whose words a page's entry may have changed (quotes of it redraw)."""
    if entry.kind is None:
        return entry.seq
    return entry.target if entry.kind in ("edit", "delete") else None


def _now() -> str:
    return format_ts(datetime.now().astimezone())


@dataclass
class Timeline:
    """One room's loaded history, oldest first, plus what only this client shows."""

    room: str
    me: str
    read_seq: int = 0
    messages: list[MessageRecord] = field(default_factory=list)
    pending: dict[str, PendingSend] = field(default_factory=dict)
    # local lines anchored under what was drawn when they were made: notices, and the
    # messages the server refused (``✗ not sent``), where they were typed
    notices: list[Notice | PendingSend] = field(default_factory=list)
    tail: list[PendingSend | Notice] = field(default_factory=list)
    divider_seq: int | None = None
    more_before: bool = True
    loading: bool = False
    floor: int = 1  # the room's first entry still stored (retention erased those below)
    retention_s: int | None = None  # how long the room keeps its entries; None: forever
    log: RoomLog = field(default_factory=RoomLog)
    dirty: set[int] = field(default_factory=set)  # seqs to draw again (the view empties it)
    quotes_asked: set[int] = field(default_factory=set)  # reply targets fetched (or asked)
    # the room's notices (protocol 2: a topic set, a kick, a role given), by seq
    events: dict[int, MessageRecord] = field(default_factory=dict)
    _seqs: list[int] = field(default_factory=list)
    _event_seqs: list[int] = field(default_factory=list)
    _quoted_by: dict[int, set[int]] = field(default_factory=dict)

    @property
    def first_seq(self) -> int | None:
        return self._seqs[0] if self._seqs else None

    @property
    def last_seq(self) -> int:
        return self._seqs[-1] if self._seqs else 0

    def has(self, seq: int) -> bool:
        index = bisect.bisect_left(self._seqs, seq)
        return index < len(self._seqs) and self._seqs[index] == seq

    def message(self, seq: int) -> MessageRecord | None:
        """The loaded message ``seq`` as it is now; None when it is not loaded."""
        index = bisect.bisect_left(self._seqs, seq)
        if index < len(self._seqs) and self._seqs[index] == seq:
            return self.messages[index]
        return None

    def newest(self, n: int = 1) -> MessageRecord | None:
        """The ``n``-th newest loaded message (``^1`` = the newest), deleted ones counted."""
        return self.messages[-n] if 0 < n <= len(self.messages) else None

    def last_mine(self) -> MessageRecord | None:
        """Your newest loaded message that is not deleted (``up`` in an empty composer)."""
        for message in reversed(self.messages):
            if nick_key(message.nick) == nick_key(self.me) and not message.deleted:
                return message
        return None

    def quoted(self, seq: int) -> MessageRecord | None:
        """The message ``seq`` as a reply's quote shows it: loaded, or fetched for a quote."""
        return self.log.get(seq)

    def apply(self, change: Change) -> None:
        """An edit, delete or reaction (live or on resume): the message changes in place;
        one whose message is not loaded yet waits in the log for it."""
        text = None if isinstance(change, p.ReactEvent) else change.target
        self._changed(self.log.apply(change), text)

    def take_quotes(self, entries: list[MessageRecord]) -> None:
        """A page fetched for the quotes of replies: held for them, not shown as history."""
        for entry in entries:
            self._changed(self.log.apply(entry), _text_of(entry))
            if entry.kind is None:
                self.dirty.update(self._quoted_by.get(entry.seq, ()))

    def _changed(self, seqs: list[int], text: int | None) -> None:
        """The messages ``seqs`` changed; the replies quoting ``text`` too (its words may
        have: an edit, a delete, a newer record; a reaction or a reply count shows in no
        quote)."""
        for seq in seqs:
            index = bisect.bisect_left(self._seqs, seq)
            if index < len(self._seqs) and self._seqs[index] == seq:
                self.messages[index] = self.log.messages[seq]  # a newer record replaced it
                self.dirty.add(seq)
            if seq == text:
                self.dirty.update(self._quoted_by.get(seq, ()))

    def add_event(self, notice: MessageRecord) -> bool:
        """A notice entry (live or from a page), drawn at its seq among the messages;
        False when it was held already."""
        if notice.seq in self.events:
            return False
        self.events[notice.seq] = notice
        bisect.insort(self._event_seqs, notice.seq)
        return True

    @property
    def events_after_last(self) -> bool:
        """Whether a notice is drawn below the newest message (a new message then goes
        under it, not at the end of the lines drawn)."""
        return bool(self._event_seqs) and self._event_seqs[-1] > self.last_seq

    def add(self, message: MessageRecord) -> Added:
        """Add one message (live or a gap fill); your own clears its pending entry."""
        if message.kind == "notice":
            return "inserted" if self.add_event(message) else "duplicate"
        if message.kind is not None:  # a change entry of a page
            self._changed(self.log.apply(message), _text_of(message))
            return "duplicate"
        self._changed(self.log.apply(message), message.seq)
        if self.has(message.seq):
            return "duplicate"
        message = self.log.messages[message.seq]
        if message.reply_to is not None:
            self._quoted_by.setdefault(message.reply_to, set()).add(message.seq)
        if message.seq > self.last_seq:
            self.messages.append(message)
            self._seqs.append(message.seq)
            added: Added = "appended"
        else:
            index = bisect.bisect_left(self._seqs, message.seq)
            self.messages.insert(index, message)
            self._seqs.insert(index, message.seq)
            added = "inserted"
        if nick_key(message.nick) == nick_key(self.me):
            mine = self.pending.pop(message.id, None)
            if mine is not None:
                self.tail.remove(mine)
                self._settle()
        return added

    def prepend(self, messages: list[MessageRecord], more: bool) -> int:
        """Add an older page (ascending by seq); returns how many messages were new."""
        first = self.first_seq
        older: list[MessageRecord] = []
        for entry in messages:  # in seq order: a change follows its message
            if entry.kind == "notice":
                self.add_event(entry)
                continue
            self._changed(self.log.apply(entry), _text_of(entry))
            if entry.kind is None and (first is None or entry.seq < first):
                older.append(self.log.messages[entry.seq])
        for message in older:
            if message.reply_to is not None:
                self._quoted_by.setdefault(message.reply_to, set()).add(message.seq)
        self.messages[:0] = older
        self._seqs[:0] = [m.seq for m in older]
        for message in messages:
            if message.kind is None and first is not None and message.seq >= first:
                self.add(message)
        self.more_before = more and bool(older)
        return len(older)

    @property
    def last_line_seq(self) -> int:
        """The seq of the last entry drawn: a message, or a notice of the log below it."""
        last_event = self._event_seqs[-1] if self._event_seqs else 0
        return max(self.last_seq, last_event)

    def add_pending(self, msg_id: str, body: str) -> PendingSend:
        pending = PendingSend(msg_id, body, _now(), after_seq=self.last_line_seq)
        self.pending[msg_id] = pending
        self.tail.append(pending)
        return pending

    def mark_sent(self, msg_id: str) -> None:
        if msg_id in self.pending:
            self.pending[msg_id].state = "sent"

    def mark_failed(self, msg_id: str, error: str) -> None:
        """The server refused the message: it stays where it was typed, marked ``✗``, and
        newer messages go below it (not above a line pinned to the bottom)."""
        refused = self.pending.pop(msg_id, None)
        if refused is not None:
            refused.state = "failed"
            refused.error = error
            self.tail.remove(refused)
            self.notices.append(refused)
            self._settle()

    def add_notice(self, text: str, level: Literal["info", "error"] = "info") -> Notice:
        notice = Notice(next(_notice_numbers), text, level, self.last_line_seq, _now())
        self.tail.append(notice)
        self._settle()
        return notice

    def mark_erased_below(self, floor: int, text: str) -> None:
        """A resume from below the room's new ``floor``: what was written after the last
        message seen and is gone now is said where it was (``text``), never a silent gap."""
        below = bisect.bisect_left(self._seqs, floor)
        seen = self._seqs[below - 1] if below else 0
        if 0 < seen < floor - 1:
            self.notices.append(Notice(next(_notice_numbers), text, "info", seen, _now()))

    def _settle(self) -> None:
        """Move notices that no longer wait behind a send in flight into the history.

        A notice typed after a message that is still on its way stays below it, in the
        order the user typed them, until the message comes back with its seq.
        """
        waiting = False
        tail: list[PendingSend | Notice] = []
        for entry in self.tail:
            if isinstance(entry, Notice) and not waiting:
                self.notices.append(replace(entry, after_seq=self.last_line_seq))
                continue
            tail.append(entry)
            if isinstance(entry, PendingSend) and entry.state != "failed":
                waiting = True
        self.tail = tail

    def open_divider(self) -> None:
        """Put the "new messages" divider after the read marker, if others wrote since."""
        me = nick_key(self.me)
        unread = any(
            m.seq > self.read_seq and nick_key(m.nick) != me
            for m in self.messages[bisect.bisect_right(self._seqs, self.read_seq) :]
        )
        self.divider_seq = self.read_seq if unread else None

    def items(self, start: int = 0) -> Iterator[Item]:
        """What to draw for ``messages[start:]`` (all confirmed lines when ``start`` is 0)."""
        # the top line only above what is left: messages seen before they were erased stay,
        # and the line of a resume's gap follows them (``HistoryView.set_floor``)
        kept_older = bool(self._seqs) and self._seqs[0] < self.floor
        floor = floor_item(self.floor, self.retention_s, self.more_before or kept_older)
        if start == 0 and floor is not None:
            yield ("floor", self.floor), floor
        by_anchor: dict[int, list[Notice | PendingSend]] = {}
        for notice in self.notices:  # under the message or log notice they followed
            if self.has(notice.after_seq) or notice.after_seq in self.events:
                by_anchor.setdefault(notice.after_seq, []).append(notice)
            elif start == 0:
                yield _anchored(notice)
        previous = self.messages[start - 1] if start > 0 else None
        previous_day = local_day(previous.ts) if previous else None
        events = self._event_seqs
        at = bisect.bisect_right(events, previous.seq) if previous else 0
        for message in self.messages[start:]:
            while at < len(events) and events[at] < message.seq:
                event = self.events[events[at]]
                at += 1
                day = local_day(event.ts)
                if day != previous_day:
                    yield ("day", day), DayItem(day)
                    previous_day = day
                yield ("event", event.seq), event
                for notice in by_anchor.get(event.seq, ()):
                    yield _anchored(notice)
            day = local_day(message.ts)
            if day != previous_day:
                yield ("day", day), DayItem(day)
                previous_day = day
            divider = self.divider_seq
            if (
                divider is not None
                and message.seq > divider
                and (previous.seq <= divider if previous else message.seq == divider + 1)
            ):
                yield ("divider", divider), DividerItem(divider)
            yield ("message", message.seq), message
            for notice in by_anchor.get(message.seq, ()):
                yield _anchored(notice)
            previous = message
        for seq in events[at:]:
            event = self.events[seq]
            day = local_day(event.ts)
            if day != previous_day:
                yield ("day", day), DayItem(day)
                previous_day = day
            yield ("event", seq), event
            for notice in by_anchor.get(seq, ()):
                yield _anchored(notice)

    def pending_items(self) -> Iterator[Item]:
        for entry in self.tail:
            yield _anchored(entry)


def _anchored(entry: Notice | PendingSend) -> Item:
    """The drawing key and payload of a local line."""
    if isinstance(entry, Notice):
        return ("notice", entry.number), entry
    return ("pending", entry.id, entry.state), entry
