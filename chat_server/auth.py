"""Passwords (argon2id, hashed off the event loop, a bounded line first), session tokens
and invite codes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import hashlib
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ARGON2_VERSION

from chat_server.slots import PriorityGate

T = TypeVar("T")


def new_token() -> str:
    """A fresh bearer token: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """What the database keeps of a token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


# Invite codes are typed as well as clicked: lower-case letters and digits, none that look
# alike (0/o, 1/l/i), 20 of them (about 97 bits). The store keeps their SHA-256
# (``token_hash``) and the first INVITE_PREFIX characters, which ``invites list`` shows.
INVITE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
INVITE_LENGTH = 20
INVITE_PREFIX = 6


def new_invite_code() -> str:
    """A fresh invite code (``chat-server invites create``)."""
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))


def dummy_hash(hasher: PasswordHasher) -> str:
    """An argon2 hash in ``hasher``'s parameters of no password at all (random salt, random
    digest): verifying against it costs what a real verify costs and never matches. Made
    without hashing, so a server starts no slower for having one."""

    def b64(size: int) -> str:
        return base64.b64encode(secrets.token_bytes(size)).decode("ascii").rstrip("=")

    variant = f"argon2{hasher.type.name.lower()}"
    costs = f"m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
    return f"${variant}$v={ARGON2_VERSION}${costs}${b64(hasher.salt_len)}${b64(hasher.hash_len)}"


class Priority(enum.IntEnum):
    """Who goes first in the password-hash queue (lower first)."""

    LOGIN = 0  # a password login from an address with no recent failed login
    SUSPECT = 1  # a password login from an address that failed recently
    SIGNUP = 2  # a new account: it can wait, and refusing it locks nobody out


# How much lower the threads that hash for suspect logins and signups run (a nice value
# added to the process's): on a busy core the kernel gives a clean login's hash, and the
# event loop that serves everyone, most of the time (Linux only: elsewhere a thread's nice
# value is the process's).
LOW_PRIORITY_NICE = 10


def _lower_this_thread() -> None:
    """Run the calling thread (and the threads it starts: argon2's lanes) at a lower CPU
    priority than the rest of the process."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            tid = threading.get_native_id()
            os.setpriority(
                os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + LOW_PRIORITY_NICE
            )


class Passwords:
    """argon2id hashing in worker threads, ``concurrency`` at a time, behind a bounded line.

    Each hash takes tens of milliseconds and tens of MiB, so only a few run at once; the
    others wait in a line of at most ``queue`` places, logins of existing accounts before
    signups (:class:`~chat_server.slots.PriorityGate`). Past that the caller gets
    :class:`~chat_server.errors.Busy` at once, never an unbounded wait.

    A login for a nick that has no password (unknown, removed) is checked against a dummy
    hash, so it costs what a wrong password costs and its timing tells nothing.
    ``hashes`` and ``verifies`` count the argon2 calls made (tests and metrics read them).

    Hashes for anything but a clean login (a suspect login, a signup) run in threads of
    lower CPU priority: a guesser's or a signup bot's hash on the same core as a person's
    login slows that login down very little.
    """

    def __init__(self, concurrency: int = 2, queue: int = 32) -> None:
        self._hasher = PasswordHasher()
        self.gate = PriorityGate(concurrency, queue)
        self._low = ThreadPoolExecutor(
            concurrency, thread_name_prefix="argon2-low", initializer=_lower_this_thread
        )
        self.dummy = dummy_hash(self._hasher)
        self.hashes = 0
        self.verifies = 0

    async def hash(self, password: str, priority: Priority = Priority.SIGNUP) -> str:
        async with self.gate.hold(priority):
            self.hashes += 1
            return await self._in_thread(priority, self._hasher.hash, password)

    async def verify(
        self, stored: str | None, password: str, priority: Priority = Priority.LOGIN
    ) -> tuple[bool, str | None]:
        """Check a password; also return a new hash when the parameters have changed.

        ``stored`` None (no such account): the same work against the dummy hash, never a match.
        """
        async with self.gate.hold(priority):
            self.verifies += 1
            return await self._in_thread(priority, self._verify, stored, password)

    async def _in_thread(self, priority: Priority, work: Callable[..., T], *args: Any) -> T:
        started = time.monotonic()
        try:
            if priority is Priority.LOGIN:
                return await asyncio.to_thread(work, *args)
            return await asyncio.get_running_loop().run_in_executor(self._low, work, *args)
        finally:
            self.gate.observe(time.monotonic() - started)

    def close(self) -> None:
        """Let the low-priority threads go (a server that stops)."""
        self._low.shutdown(wait=False, cancel_futures=True)

    def _verify(self, stored: str | None, password: str) -> tuple[bool, str | None]:
        if stored is None:
            with contextlib.suppress(VerificationError, InvalidHashError):
                self._hasher.verify(self.dummy, password)
            return False, None
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False, None
        if self._hasher.check_needs_rehash(stored):
            return True, self._hasher.hash(password)
        return True, None
