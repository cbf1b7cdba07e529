"""Who may try a password now (chat_server/attempts.py): the rule as a table, on a fake clock.

The policy of every row: an address may fail 4 times, a nick 3 times; each forgives one
failure per 100 s; an address is dirty for 300 s after its last failure (the nick period).
"""

from __future__ import annotations

import pytest

from chat_server.attempts import (
    IN_FLIGHT_WAIT,
    NEVER,
    Attempt,
    Failures,
    LoginAttempts,
    LoginPolicy,
    Signups,
)
from chat_server.ratelimit import Allowance

# several attempts in flight from one address allowed here: the table is about failures
POLICY = LoginPolicy(per_address=Allowance(4, 400.0), per_nick=Allowance(3, 300.0), concurrent=10)


def failures(level: float = 0.0, last: float = NEVER, pending: int = 0) -> Failures:
    """``level`` failures not yet forgiven at time ``last`` (or 0), the latest at ``last``."""
    stamp = 0.0 if last == NEVER else last
    return Failures(level=level, stamp=stamp, last=last, pending=pending)


CLEAN = failures()

# (what the row shows, the nick's failures, the address's failures, now, seconds to wait)
# fmt: off
RULES: list[tuple[str, Failures, Failures, float, float | None]] = [
    ("fresh nick, fresh address", CLEAN, CLEAN, 0.0, None),
    ("the address's last allowed failure", CLEAN, failures(3, 0.0), 0.0, None),
    ("the address is spent", CLEAN, failures(4, 0.0), 0.0, 100.0),
    ("half a failure forgiven", CLEAN, failures(4, 0.0), 50.0, 50.0),
    ("one failure forgiven", CLEAN, failures(4, 0.0), 100.0, None),
    ("attempts in flight count", CLEAN, failures(2, 0.0, pending=2), 0.0, 100.0),
    ("the address limit holds on a fresh nick", CLEAN, failures(9, 0.0), 0.0, 600.0),
    ("a closed nick, a clean address: the owner", failures(3, 0.0), CLEAN, 0.0, None),
    ("a closed nick, a long-closed one", failures(50, 0.0), CLEAN, 0.0, None),
    ("an open nick, a dirty address", failures(2, 0.0), failures(1, 0.0), 0.0, None),
    ("a closed nick, a dirty address: till it reopens",
        failures(3, 0.0), failures(1, 0.0), 10.0, 90.0),
    ("a long-closed nick: till the address is clean",
        failures(10, 0.0), failures(1, 0.0), 10.0, 290.0),
    ("dirty for the nick period after its failure",
        failures(10, 0.0), failures(1, -299.0), 0.0, 1.0),
    ("clean once the nick period has passed",
        failures(10, 0.0), failures(1, -300.0), 0.0, None),
    ("guesses in flight close the nick",
        failures(0, 0.0, pending=3), failures(1, 0.0), 0.0, 100.0),
    ("its own attempt in flight: ask again soon",
        failures(10, 0.0), failures(pending=1), 0.0, 1.0),
    ("in flight and failed recently",
        failures(10, 0.0), failures(1, 0.0, pending=1), 0.0, 300.0),
]
# fmt: on


@pytest.mark.parametrize(
    ("case", "nick", "address", "now", "wait"), RULES, ids=[r[0] for r in RULES]
)
def test_who_may_try_a_password(
    case: str, nick: Failures, address: Failures, now: float, wait: float | None
) -> None:
    verdict = POLICY.verdict(nick, address, now)
    if wait is None:
        assert verdict is None, case
    else:
        assert verdict == pytest.approx(wait), case


def test_a_clean_address_is_never_refused_for_someone_elses_guesses() -> None:
    """However many failures the nick has, from however many other addresses."""
    attempts = LoginAttempts(POLICY)
    for n in range(200):
        attempt = attempts.admit("alice", f"10.0.{n // 250}.{n % 250}", float(n))
        if isinstance(attempt, Attempt):
            attempt.failed(float(n))
            attempt.close()
    owner = attempts.admit("alice", "192.0.2.1", 200.0)
    assert isinstance(owner, Attempt) and owner.clean


