"""The messages of one room as they are now, built from a room's log entries (pure: no I/O).

docs/protocol.md section 9, "Applying entries by ``version``": every message keeps ``version``,
the seq of the last entry applied to it, and an entry (live, or from any history page) changes a
message only when its seq is above that version. Overlapping pages, live frames and repeats are
then idempotent; a page's record of a message replaces the one held only when it is newer.

Live frames come in seq order, gap-free (the session sees to it), so those of a message not held
yet (a live edit that overtook the page holding its target, a reply to a message older than any
fetched) wait, a bounded number of them, and are applied when the message arrives. A page's
change entries of a message not held are dropped: they may be ahead of the live frames, and the
message comes as it is now whenever it is fetched.
"""

from __future__ import annotations

import msgspec

from chat_server import protocol as p

__all__ = ["ORPHANS_MAX", "Entry", "RoomLog", "record_of"]

Entry = p.MessageRecord | p.Message | p.EditEvent | p.DeleteEvent | p.ReactEvent
Change = p.MessageRecord | p.EditEvent | p.DeleteEvent | p.ReactEvent
Live = p.Message | p.EditEvent | p.DeleteEvent | p.ReactEvent

# Entries held for messages the log does not hold yet; past this, those of the oldest go.
ORPHANS_MAX = 1000


def record_of(message: p.Message) -> p.MessageRecord:
    """A live message as the record a history page would hold."""
    return p.MessageRecord(
        room=message.room,
        seq=message.seq,
        nick=message.nick,
        body=message.body,
        ts=message.ts,
        id=message.id,
        reply_to=message.reply_to,
        thread=message.thread,
        version=message.seq,
    )


def _held_copy(record: p.MessageRecord) -> p.MessageRecord:
    """A copy the log may change in place without touching the caller's page."""
    return msgspec.structs.replace(
        record,
        version=record.seq if record.version is None else record.version,
        reactions=[
            p.Reaction(emoji=r.emoji, nicks=list(r.nicks), count=r.count) for r in record.reactions
        ],
    )


class RoomLog:
    """The messages of one room a client holds, as they are now (docs/protocol.md section 9)."""

    def __init__(self) -> None:
        self.messages: dict[int, p.MessageRecord] = {}
        # target seq -> {entry seq: frame}: live changes and replies waiting for their message
        self._orphans: dict[int, dict[int, Live]] = {}
        self._orphan_count = 0

    def get(self, seq: int) -> p.MessageRecord | None:
        return self.messages.get(seq)

    def apply(self, entry: Entry) -> list[int]:
        """Take one entry, from a page or live, applying it by version; returns the seqs of
        the held messages whose state changed (a new message, its thread root, the target of
        an edit/delete/react), [] when nothing changed (duplicate, stale, or target not held)."""
        changed: list[int] = []
        if isinstance(entry, p.Message):
            self._take_message(record_of(entry), changed, entry)
        elif isinstance(entry, p.MessageRecord) and entry.kind is None:
            self._take_message(entry, changed, None)
        else:
            self._take_change(entry, changed)
        return list(dict.fromkeys(changed))

    def _take_message(
        self, record: p.MessageRecord, changed: list[int], live: p.Message | None
    ) -> None:
        held = self.messages.get(record.seq)
        version = record.seq if record.version is None else record.version
        if held is None or held.version is None or version > held.version:
            self.messages[record.seq] = _held_copy(record)
            changed.append(record.seq)
            if held is None:
                self._replay(record.seq, changed)
        if record.thread is not None and record.thread != record.seq:
            self._count_reply(record.thread, record.seq, changed, live)

    def _count_reply(
        self, thread: int, seq: int, changed: list[int], live: p.Message | None
    ) -> None:
        root = self.messages.get(thread)
        if root is None:
            if live is not None:
                self._wait(thread, live)
        elif root.version is None or seq > root.version:
            root.replies += 1
            root.version = seq
            changed.append(root.seq)

    def _take_change(self, change: Change, changed: list[int]) -> None:
        target = change.target
        if target is None:
            return
        held = self.messages.get(target)
        if held is None:
            if not isinstance(change, p.MessageRecord):
                self._wait(target, change)
            return
        if held.version is not None and change.seq <= held.version:
            return
        held.version = change.seq
        changed.append(target)
        erased = isinstance(change, p.MessageRecord) and change.deleted
        if isinstance(change, p.EditEvent) or (
            isinstance(change, p.MessageRecord) and change.kind == "edit"
        ):
            held.edited = change.ts
            if not (erased or held.deleted):
                held.body = change.body
        if (
            erased
            or isinstance(change, p.DeleteEvent)
            or (isinstance(change, p.MessageRecord) and change.kind == "delete")
        ):
            held.deleted = True
            held.body = ""
            held.reactions = []
            return
        if held.deleted:
            return
        if isinstance(change, p.ReactEvent):
            _react(held, change.nick, change.emoji, change.remove)
        elif isinstance(change, p.MessageRecord) and change.kind == "react":
            _react(held, change.nick, change.emoji or "", change.remove)

    def _wait(self, target: int, entry: Live) -> None:
        waiting = self._orphans.setdefault(target, {})
        if entry.seq in waiting:
            return
        waiting[entry.seq] = entry
        self._orphan_count += 1
        while self._orphan_count > ORPHANS_MAX:
            oldest = min(self._orphans)
            self._orphan_count -= len(self._orphans.pop(oldest))

    def _replay(self, seq: int, changed: list[int]) -> None:
        waiting = self._orphans.pop(seq, None)
        if not waiting:
            return
        self._orphan_count -= len(waiting)
        for entry_seq in sorted(waiting):
            entry = waiting[entry_seq]
            if isinstance(entry, p.Message):
                self._count_reply(seq, entry.seq, changed, entry)
            else:
                self._take_change(entry, changed)


def _react(held: p.MessageRecord, nick: str, emoji: str, remove: bool) -> None:
    """Add ``nick`` to ``emoji`` (the emoji goes last when new), or take it out (and the
    emoji with its last nick). A live react is always a change (the server stores and
    relays no repeat), so past the ``MAX_REACTION_NICKS`` nicks a page lists, it moves
    ``count``."""
    if not emoji:
        return
    reaction = next((r for r in held.reactions if r.emoji == emoji), None)
    if reaction is None:
        if not remove:
            held.reactions.append(p.Reaction(emoji=emoji, nicks=[nick]))
        return
    if not remove and nick in reaction.nicks:
        return
    total = (reaction.count or len(reaction.nicks)) + (-1 if remove else 1)
    if remove and nick in reaction.nicks:
        reaction.nicks.remove(nick)
    elif not remove and len(reaction.nicks) < p.MAX_REACTION_NICKS:
        reaction.nicks.append(nick)
    if total <= 0 or not reaction.nicks:
        held.reactions.remove(reaction)
    else:
        reaction.count = total if total > len(reaction.nicks) else None
