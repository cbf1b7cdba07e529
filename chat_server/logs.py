"""Keeping a flood of alike warnings and errors from drowning the log of ``chat-server serve``.

A client that makes the same request fail thousands of times a second would write as many
lines (tracebacks, even) and fill the disk; after ``limit`` alike records in ``interval``
seconds, the rest are counted instead and reported in one line. No I/O and no clock of its
own: the summaries go to a callable and the time comes from one, so tests need no sleeping.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

REPEAT_LIMIT = 10  # alike records let through per interval
REPEAT_INTERVAL = 60.0  # seconds
MAX_TRACKED = 1000  # distinct kinds counted at once; past it, new kinds pass uncounted
SUMMARY = "%s ... repeated %d more times in %g s"

Key = tuple[str, int, str]


@dataclasses.dataclass(slots=True)
class _Window:
    start: float
    seen: int = 0


class RepeatFilter(logging.Filter):
    """Lets through at most ``limit`` records of one kind (logger, level and message
    template, whatever the arguments) per ``interval`` seconds, from ``level`` up.

    The records past the limit are dropped and counted; once their interval is over, the
    next record through the filter (or :meth:`flush`) first hands ``emit`` one summary
    record: ``<template> ... repeated K more times in 60 s``. Records below ``level`` (the
    per-connection INFO lines) always pass.
    """

    def __init__(
        self,
        emit: Callable[[logging.LogRecord], object],
        *,
        limit: int = REPEAT_LIMIT,
        interval: float = REPEAT_INTERVAL,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.emit = emit
        self.limit = limit
        self.interval = interval
        self.level = level
        self.clock = clock
        self._windows: dict[Key, _Window] = {}  # in the order the windows started
        self._lock = threading.Lock()  # handlers call filters outside their own lock

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level or record.msg == SUMMARY:
            return True
        now = self.clock()
        with self._lock:
            summaries = self._expire(now)
            key = (record.name, record.levelno, str(record.msg))
            window = self._windows.get(key)
            if window is None and len(self._windows) < MAX_TRACKED:
                window = self._windows[key] = _Window(now)
            passed = window is None or window.seen < self.limit
            if window is not None:
                window.seen += 1
        for summary in summaries:
            self.emit(summary)
        return passed

    def flush(self) -> None:
        """Report every count now (at shutdown)."""
        with self._lock:
            summaries = self._expire(float("inf"))
        for summary in summaries:
            self.emit(summary)

    def _expire(self, now: float) -> list[logging.LogRecord]:
        """Close the windows that are over; the summaries of those that dropped records."""
        summaries: list[logging.LogRecord] = []
        while self._windows:
            key, window = next(iter(self._windows.items()))
            if now - window.start < self.interval:
                break
            del self._windows[key]
            if window.seen > self.limit:
                summaries.append(self._summary(key, window.seen - self.limit))
        return summaries

    def _summary(self, key: Key, count: int) -> logging.LogRecord:
        name, level, template = key
        return logging.LogRecord(
            name, level, __file__, 0, SUMMARY, (template, count, self.interval), None
        )


def install_repeat_filter(handler: logging.Handler) -> RepeatFilter:
    """Put a :class:`RepeatFilter` on ``handler``, its summaries written by the same handler."""
    repeat = RepeatFilter(handler.handle)
    handler.addFilter(repeat)
    return repeat