def test_records_are_bounded_and_forgotten() -> None:
    attempts = LoginAttempts(POLICY, max_keys=10)
    for n in range(100):  # a spray from 100 addresses over 100 nicks
        attempt = attempts.admit(f"nick{n}", f"10.0.0.{n}", 0.0)
        assert isinstance(attempt, Attempt)
        attempt.failed(0.0)
        attempt.close()
    assert len(attempts) <= 2 * 10
    # the most recent are kept: the last address is still spent on its fourth failure
    for _ in range(3):
        attempt = attempts.admit("x", "10.0.0.99", 0.0)
        assert isinstance(attempt, Attempt)
        attempt.failed(0.0)
        attempt.close()
    assert attempts.admit("y", "10.0.0.99", 0.0) == pytest.approx(100.0)
    # a day later everything is forgiven, and forgotten as new keys come
    assert isinstance(attempts.admit("y", "10.0.0.99", 86400.0), Attempt)
    for n in range(100):
        attempt = attempts.admit(f"later{n}", f"10.1.0.{n}", 86400.0)
        assert isinstance(attempt, Attempt)
        attempt.close()
    assert len(attempts) <= 2 * 10


def test_signups_per_address() -> None:
    signups = Signups(Allowance(2, 3600.0))
    assert signups.take("10.0.0.1", 0.0) is None
    assert signups.take("10.0.0.1", 0.0) is None
    assert signups.take("10.0.0.1", 0.0) == pytest.approx(1800.0)
    assert signups.take("10.0.0.2", 0.0) is None  # another address: its own allowance
    assert signups.take("10.0.0.1", 1800.0) is None  # one back after half an hour
    assert signups.take("10.0.0.1", 1800.0) == pytest.approx(1800.0)


def test_signups_on_other_nodes_spend_the_allowance_without_refusing() -> None:
    signups = Signups(Allowance(2, 3600.0))
    signups.spend("10.0.0.1", 0.0)  # one account made on another node
    assert signups.take("10.0.0.1", 0.0) is None
    assert signups.take("10.0.0.1", 0.0) == pytest.approx(1800.0)
    # two nodes let the last one through at once: the other one's is counted past empty,
    # and the address waits until the chat as a whole is back within its allowance
    signups.spend("10.0.0.1", 0.0)
    assert signups.take("10.0.0.1", 0.0) == pytest.approx(3600.0)
    assert signups.take("10.0.0.1", 1800.0) == pytest.approx(1800.0)
    assert signups.take("10.0.0.1", 3600.0) is None
    assert signups.take("10.0.0.2", 0.0) is None  # another address: untouched


def test_signups_heard_from_other_nodes_are_bounded_too() -> None:
    signups = Signups(Allowance(1, 3600.0), max_keys=10)
    for n in range(100):
        signups.spend(f"10.0.0.{n}", float(n))
    assert len(signups) <= 10
    assert signups.take("10.0.0.99", 99.0) is not None  # the newest are remembered


def test_signup_records_are_bounded() -> None:
    signups = Signups(Allowance(1, 3600.0), max_keys=10)
    for n in range(100):
        assert signups.take(f"10.0.0.{n}", float(n)) is None
    assert len(signups) <= 10
    assert signups.take("10.0.0.99", 99.0) is not None  # the newest are remembered


def test_one_address_has_one_attempt_in_flight_by_default() -> None:
    policy = LoginPolicy(per_address=Allowance(4, 400.0), per_nick=Allowance(3, 300.0))
    assert policy.verdict(CLEAN, failures(pending=1), 0.0) == IN_FLIGHT_WAIT
    assert policy.verdict(CLEAN, CLEAN, 0.0) is None
    attempts = LoginAttempts(policy)
    first = attempts.admit("alice", "10.0.0.1", 0.0)
    assert isinstance(first, Attempt)
    assert attempts.admit("bob", "10.0.0.1", 0.0) == IN_FLIGHT_WAIT  # another nick: still one
    assert isinstance(attempts.admit("bob", "10.0.0.2", 0.0), Attempt)  # another address
    first.close()  # a success: nothing failed, and the address may try again at once
    assert isinstance(attempts.admit("bob", "10.0.0.1", 0.0), Attempt)
