"""Rate limiting and the limits on failed logins, on a clock the test controls."""

from __future__ import annotations

import pytest

from chat_server.attempts import Attempt, LoginAttempts, LoginPolicy
from chat_server.auth import token_hash
from chat_server.ratelimit import Allowance, Cooldown, SharedBuckets, TokenBucket, take_all


def test_bucket_allows_burst_then_rate() -> None:
    bucket = TokenBucket(rate=20, burst=40, now=0.0)
    assert all(bucket.take(0.0) for _ in range(40))
    assert not bucket.take(0.0)
    assert bucket.take(0.05)  # one token back after 1/20 s
    assert not bucket.take(0.05)


def test_bucket_says_when_to_come_back() -> None:
    bucket = TokenBucket(rate=20, burst=2, now=0.0)
    assert bucket.retry_after() == 0.0
    assert bucket.take(0.0) and bucket.take(0.0)
    assert not bucket.take(0.0)
    assert abs(bucket.retry_after() - 0.05) < 1e-9  # one token back after 1/20 s
    assert not bucket.take(0.03)
    assert abs(bucket.retry_after() - 0.02) < 1e-9
    assert bucket.take(0.05)


def test_bucket_refill_is_capped_at_burst() -> None:
    bucket = TokenBucket(rate=20, burst=40, now=0.0)
    for _ in range(40):
        bucket.take(0.0)
    taken = sum(bucket.take(1000.0) for _ in range(100))
    assert taken == 40


def test_bucket_ignores_a_clock_going_backwards() -> None:
    bucket = TokenBucket(rate=1, burst=1, now=10.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)


def test_spending_past_empty_is_a_debt_the_refill_repays() -> None:
    bucket = TokenBucket(rate=1, burst=2, now=0.0)
    bucket.spend(0.0)
    bucket.spend(0.0)
    bucket.spend(0.0)  # nothing left, counted all the same
    assert bucket.tokens(0.0) == -1.0
    assert not bucket.take(1.0)  # the first second only repays the debt
    assert bucket.retry_after() == pytest.approx(1.0)
    assert bucket.take(2.0)
    assert not bucket.idle(2.0) and bucket.idle(4.0)


def test_take_all_spends_every_bucket_or_none() -> None:
    reads = TokenBucket(rate=10, burst=3, now=0.0)
    searches = TokenBucket(rate=1, burst=2, now=0.0)
    assert take_all((reads, searches), 0.0) is None
    assert take_all((reads, searches), 0.0) is None
    # the search bucket is empty: the read bucket keeps its token, and the wait is the longer
    assert take_all((reads, searches), 0.0) == pytest.approx(1.0)
    assert reads.tokens(0.0) == 1.0
    assert take_all((reads,), 0.0) is None  # a history spends the read bucket alone
    assert take_all((reads, searches), 0.5) == pytest.approx(0.5)
    assert take_all((reads, searches), 1.0) is None


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # (action, key, time) -> tokens user "a" has after them; burst 4, 2 per second
        ([("hold", "a", 0.0), ("take", "a", 0.0)], 3.0),
        # two connections of one user draw on one bucket
        ([("hold", "a", 0.0), ("hold", "a", 0.0), ("take", "a", 0.0), ("take", "a", 0.0)], 2.0),
        # another user's bucket is their own
        ([("hold", "b", 0.0), ("hold", "a", 0.0), ("take", "b", 0.0)], 4.0),
        # reconnecting at once finds the spent bucket, not a fresh burst
        ([("hold", "a", 0.0), ("take", "a", 0.0), ("release", "a", 0.1), ("hold", "a", 0.2)], 3.4),
        # ... and so does a connection that stays while the other goes
        ([("hold", "a", 0.0), ("hold", "a", 0.0), ("take", "a", 0.0), ("release", "a", 0.0)], 3.0),
        # back after the refill time (burst / rate = 2 s): a full bucket, as it would be
        ([("hold", "a", 0.0), ("take", "a", 0.0), ("release", "a", 0.0), ("hold", "a", 2.0)], 4.0),
    ],
)
def test_shared_buckets_are_one_per_user(
    steps: list[tuple[str, str, float]], expected: float
) -> None:
    buckets: SharedBuckets[str] = SharedBuckets(rate=2, burst=4)
    held = {}
    for action, key, now in steps:
        if action == "hold":
            held[key] = buckets.hold(key, now)
        elif action == "take":
            assert held[key].take(now)
        else:
            buckets.release(key, now)
    assert held["a"].tokens(steps[-1][2]) == pytest.approx(expected)


def test_shared_buckets_forget_users_gone_for_the_refill_time() -> None:
    buckets: SharedBuckets[int] = SharedBuckets(rate=20, burst=40)  # full again after 2 s
    for user in range(1000):
        buckets.hold(user, 0.0)
        buckets.hold(user, 0.0)
    assert len(buckets) == 1000
    for user in range(1000):
        buckets.release(user, 1.0)
    assert len(buckets) == 1000  # every user still has a connection
    for user in range(1000):
        buckets.release(user, 1.0 + user / 1000)
    assert len(buckets) == 1000  # gone, but their buckets are not full yet
    buckets.hold(5000, 3.5)  # any later use prunes those full by now
    assert len(buckets) == 1 + sum(1 for user in range(1000) if 3.5 - (1.0 + user / 1000) < 2)
    buckets.release(5000, 10.0)
    assert len(buckets) == 1  # its own, resting
    buckets.hold(6000, 12.0)
    assert len(buckets) == 1


