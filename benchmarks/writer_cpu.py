"""The SQLite writer's CPU per entry with a share of the entries edits and reactions.

``python -m benchmarks writer``: an in-process ``SQLiteStore`` on a fresh file (its
defaults), 50 senders each in a room of their own, as in ``persist``; batches of one entry
per sender (``persist``'s window 1) and of eight (its saturated window) go through the
store's own group commit, with none, 10 % or 25 % of the entries changes: half of them a
first reaction to one of the sender's recent messages, half an edit of the sender's
newest, as the benchmarks' changes mix sends them (``harness/client.py``). It prints the
writer thread's CPU time (``/proc/self/task/TID/schedstat``: user and system) per entry,
the median of the repetitions, and its ratio to no changes. The search index's own work
(the writer indexes new messages in bulk, and merges out the words edits took out) runs on
that thread too and is counted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from chat_server.store import NewChange, NewMessage, NewReaction, SQLiteStore

SENDERS = 50
PREFILL = 20  # messages per room before the measured batches: the first targets


class _Sender:
    """One sender's room, its recent messages, and what it sends next."""

    def __init__(self, user_id: int, nick: str, room_id: int, period: int) -> None:
        self.user_id, self.nick, self.room_id = user_id, nick, room_id
        self.period = period
        self.entries = 0
        self.keys = 0
        self.mine: collections.deque[int] = collections.deque(maxlen=64)
        self.reactable: collections.deque[int] = collections.deque(maxlen=64)

    def key(self) -> str:
        self.keys += 1
        return f"{self.nick}-{self.keys:08d}"

    def next_entry(self) -> NewMessage | NewChange | NewReaction:
        """A message, or (once in ``period // 2`` entries) a reaction or an edit."""
        self.entries += 1
        phase = self.entries % self.period if self.period else -1
        if phase == 0 and self.reactable:
            target = self.reactable.pop()
            return NewReaction(self.user_id, self.nick, self.room_id, self.key(), target, "+1")
        if phase == self.period // 2 and self.mine:
            body = f"edited at {time.monotonic_ns()}"
            return NewChange(self.user_id, self.nick, self.room_id, self.key(), "edit",
                             self.mine[-1], body)  # fmt: skip
        body = f"message {self.keys} from {self.nick}: " + "lorem ipsum dolor sit amet " * 3
        return NewMessage(self.user_id, self.nick, self.room_id, self.key(), body)

    def acked(self, entry: Any, result: Any) -> None:
        if isinstance(entry, NewMessage):
            self.mine.append(result.seq)
            self.reactable.append(result.seq)


def _writer_cpu_ns() -> int:
    """CPU time the store's writer thread has used so far (user and system)."""
    [tid] = [t.native_id for t in threading.enumerate() if t.name.startswith("sqlite-writer")]
    with open(f"/proc/self/task/{tid}/schedstat") as stat:
        return int(stat.read().split()[0])


async def _measure(path: Path, per_sender: int, changes: float, entries: int) -> float:
    """Microseconds of the writer thread's CPU per entry, on a fresh database at ``path``."""
    store = SQLiteStore(path)
    await store.open()
    try:
        period = round(2 / changes) if changes else 0
        senders = []
        for i in range(SENDERS):
            user = await store.create_user(f"sender{i}", "hash")
            room, _ = await store.join(user.id, f"room-{i}", False)
            senders.append(_Sender(user.id, user.nick, room.id, period))
        for _ in range(PREFILL):
            await _batch(store, senders, 1, plain=True)
        await store.search(senders[0].user_id, ["lorem"], None, 1)  # all indexed so far
        before, done = _writer_cpu_ns(), 0
        while done < entries:
            done += await _batch(store, senders, per_sender)
        return (_writer_cpu_ns() - before) / done / 1000
    finally:
        await store.close()


async def _batch(store: SQLiteStore, senders: list[_Sender], per_sender: int, *,
                 plain: bool = False) -> int:  # fmt: skip
    """One group-commit batch: ``per_sender`` entries of every sender, submitted together."""
    pending: list[tuple[_Sender, Any, asyncio.Future[Any]]] = []
    for _ in range(per_sender):
        for sender in senders:
            entry = sender.next_entry()
            if plain or isinstance(entry, NewMessage):
                if not isinstance(entry, NewMessage):
                    entry = NewMessage(sender.user_id, sender.nick, sender.room_id,
                                       sender.key(), "prefill")  # fmt: skip
                future: asyncio.Future[Any] = store.submit(entry)
            else:
                future = store.submit_change(entry)
            pending.append((sender, entry, future))
    for sender, entry, future in pending:
        sender.acked(entry, await future)
    return len(pending)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entries", type=int, default=20_000, help="measured entries per run")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (the median is shown)")


def run(args: argparse.Namespace) -> int:
    print("# the SQLite writer thread's CPU per entry (us), 50 senders each in a room of their own")
    print(f"{'batch':>14} {'changes':>8} {'us/entry':>9} {'min-max':>13} {'ratio':>6}")
    with tempfile.TemporaryDirectory(prefix="chat-writer-") as tmp:
        for per_sender, label in ((1, "50 (window 1)"), (8, "400 (window 8)")):
            plain = 0.0
            for changes in (0.0, 0.10, 0.25):
                runs = []
                for rep in range(args.reps):
                    path = Path(tmp) / f"w{per_sender}-{changes}-{rep}" / "chat.db"
                    runs.append(asyncio.run(_measure(path, per_sender, changes, args.entries)))
                median = statistics.median(runs)
                plain = plain or median
                print(
                    f"{label:>14} {changes:>7.0%} {median:>9.1f}"
                    f" {f'{min(runs):.1f}-{max(runs):.1f}':>13} {median / plain:>5.2f}x",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.writer_cpu")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
