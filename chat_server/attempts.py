"""Who may try a password now: failed logins per address and per nick, signups per address.

Pure: the caller passes the clock reading. Over a limit the answer is a number of seconds
to wait, given at once: nothing here queues, and a refused attempt costs no password hash.

The rule (:meth:`LoginPolicy.verdict`):

- An **address** has at most ``concurrent`` attempts in flight (one by default): argon2
  takes a core for a fifth of a second, and one client must not take every core at once.
  Another is told to ask again in a second.
- An **address** may fail ``per_address.count`` times in a row, then once more every
  ``per_address.period / count`` seconds. This stops one client spraying guesses across
  many nicks.
- A **nick** that failed ``per_nick.count`` times (from anywhere; one failure forgiven every
  ``per_nick.period / count`` seconds) is closed to every address that has failed a login
  itself within ``per_nick.period``, or has an attempt in flight. An address with no recent
  failure may always try it: guesses from elsewhere never lock the nick's owner out, and a
  guesser who moves to a fresh address gets one try there before it is dirty too.

Attempts in flight count as failures until they are settled, so concurrent guesses cannot
slip past a limit together; a success gives its charge back and clears nothing else (a
login to one's own account must not buy more guesses at someone else's).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import TypeVar

from chat_server.ratelimit import Allowance, TokenBucket

NEVER = float("-inf")
IN_FLIGHT_WAIT = 1.0  # refused only because this address has attempts in flight

K = TypeVar("K")
V = TypeVar("V")


@dataclasses.dataclass(slots=True)
class Failures:
    """The recent failed logins of one address or one nick."""

    level: float = 0.0  # failures not yet forgiven, as of ``stamp``
    stamp: float = 0.0
    last: float = NEVER  # when the latest failure happened
    pending: int = 0  # attempts let through whose outcome is not known yet

    def level_at(self, now: float, rate: float) -> float:
        """Failures not yet forgiven at ``now``, forgiving ``rate`` per second."""
        return max(0.0, self.level - max(0.0, now - self.stamp) * rate)

    def add(self, now: float, rate: float) -> None:
        self.level = self.level_at(now, rate) + 1.0
        self.stamp = now
        self.last = max(self.last, now)


@dataclasses.dataclass(frozen=True, slots=True)
class LoginPolicy:
    per_address: Allowance
    per_nick: Allowance
    concurrent: int = 1  # attempts in flight per address

    def verdict(self, nick: Failures, address: Failures, now: float) -> float | None:
        """None when a password attempt for ``nick`` from ``address`` may go ahead; else
        the seconds to wait before asking again."""
        if address.pending >= self.concurrent:
            return IN_FLIGHT_WAIT
        limit, rate = self.per_address.count, self.per_address.rate
        held = address.level_at(now, rate) + address.pending
        if held + 1 > limit:
            return (held + 1 - limit) / rate
        limit, rate = self.per_nick.count, self.per_nick.rate
        guessed = nick.level_at(now, rate) + nick.pending
        if guessed + 1 <= limit or self.clean(address, now):
            return None
        reopens = (guessed + 1 - limit) / rate
        if address.pending and now - address.last >= self.per_nick.period:
            return min(reopens, IN_FLIGHT_WAIT)  # clean again once its attempt succeeds
        return min(reopens, address.last + self.per_nick.period - now)

    def clean(self, address: Failures, now: float) -> bool:
        """No failed login from this address within the nick period, and none in flight."""
        return address.pending == 0 and now - address.last >= self.per_nick.period

    def forgotten(self, failures: Failures, now: float) -> bool:
        """True when a record says nothing any more (every failure forgiven and old)."""
        if failures.pending or now - failures.last < self.per_nick.period:
            return False
        slowest = min(self.per_address.rate, self.per_nick.rate)
        return failures.level_at(now, slowest) == 0.0


class Attempt:
    """One password attempt let through: settle it with :meth:`failed`, then :meth:`close`."""

    __slots__ = ("_address", "_closed", "_nick", "_policy", "clean")

    def __init__(self, policy: LoginPolicy, nick: Failures, address: Failures, clean: bool) -> None:
        self._policy = policy
        self._nick = nick
        self._address = address
        self._closed = False
        self.clean = clean  # the address had no recent failure (its logins go first)
        nick.pending += 1
        address.pending += 1

    def failed(self, now: float) -> None:
        """The password was wrong (or the nick unknown)."""
        self._nick.add(now, self._policy.per_nick.rate)
        self._address.add(now, self._policy.per_address.rate)

    def close(self) -> None:
        """The attempt is over, whatever its outcome (idempotent)."""
        if not self._closed:
            self._closed = True
            self._nick.pending -= 1
            self._address.pending -= 1


class LoginAttempts:
    """The failure records of addresses and of nicks (by nick key), and the policy over them.

    Records are forgotten once they say nothing; past ``max_keys`` records of either kind the
    least recently used are dropped, so memory stays bounded whatever an attacker's address
    space.
    """

    def __init__(self, policy: LoginPolicy, max_keys: int = 100_000) -> None:
        self.policy = policy
        self.max_keys = max_keys
        self._nicks: dict[str, Failures] = {}
        self._addresses: dict[str, Failures] = {}

    def admit(self, nick: str, address: str, now: float) -> Attempt | float:
        """An :class:`Attempt` to settle, or the seconds to wait (nothing is recorded)."""
        nick_failures = self._nicks.get(nick, Failures())
        address_failures = self._addresses.get(address, Failures())
        wait = self.policy.verdict(nick_failures, address_failures, now)
        if wait is not None:
            return wait
        clean = self.policy.clean(address_failures, now)
        nick_failures = self._record(self._nicks, nick, now)
        address_failures = self._record(self._addresses, address, now)
        return Attempt(self.policy, nick_failures, address_failures, clean)

    def failed(self, nick: str, address: str | None, now: float) -> None:
        """A failed login seen on another node (``address`` None from older nodes)."""
        self._record(self._nicks, nick, now).add(now, self.policy.per_nick.rate)
        if address is not None:
            self._record(self._addresses, address, now).add(now, self.policy.per_address.rate)

    def clean(self, address: str, now: float) -> bool:
        failures = self._addresses.get(address)
        return failures is None or self.policy.clean(failures, now)

    def __len__(self) -> int:
        return len(self._nicks) + len(self._addresses)

    def _record(self, table: dict[str, Failures], key: str, now: float) -> Failures:
        record = table.pop(key, None)  # and put back last: the table runs oldest first
        if record is None:
            if len(table) >= self.max_keys:
                _make_room(table, self.max_keys, lambda r: self.policy.forgotten(r, now))
            record = Failures()
        table[key] = record
        return record


class Signups:
    """New accounts per address: a bucket of ``allowance.count``, refilled over its period.

    With several nodes each keeps its own buckets and is told of the others' signups
    (:meth:`spend`), so one address gets one allowance for the whole chat.
    """

    def __init__(self, allowance: Allowance, max_keys: int = 100_000) -> None:
        self.allowance = allowance
        self.max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, address: str, now: float) -> float | None:
        """None when ``address`` may create an account now (and counts it); else the seconds
        to wait."""
        bucket = self._bucket(address, now)
        if bucket.take(now):
            return None
        return bucket.retry_after()

    def spend(self, address: str, now: float) -> None:
        """A signup from ``address`` that another node let through: counted even past an
        empty bucket (two nodes may both have let the last one through), so the address
        waits until the chat as a whole is back within its allowance."""
        self._bucket(address, now).spend(now)

    def __len__(self) -> int:
        return len(self._buckets)

    def _bucket(self, address: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                _make_room(self._buckets, self.max_keys, lambda b: b.idle(now))
            bucket = self._buckets[address] = self.allowance.bucket(now)
        return bucket


def _make_room(table: dict[K, V], max_keys: int, forgettable: Callable[[V], bool]) -> None:
    """Drop what says nothing any more; if that is not enough, the oldest entries, down to
    nine tenths of ``max_keys`` (so the sweep runs once per many insertions, not each)."""
    for key in [key for key, value in table.items() if forgettable(value)]:
        del table[key]
    excess = len(table) - max_keys * 9 // 10
    for key in list(itertools.islice(table, max(0, excess))):
        del table[key]