def test_a_shared_bucket_needs_a_rate() -> None:
    with pytest.raises(ValueError):
        SharedBuckets(rate=0, burst=1)


def test_cooldown_per_key() -> None:
    typing = Cooldown(3.0)
    assert typing.allow("general", 0.0)
    assert not typing.allow("general", 2.9)
    assert typing.allow("random", 2.9)
    assert typing.allow("general", 3.0)


def test_bucket_says_when_it_is_as_good_as_new() -> None:
    bucket = TokenBucket(rate=1, burst=2, now=0.0)
    assert bucket.idle(0.0)
    assert bucket.take(0.0)
    assert not bucket.idle(0.5)
    assert bucket.idle(1.0)


@pytest.mark.parametrize(
    ("text", "count", "period", "shown"),
    [
        ("5/h", 5, 3600.0, "5/h"),
        ("10/15m", 10, 900.0, "10/15m"),
        (" 100 / 30s ", 100, 30.0, "100/30s"),
        ("3/86400", 3, 86400.0, "3/d"),
        ("2/1.5s", 2, 1.5, "2/1.5s"),
        ("1000000/s", 1_000_000, 1.0, "1000000/s"),
    ],
)
def test_allowance_is_written_count_per_period(
    text: str, count: int, period: float, shown: str
) -> None:
    allowance = Allowance.parse(text)
    assert (allowance.count, allowance.period) == (count, period)
    assert str(allowance) == shown
    assert Allowance.parse(shown) == allowance


@pytest.mark.parametrize("text", ["", "5", "5/", "/h", "0/h", "5/0s", "-1/h", "5/h/2", "5/y"])
def test_allowance_refuses_what_is_not_count_per_period(text: str) -> None:
    with pytest.raises(ValueError):
        Allowance.parse(text)


def test_failed_logins_are_refused_at_once_then_forgiven() -> None:
    """Was the growing per-nick delay (LoginThrottle); now refusals with a time to wait:
    3 failures per address (one forgiven every 100 s), and a nick closed after 2 failures
    (one forgiven every 100 s) to addresses that failed within 200 s."""
    policy = LoginPolicy(per_address=Allowance(3, 300.0), per_nick=Allowance(2, 200.0))
    attempts = LoginAttempts(policy)

    def fail(nick: str, address: str, now: float) -> None:
        attempt = attempts.admit(nick, address, now)
        assert isinstance(attempt, Attempt), f"{address} refused for {nick} at {now}"
        attempt.failed(now)
        attempt.close()

    fail("alice", "10.0.0.1", 0.0)
    fail("alice", "10.0.0.1", 0.0)
    assert attempts.admit("alice", "10.0.0.1", 0.0) == pytest.approx(100.0)  # nick closed
    fail("bob", "10.0.0.1", 0.0)
    # the guesser's address is spent: refused for 100 s, on any nick
    assert attempts.admit("bob", "10.0.0.1", 0.0) == pytest.approx(100.0)
    assert attempts.admit("dave", "10.0.0.1", 0.0) == pytest.approx(100.0)
    # alice, from an address without failures, may still try (the nick is closed to others)
    mine = attempts.admit("alice", "10.0.0.2", 1.0)
    assert isinstance(mine, Attempt) and mine.clean
    mine.close()  # a success: gives its charge back, forgives nothing
    assert attempts.clean("10.0.0.2", 1.0)
    # an address that failed elsewhere recently may not try the closed nick
    fail("bob", "10.0.0.3", 1.0)
    assert attempts.admit("alice", "10.0.0.3", 1.0) == pytest.approx(99.0)  # the nick reopens
    # a failed login heard from another node counts like one made here
    attempts.failed("carol", "10.0.0.4", 1.0)
    attempts.failed("carol", None, 1.0)  # an older node tells no address
    assert attempts.admit("carol", "10.0.0.4", 1.0) == pytest.approx(100.0)
    # forgiven with time: one failure per 100 s (a second more: no float on a boundary)
    assert isinstance(attempts.admit("bob", "10.0.0.1", 101.0), Attempt)
    assert isinstance(attempts.admit("alice", "10.0.0.3", 101.0), Attempt)


def test_attempts_in_flight_count_until_settled() -> None:
    """Concurrent guesses cannot slip past the limit together; a closed attempt gives its
    place back, and a success never clears failures (it would buy more guesses)."""
    policy = LoginPolicy(Allowance(3, 300.0), Allowance(100, 100.0), concurrent=10)
    attempts = LoginAttempts(policy)
    flying = [attempts.admit("alice", "10.0.0.1", 0.0) for _ in range(3)]
    assert all(isinstance(a, Attempt) for a in flying)
    assert attempts.admit("alice", "10.0.0.1", 0.0) == pytest.approx(100.0)
    first = flying[0]
    assert isinstance(first, Attempt)
    first.failed(0.0)
    first.close()
    first.close()  # idempotent
    for attempt in flying[1:]:
        assert isinstance(attempt, Attempt)
        attempt.close()
    assert all(isinstance(attempts.admit("x", "10.0.0.1", 0.0), Attempt) for _ in range(2))
    assert attempts.admit("x", "10.0.0.1", 0.0) == pytest.approx(100.0)


def test_token_hash_is_sha256_not_the_token() -> None:
    digest = token_hash("secret")
    assert len(digest) == 32 and b"secret" not in digest
    assert digest == token_hash("secret") != token_hash("secret2")
