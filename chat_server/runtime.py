"""The runtime policy of every chat-server process: uvloop, a quiet cyclic GC, and as many
open files as the system allows."""

from __future__ import annotations

import asyncio
import gc
import sys
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


# Soft limits tried, highest first, when the hard limit is unlimited (macOS refuses more than
# its OPEN_MAX, 10240, for the soft one; Linux has no unlimited hard limit for open files).
_UNLIMITED_TRIES = (1 << 20, 65536, 10240)


def raise_fd_limit() -> tuple[int | None, int | None]:
    """Raise the soft limit on open files to the hard one; returns (soft, hard) as they now
    stand, None meaning unlimited.

    A soft limit is a default for programs that never need many files, and a server's every
    connection is one: without this, a distribution's 1024 is the number of people a
    server could hold, whatever the administrator allowed with the hard limit.
    """
    if sys.platform == "win32":  # pragma: no cover - no RLIMIT_NOFILE
        return None, None
    import resource

    unlimited = resource.RLIM_INFINITY
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != unlimited and soft != hard:
        tries = (hard,) if hard != unlimited else _UNLIMITED_TRIES
        for target in tries:
            if target <= soft:
                break
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            except (ValueError, OSError):
                continue
            break
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return (None if soft == unlimited else soft), (None if hard == unlimited else hard)
