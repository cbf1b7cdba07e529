"""delete-erase: a delete's erase of one message in a room of 1,000,000, against a send.

The room is written straight into a database of the server's own schema (``procs.fill_room``,
search index included, as the server's writer fills it); the real server then runs on it.
Its author deletes random messages one at a time over the websocket, each after a ``send``
to the same room (the reference, in the same conditions), each timed until its ``ack``.

A delete takes the message's words out of the search index (FTS5) by adding a segment that
marks them deleted; the server then merges every segment into one (``purge_search``: the
whole index rewritten on the writer's thread), 0.5 s after the first change and at most once
every 10 s. The probe after each phase measures who waits for that merge: a loop of sends
(they queue behind it on the one writer) and a loop of history pages (read on another
connection), side by side, until the database says the purge is done.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import procs
from benchmarks.harness.context import Context
from benchmarks.harness.stats import percentile
from benchmarks.harness.worker import Worker

SCENARIO = "delete-erase"
ROOM = "big"
PURGE_WAIT_S = 15.0  # the server purges at most 10 s after the previous purge
# the probe's pace: a send and a history page every 20 ms at most (a send that comes while
# the purge runs waits for it: the longest is the purge less 20 ms at most)
PROBE_EVERY = 0.02
WARM = 20  # deletes (and sends) before the repetitions, then their purge waited for


def purge_pending(db: Path) -> bool:
    """Whether the server still owes the search index a purge (its own mark)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        return bool(conn.execute("SELECT purge FROM search_indexed").fetchone()[0])


def _wait_purged(db: Path, limit_s: float) -> float:
    """Poll until the purge is done (or ``limit_s``); the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s and purge_pending(db):
        time.sleep(0.05)
    return time.monotonic() - start


def _probe(ctx: Context, client: Worker, db: Path, size: int, seed: int, keep: bool) -> None:
    """Sends and history pages side by side until the pending purge is done; the longest
    send is the purge as the writer's queue sees it, and the pages that overlapped it are
    what a reader got meanwhile (recorded when ``keep``)."""
    client.call(
        "probe_start", room=ROOM, top=size, seed=seed, seconds=PURGE_WAIT_S + 5, every=PROBE_EVERY
    )
    waited = _wait_purged(db, PURGE_WAIT_S)
    time.sleep(0.2)  # the blocked requests' replies
    got: dict[str, Any] = client.call("probe_stop", timeout=60)
    sends: list[tuple[int, float]] = got["send"]
    pages: list[tuple[int, float]] = got["history"]
    pings: list[tuple[int, float]] = got["ping"]
    if purge_pending(db):
        ctx.log(f"{SCENARIO}: no purge in {waited:.1f} s; probe not counted")
        return
    if not sends or not pages:
        ctx.log(f"{SCENARIO}: probe got {len(sends)} sends, {len(pages)} pages; not counted")
        return
    start, longest = max(sends, key=lambda s: s[1])
    end = start + int(longest * 1e6)

    def overlap(t: int, ms: float) -> bool:
        return t < end and t + int(ms * 1e6) > start

    during = [ms for t, ms in pages if overlap(t, ms)]
    others = [ms for t, ms in pages if not overlap(t, ms)]
    if keep:
        ctx.results.add(SCENARIO, "purge", "send_wait_ms", longest)
        for system, times in (("purge", during), ("no-purge", others)):
            if times:
                ctx.results.add(SCENARIO, system, "history_p50_ms", percentile(times, 50))
                ctx.results.add(SCENARIO, system, "history_max_ms", max(times))
        for system, ok in (("purge", True), ("no-purge", False)):
            times = [ms for t, ms in pings if overlap(t, ms) is ok]
            if times:
                ctx.results.add(SCENARIO, system, "ping_max_ms", max(times))
    ctx.log(
        f"{SCENARIO}: {'purge' if keep else 'first purge (not counted)'}: longest send"
        f" {longest:.0f} ms; {len(during)} history pages"
        f" during it (max {max(during, default=0):.0f} ms), {len(others)} outside"
        f" (max {max(others, default=0):.0f} ms); pings during it: max"
        f" {max((ms for t, ms in pings if overlap(t, ms)), default=0):.0f} ms;"
        f" purge seen after {waited:.1f} s"
    )


def delete_erase(ctx: Context, size: int | None = None, count: int | None = None) -> None:
    """Deletes of random messages in a room of ``size`` by their author, against sends."""
    size = size or (20_000 if ctx.quick else 1_000_000)
    count = count or (20 if ctx.quick else 200)
    tokens = ctx.ensure_accounts(1)
    db = ctx.fresh_db("chat-erase")
    start = time.monotonic()
    procs.fill_room(db, ROOM, size, procs.user_ids(db, 1))
    ctx.log(f"{SCENARIO}: room of {size:,} messages built in {time.monotonic() - start:.1f}s")
    rng = random.Random(16)
    targets = rng.sample(range(1, size + 1), min(size, WARM + count * ctx.reps))
    with (
        ctx.server(SCENARIO, "chat", db) as server,
        ctx.workers(SCENARIO, "chat", server.port, "client") as (client,),
    ):
        spec = {"room": ROOM, "token": tokens[0], "count": False}
        # pages, then sends (the phases' and the probe's), then the probe's pings
        client.call("connect", clients=[{**spec, "tag": f"e{i}"} for i in range(3)])
        # the first purge merges the bulk-built index's segments: a one-time cost, not
        # a delete's; after it the next purge waits 10 s, past every phase below
        client.call("erase", room=ROOM, targets=targets[:WARM], timeout=300)
        _probe(ctx, client, db, size, seed=0, keep=False)
        for rep in range(ctx.reps):
            first = WARM + rep * count
            got = client.call("erase", room=ROOM, targets=targets[first : first + count],
                              timeout=600)  # fmt: skip
            for system, key in (("send", "send_ms"), ("delete", "delete_ms")):
                for q in (50, 99):
                    ctx.results.add(SCENARIO, system, f"p{q}_ms", percentile(got[key], q))
            _probe(ctx, client, db, size, seed=rep + 1, keep=True)
