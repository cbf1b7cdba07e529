"""Token buckets: how many actions a connection, a user or an address may take, and how fast.

Pure: the caller passes the clock reading, so tests need no sleeping.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class TokenBucket:
    """A bucket of ``burst`` tokens refilled at ``rate`` tokens per second."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now

    def tokens(self, now: float) -> float:
        """The tokens in the bucket at ``now`` (refilled since the last reading)."""
        elapsed = max(0.0, now - self._stamp)
        self._stamp = max(self._stamp, now)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        return self._tokens

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if the bucket holds them; say whether it did."""
        if self.tokens(now) >= cost:
            self._tokens -= cost
            return True
        return False

    def spend(self, now: float, cost: float = 1.0) -> None:
        """Spend ``cost`` tokens whether or not the bucket holds them: below empty, the debt
        is repaid by the refill before :meth:`take` succeeds again (an action already taken
        elsewhere, which this bucket must count but cannot refuse)."""
        self._tokens = self.tokens(now) - cost

    def retry_after(self, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are there (as of the last reading)."""
        missing = cost - self._tokens
        if missing <= 0:
            return 0.0
        return missing / self.rate if self.rate > 0 else float("inf")

    def idle(self, now: float) -> bool:
        """True once the bucket has refilled to its burst: as good as a new one (forgettable)."""
        elapsed = max(0.0, now - self._stamp)
        return self._tokens + elapsed * self.rate >= self.burst


_ALLOWANCE = re.compile(r"(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([smhd]?)")
_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclasses.dataclass(frozen=True, slots=True)
class Allowance:
    """``count`` actions per ``period`` seconds, all at once if need be: a bucket of ``count``
    tokens refilled at ``count / period`` per second. Written ``N/PERIOD``: ``5/h``, ``10/15m``."""

    count: int
    period: float

    def __post_init__(self) -> None:
        if self.count < 1 or not self.period > 0:
            raise ValueError("an allowance is at least 1 per a positive period")

    @property
    def rate(self) -> float:
        """Tokens back per second."""
        return self.count / self.period

    def bucket(self, now: float) -> TokenBucket:
        return TokenBucket(self.rate, self.count, now)

    @classmethod
    def parse(cls, text: str) -> Allowance:
        """``5/h``, ``10/15m``, ``100/30s``, ``3/86400``; ValueError for anything else."""
        match = _ALLOWANCE.fullmatch(text.strip().lower())
        if match is not None and (match[2] is not None or match[3]):
            count, number, unit = match.groups()
            with contextlib.suppress(ValueError):
                return cls(int(count), float(number or 1) * _SECONDS[unit])
        raise ValueError(f"{text!r} is not N/PERIOD with N at least 1 (e.g. 5/h, 10/15m)")

    def __str__(self) -> str:
        for unit in ("d", "h", "m", "s"):
            size = _SECONDS[unit]
            if self.period % size == 0:
                number = int(self.period // size)
                return f"{self.count}/{'' if number == 1 else number}{unit}"
        return f"{self.count}/{self.period:g}s"


def take_all(buckets: tuple[TokenBucket, ...], now: float) -> float | None:
    """Spend one token of each bucket, or none of them when one is empty: None when taken,
    otherwise the seconds until every bucket holds a token again."""
    if all(bucket.tokens(now) >= 1.0 for bucket in buckets):
        for bucket in buckets:
            bucket.take(now)
        return None
    return max(bucket.retry_after() for bucket in buckets)


class _Held:
    __slots__ = ("bucket", "holders")

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket
        self.holders = 0


class SharedBuckets(Generic[K]):
    """One bucket per key (a user), shared by every holder of the key (its connections).

    A key's bucket lives while the key has a holder, and for as long after the last one
    lets go as the bucket takes to fill up again (``burst / rate`` seconds): a full bucket
    is what a new one would be, so forgetting it then costs nothing, while forgetting it
    sooner would hand a user who reconnects a fresh burst. The table holds the keys with a
    holder plus those released in the last ``burst / rate`` seconds, never more.
    """

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0:
            raise ValueError("a shared bucket needs a positive rate")
        self.rate = rate
        self.burst = burst
        self.refill_time = burst / rate
        self._held: dict[K, _Held] = {}
        self._resting: dict[K, tuple[TokenBucket, float]] = {}  # in the order released

    def __len__(self) -> int:
        return len(self._held) + len(self._resting)

    def hold(self, key: K, now: float) -> TokenBucket:
        """The key's bucket, held until :meth:`release`."""
        self._prune(now)
        held = self._held.get(key)
        if held is None:
            rested = self._resting.pop(key, None)
            bucket = rested[0] if rested is not None else TokenBucket(self.rate, self.burst, now)
            held = self._held[key] = _Held(bucket)
        held.holders += 1
        return held.bucket

    def release(self, key: K, now: float) -> None:
        """One holder of the key lets go (a connection closed)."""
        held = self._held.get(key)
        if held is not None:
            held.holders -= 1
            if held.holders <= 0:
                del self._held[key]
                self._resting[key] = (held.bucket, now)
        self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget the buckets released long enough ago to be full again (oldest first)."""
        resting = self._resting
        while resting:
            key = next(iter(resting))
            if now - resting[key][1] < self.refill_time:
                return
            del resting[key]


class Cooldown:
    """At most one action per ``interval`` seconds per key (typing notifications)."""

    __slots__ = ("_last", "interval")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}

    def allow(self, key: str, now: float) -> bool:
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return False
        self._last[key] = now
        return True

    def forget(self, key: str) -> None:
        self._last.pop(key, None)
