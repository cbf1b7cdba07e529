"""The repeat filter without sleeping: records fed by hand, a clock the test moves."""

from __future__ import annotations

import io
import logging

from chat_server.logs import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    msg: str = "storage error for %s: %s",
    *args: object,
    name: str = "chat_server",
    level: int = logging.ERROR,
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args or ("mallory", "boom"), None)


def make(limit: int = 3) -> tuple[RepeatFilter, list[logging.LogRecord], Clock]:
    clock = Clock()
    emitted: list[logging.LogRecord] = []
    return RepeatFilter(emitted.append, limit=limit, interval=60, clock=clock), emitted, clock


def test_alike_records_pass_up_to_the_limit_then_one_summary() -> None:
    repeat, emitted, clock = make(limit=3)
    # the same template with other arguments is the same kind of record
    passed = [repeat.filter(record("storage error for %s: %s", f"u{n}", "boom")) for n in range(10)]
    assert passed == [True] * 3 + [False] * 7
    clock.now += 59.9
    assert not repeat.filter(record())
    assert emitted == []
    clock.now += 0.1  # the interval is over: the next record brings the count along
    assert repeat.filter(record())
    assert [s.getMessage() for s in emitted] == [
        "storage error for %s: %s ... repeated 8 more times in 60 s"
    ]
    assert (emitted[0].name, emitted[0].levelno) == ("chat_server", logging.ERROR)
    assert repeat.filter(emitted[0])  # a summary passes the filter it came from


def test_kinds_are_counted_apart() -> None:
    repeat, _, _ = make(limit=1)
    assert repeat.filter(record("a %s"))
    assert repeat.filter(record("b %s"))
    assert repeat.filter(record("a %s", level=logging.WARNING))
    assert repeat.filter(record("a %s", name="websockets.server"))
    assert not repeat.filter(record("a %s"))


def test_info_lines_always_pass() -> None:
    repeat, emitted, clock = make(limit=1)
    info = [repeat.filter(record("connect %s from %s", level=logging.INFO)) for _ in range(50)]
    assert all(info)
    clock.now += 120
    repeat.filter(record())
    assert emitted == []


def test_nothing_dropped_means_no_summary() -> None:
    repeat, emitted, clock = make(limit=3)
    for _ in range(3):
        assert repeat.filter(record())
    clock.now += 60
    assert repeat.filter(record())
    repeat.flush()
    assert emitted == []


def test_flush_reports_counts_before_their_interval_is_over() -> None:
    repeat, emitted, _ = make(limit=2)
    for _ in range(5):
        repeat.filter(record())
    repeat.filter(record("request from %s failed", "bob"))
    repeat.flush()
    assert [s.getMessage() for s in emitted] == [
        "storage error for %s: %s ... repeated 3 more times in 60 s"
    ]
    repeat.flush()
    assert len(emitted) == 1


def test_on_a_handler_the_summary_is_the_line_before_the_next_record() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    clock = Clock()
    handler.addFilter(RepeatFilter(handler.handle, limit=2, interval=60, clock=clock))
    log = logging.getLogger("tests.repeat")
    log.propagate = False
    log.addHandler(handler)
    try:
        for n in range(1000):
            log.error("storage error for %s: %s", f"u{n}", "boom")
        clock.now += 60
        log.error("storage error for %s: %s", "late", "boom")
    finally:
        log.removeHandler(handler)
    assert out.getvalue().splitlines() == [
        "ERROR storage error for u0: boom",
        "ERROR storage error for u1: boom",
        "ERROR storage error for %s: %s ... repeated 998 more times in 60 s",
        "ERROR storage error for late: boom",
    ]
