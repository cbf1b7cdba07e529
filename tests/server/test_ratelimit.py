"""Rate limiting and login throttling, on a clock the test controls."""

from __future__ import annotations

from chat_server.auth import LoginThrottle, token_hash
from chat_server.ratelimit import Cooldown, TokenBucket


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


def test_cooldown_per_key() -> None:
    typing = Cooldown(3.0)
    assert typing.allow("general", 0.0)
    assert not typing.allow("general", 2.9)
    assert typing.allow("random", 2.9)
    assert typing.allow("general", 3.0)


def test_login_throttle_grows_and_resets() -> None:
    throttle = LoginThrottle(base=0.5, cap=4.0)
    assert throttle.delay("alice", 0.0) == 0.0
    throttle.failed("alice", 0.0)
    assert throttle.delay("alice", 0.0) == 0.5
    throttle.failed("alice", 1.0)
    assert throttle.delay("alice", 1.0) == 1.0
    for _ in range(10):
        throttle.failed("alice", 2.0)
    assert throttle.delay("alice", 2.0) == 4.0  # capped
    assert throttle.delay("bob", 2.0) == 0.0
    throttle.succeeded("alice")
    assert throttle.delay("alice", 2.0) == 0.0


def test_token_hash_is_sha256_not_the_token() -> None:
    digest = token_hash("secret")
    assert len(digest) == 32 and b"secret" not in digest
    assert digest == token_hash("secret") != token_hash("secret2")
