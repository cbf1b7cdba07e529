"""Passwords (argon2id, hashed off the event loop), session tokens, and login throttling."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


def new_token() -> str:
    """A fresh bearer token: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """What the database keeps of a token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class Passwords:
    """argon2id hashing in worker threads, at most ``concurrency`` at a time.

    Each hash takes tens of milliseconds and tens of MiB, so a login storm is queued
    here rather than allowed to exhaust the event loop or memory.
    """

    def __init__(self, concurrency: int = 2) -> None:
        self._hasher = PasswordHasher()
        self._slots = asyncio.Semaphore(concurrency)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str, password: str) -> tuple[bool, str | None]:
        """Check a password; also return a new hash when the parameters have changed."""
        async with self._slots:
            return await asyncio.to_thread(self._verify, stored, password)

    def _verify(self, stored: str, password: str) -> tuple[bool, str | None]:
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False, None
        if self._hasher.check_needs_rehash(stored):
            return True, self._hasher.hash(password)
        return True, None


class LoginThrottle:
    """A growing delay per nick after failed logins, so guessing cannot run at line rate.

    After ``n`` consecutive failures the next attempt for that nick waits until
    ``base * 2**(n-1)`` seconds (capped at ``cap``) after the last failure. A success
    clears the record. Entries idle for longer than the cap are forgotten.
    """

    def __init__(self, base: float = 0.5, cap: float = 30.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[str, tuple[int, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def delay(self, key: str, now: float) -> float:
        """Seconds an attempt for ``key`` must still wait."""
        record = self._failures.get(key)
        if record is None:
            return 0.0
        count, last = record
        wait = min(self.cap, self.base * 2.0 ** (count - 1))
        return max(0.0, last + wait - now)

    def failed(self, key: str, now: float) -> None:
        count, _ = self._failures.get(key, (0, now))
        self._failures[key] = (count + 1, now)
        if len(self._locks) > 10_000:
            self._forget_idle(now)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _forget_idle(self, now: float) -> None:
        for key, (_, last) in list(self._failures.items()):
            if now - last > self.cap:
                del self._failures[key]
        for key, lock in list(self._locks.items()):
            if not lock.locked() and key not in self._failures:
                del self._locks[key]

    async def wait_turn(self, key: str) -> asyncio.Lock:
        """Queue attempts for one nick one behind the other, each after its delay.

        Returns the nick's lock, held; the caller releases it after recording the outcome.
        """
        lock = self._locks.setdefault(key, asyncio.Lock())
        await lock.acquire()
        try:
            wait = self.delay(key, time.monotonic())
            if wait > 0:
                await asyncio.sleep(wait)
        except BaseException:
            lock.release()
            raise
        return lock

    def release(self, lock: asyncio.Lock) -> None:
        lock.release()
