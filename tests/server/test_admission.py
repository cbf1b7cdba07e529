"""The connection caps' bookkeeping (chat_server/admission.py), without sockets.

Each scenario is a list of steps on one Admission: ``("accept", conn, address)`` expects a
verdict (admitted, evicted), ``("handshake", conn, address)`` a refusal or None,
``("login", conn, user)`` True/False, ``("spoke", conn)`` and ``("close", conn)`` nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from chat_server.admission import (
    HTTP_RESERVE,
    RESERVED_FDS,
    RETRY_AFTER_MAX,
    Admission,
    Caps,
    Pace,
    Refusal,
    fit_total,
)
from chat_server.config import Settings

CAPS = Caps(total=4, per_address=3, pending_per_address=2, per_user=2, logging_in=3)
A, B = "198.51.100.1", "198.51.100.2"
OK = (True, None)
NO = (False, None)

Step = tuple[Any, ...]


def _login(conn: int, address: str, user: int) -> list[Step]:
    return [
        ("accept", conn, address, OK),
        ("handshake", conn, address, None),
        ("login", conn, user, True),
    ]


SCENARIOS: dict[str, list[Step]] = {
    "pending per address, at accept": [
        ("accept", 1, A, OK),
        ("accept", 2, A, OK),
        ("accept", 3, A, NO),  # a third silent socket from A
        ("accept", 4, B, OK),  # another address is not affected
        ("close", 1),
        ("accept", 5, A, OK),  # room again
    ],
    "a login frees its pending place": [
        ("accept", 1, A, OK),
        ("handshake", 1, A, None),
        ("login", 1, 7, True),
        ("accept", 2, A, OK),
        ("accept", 3, A, OK),
        ("accept", 4, A, NO),
    ],
    "per address, at the handshake": [
        *[step for c in (1, 2, 3) for step in _login(c, A, user=10 + c)],
        ("accept", 4, A, OK),
        ("handshake", 4, A, Refusal.ADDRESS),
        ("accept", 5, B, OK),
        ("handshake", 5, B, None),
    ],
    "in total, at the handshake": [
        *[step for c in (1, 2, 3) for step in _login(c, A, user=10 + c)],
        *_login(4, B, user=20),
        ("accept", 5, B, OK),
        ("handshake", 5, B, Refusal.FULL),
        ("close", 1),
        ("accept", 6, B, OK),  # 5 is still open, waiting for its 503 to be sent
        ("close", 5),
        ("handshake", 6, B, None),
    ],
    "per user, after hello": [
        *_login(1, A, user=7),
        *_login(2, B, user=7),
        ("accept", 3, B, OK),
        ("handshake", 3, B, None),
        ("login", 3, 7, False),
        ("login", 3, 8, True),  # someone else
        ("close", 1),
        ("accept", 4, A, OK),
        ("handshake", 4, A, None),
        ("login", 4, 7, True),
    ],
    "behind a proxy: counted by the forwarded address from the handshake": [
        ("accept", 1, None, OK),
        ("accept", 2, None, OK),
        ("accept", 3, None, OK),  # the proxy itself has no pending cap
        ("handshake", 1, A, None),
        ("handshake", 2, A, None),
        ("handshake", 3, A, Refusal.PENDING),
        ("accept", 4, None, OK),
        ("handshake", 4, B, None),
        ("login", 1, 7, True),
        ("accept", 5, None, OK),
        ("handshake", 5, A, None),
    ],
    "busy: past the logins under way, from any address, until one ends": [
        ("accept", 1, A, OK),
        ("handshake", 1, A, None),
        ("accept", 2, A, OK),
        ("handshake", 2, A, None),
        ("accept", 3, B, OK),
        ("handshake", 3, B, None),  # three logging in: the cap
        ("accept", 4, B, OK),
        ("handshake", 4, B, Refusal.BUSY),
        ("login", 1, 7, True),  # a login done frees a place
        ("handshake", 4, B, None),
        ("close", 4),
        ("close", 2),  # and so does a login given up
        ("accept", 5, "203.0.113.9", OK),
        ("handshake", 5, "203.0.113.9", None),
        ("accept", 6, "203.0.113.9", OK),
        ("handshake", 6, "203.0.113.9", None),
        ("close", 1),  # a logged-in connection closing frees no login place
        ("accept", 7, A, OK),
        ("handshake", 7, A, Refusal.BUSY),
    ],
    "the socket ceiling displaces the oldest silent socket": [
        # total 4 + the HTTP reserve: fill the ceiling from distinct addresses
        *[("accept", c, f"203.0.113.{c}", OK) for c in range(1, CAPS.sockets + 1)],
        ("spoke", 1),  # socket 1 sent a request: no longer silent
        ("accept", 100, B, (True, 2)),  # socket 2 is the oldest silent one
        ("accept", 101, B, (True, 3)),
        ("handshake", 2, "203.0.113.2", Refusal.FULL),  # displaced: counted nowhere
    ],
    "the socket ceiling with no silent socket refuses": [
        *[("accept", c, f"203.0.113.{c}", OK) for c in range(1, CAPS.sockets + 1)],
        *[("spoke", c) for c in range(1, CAPS.sockets + 1)],
        ("accept", 100, B, NO),
        ("close", 1),
        ("accept", 101, B, OK),
    ],
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str) -> None:
    admission: Admission[int] = Admission(CAPS)
    for number, step in enumerate(SCENARIOS[name]):
        op, conn, *rest = step
        where = f"step {number}: {step}"
        if op == "accept":
            address, expected = rest
            verdict = admission.accept(conn, address)
            assert (verdict.admitted, verdict.evicted) == expected, where
        elif op == "handshake":
            address, expected = rest
            assert admission.handshake(conn, address) == expected, where
        elif op == "login":
            user, expected = rest
            assert admission.logged_in(conn, user) == expected, where
        elif op == "spoke":
            admission.spoke(conn)
        elif op == "close":
            admission.release(conn)
        else:
            raise AssertionError(where)


def test_closing_everything_leaves_no_count() -> None:
    admission: Admission[int] = Admission(CAPS)
    for conn, address in enumerate([A, A, B, B]):
        admission.accept(conn, address)
        admission.handshake(conn, address)
        admission.logged_in(conn, conn % 2)
    admission.accept(9, A)
    for conn in (0, 1, 2, 3, 9, 9):  # closing twice is harmless
        admission.release(conn)
    assert admission.sockets == admission.websockets == admission.logging_in == 0
    assert admission.pending(A) == admission.from_address(A) == admission.of_user(0) == 0
    assert not admission._pending and not admission._by_address and not admission._by_user


@pytest.mark.parametrize(
    ("wanted", "fd_limit", "pool", "total"),
    [
        (10_000, None, 0, 10_000),  # unlimited
        (10_000, 1_048_576, 0, 10_000),
        (10_000, 1024, 0, 1024 - RESERVED_FDS - HTTP_RESERVE),
        (10_000, 1024, 10, 1024 - RESERVED_FDS - HTTP_RESERVE - 10),  # a PostgreSQL pool
        (100, 1024, 0, 100),
        (10_000, RESERVED_FDS + HTTP_RESERVE + 1, 0, 1),
        (10_000, 40, 0, 1),  # too low: the server still starts, and says so
    ],
)
def test_the_total_fits_under_the_open_file_limit(
    wanted: int, fd_limit: int | None, pool: int, total: int
) -> None:
    assert fit_total(wanted, fd_limit, pool) == total


def test_caps_of_settings() -> None:
    settings = Settings(
        max_connections=500,
        max_connections_per_address=50,
        max_pending_per_address=5,
        max_connections_per_user=3,
        max_logging_in=7,
        database_url="postgresql://chat@db/chat",
        db_pool_size=10,
    )
    caps = Caps.of(settings, 512)
    assert caps == Caps(
        total=512 - RESERVED_FDS - HTTP_RESERVE - 10,
        per_address=50,
        pending_per_address=5,
        per_user=3,
        logging_in=7,
    )
    assert caps.sockets == caps.total + HTTP_RESERVE


def test_a_busy_servers_crowd_is_told_to_come_back_at_the_pace_it_logs_in() -> None:
    pace = Pace(floor=100.0)
    # 1,000 refused in the same instant at the assumed 100 logins a second: spread evenly
    # over ten seconds, never told less than one
    waits = [pace.refused(50.0) for _ in range(1000)]
    assert waits[0] == 1 and waits[99] == 1 and waits[100] == 2
    assert waits[-1] == 10
    assert waits == sorted(waits)
    # a busy window (refusing) of 400 logins in a second: the crowd now moves at 400 a second
    assert pace.refused(51.0) == 10
    for n in range(400):
        pace.logged_in(51.0 + n / 400)
    assert pace.refused(52.0) == 9  # the queue already runs to 60.0; one more slot past it
    assert pace.rate == pytest.approx(400.0)
    waits = [pace.refused(52.0) for _ in range(400)]
    assert waits[-1] == 10  # 400 more take one more second at 400 a second, not four


def test_a_quiet_window_says_nothing_of_the_login_rate() -> None:
    pace = Pace(floor=100.0)
    assert pace.refused(0.0) == 1  # busy in the first window
    for n in range(30):
        pace.logged_in(1.0 + n / 30)  # a window with logins but no refusal: not busy
    pace.logged_in(2.5)
    assert pace.rate == 100.0  # the floor, not the 30 a second of a quiet window
    for _ in range(1000):
        pace.refused(2.6)  # busy again; slots ran to 12.6 now
    for n in range(600):
        pace.logged_in(2.6 + n / 1000)
    pace.refused(3.6)
    assert pace.rate == pytest.approx(600 / 1.1, rel=0.01)
    assert pace.refused(1000.0) == 1  # long after: the queue is empty again


def test_a_wait_is_never_told_longer_than_the_cap() -> None:
    pace = Pace(floor=1.0)
    waits = [pace.refused(0.0) for _ in range(500)]
    assert waits[0] == 1 and max(waits) == RETRY_AFTER_MAX


def test_a_stopping_server_spreads_its_connections_over_the_time_their_logins_take() -> None:
    pace = Pace(floor=500.0)
    assert pace.window(18_000) == pytest.approx(36.0)  # 18,000 logins at 500 a second
    assert pace.window(0) == 0.0
    for n in range(1_500):  # 1,500 logins in a second, nobody refused: no rate measured
        pace.logged_in(10.0 + n / 1_500)
    pace.logged_in(11.0)
    assert pace.window(18_000) == pytest.approx(36.0)
    pace.rate = 2_000.0  # measured faster while it was busy: the crowd comes back sooner
    assert pace.window(18_000) == pytest.approx(9.0)
