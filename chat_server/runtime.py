"""The runtime policy of every chat-server process: uvloop, and a quiet cyclic GC."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop where it is installed (the server's and the CLI's loop)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# Collections start after this many new container objects (0), and the next generation's
# after this many of the previous one's (1, 2); Python's defaults are 700, 10, 10.
GC_THRESHOLDS = (10_000, 50, 100)


def quiet_gc() -> None:
    """Keep the cyclic collector's pauses away from the event loop's traffic.

    With a thousand connections open, a full collection walked every object for 70-95 ms
    (measured at fanout-1000: twelve in three minutes, each one a latency outlier) and
    found nothing to free. What startup built (modules, the store, the app) is never
    garbage, so it leaves the collector's view; and collections run less often, as a
    fan-out's burst of short-lived frames and futures otherwise starts one after another.
    Garbage without cycles is freed as always, by reference counting.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
