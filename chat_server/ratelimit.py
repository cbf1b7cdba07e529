"""Token buckets: how many actions a connection (or an address) may take, and how fast.

Pure: the caller passes the clock reading, so tests need no sleeping.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re


class TokenBucket:
    """A bucket of ``burst`` tokens refilled at ``rate`` tokens per second."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if the bucket holds them; say whether it did."""
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False

    def retry_after(self, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are there (as of the last :meth:`take`)."""
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
