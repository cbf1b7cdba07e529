"""The log of ``chat-server serve``: its two formats, and keeping a flood of alike warnings
and errors from drowning it.

``--log-format json`` writes one JSON object per line: ``ts``, ``level``, ``event`` (the
record's own name for what happened, or its message template), ``message`` and the fields a
record carries (``nick``, ``peer``, ``code``, ...; given as ``extra``). No format ever holds
a password, a token or a message body: nothing logs them.

A client that makes the same request fail thousands of times a second would write as many
lines (tracebacks, even) and fill the disk; after ``limit`` alike records in ``interval``
seconds, the rest are counted instead and reported in one line. No I/O and no clock of its
own: the summaries go to a callable and the time comes from one, so tests need no sleeping.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

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


LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# what every LogRecord has: the rest of its attributes are the fields a call gave (extra)
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "event",
}


def _utc(created: float) -> str:
    """A record's time as the wire writes times: ``2026-12-03T14:19:39.236Z``."""
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": _utc(record.created),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", None) or str(record.msg),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(level: str, log_format: LogFormat) -> list[RepeatFilter]:
    """The root logger's one handler on stderr, in ``log_format``, with its repeat filter."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    logging.basicConfig(level=level.upper(), handlers=[handler])
    logging.getLogger("websockets").setLevel(logging.WARNING)
    return [install_repeat_filter(h) for h in logging.getLogger().handlers]
