"""Addresses that ignore ``retry_after``: after a few early returns, their new sockets are
closed as soon as they are accepted, until the wait they were told is over.

A refused ``hello`` (a login limit, the signup limit, a busy hash queue) says how long to
wait; a client that honours it never meets this. One that comes straight back, again and
again (a password guesser, a signup bot), costs a websocket handshake, a frame and a
closing handshake each time, hundreds a second, and the event loop that serves everyone
else pays for them. Past ``strikes`` early returns its sockets are closed at accept, which
costs next to nothing, until the wait (at most ``MAX_WAIT``) is over; then it is heard
again, and refused again if it still has to wait.

Pure: the caller passes the clock reading.
"""

from __future__ import annotations

import dataclasses
import itertools

MAX_WAIT = 60.0  # the longest an address's sockets are closed at accept, per refusal


@dataclasses.dataclass(slots=True)
class _Told:
    until: float  # when the wait an address was told is over
    early: int = 0  # sockets it opened before then


class Penalties:
    """The addresses told to wait, and how often each came back early."""

    def __init__(self, strikes: int, max_keys: int = 100_000) -> None:
        self.strikes = strikes  # 0: never close a socket at accept
        self.max_keys = max_keys
        self._told: dict[str, _Told] = {}

    def told(self, address: str, wait: float, now: float) -> None:
        """``address`` was refused and told to wait ``wait`` seconds."""
        until = now + min(wait, MAX_WAIT)
        entry = self._told.get(address)
        if entry is not None:
            entry.until = max(entry.until, until)
            return
        if len(self._told) >= self.max_keys:
            self._make_room(now)
        self._told[address] = _Told(until)

    def shut(self, address: str, now: float) -> bool:
        """A socket from ``address`` was accepted: True when it is to be closed at once."""
        entry = self._told.get(address)
        if entry is None:
            return False
        if now >= entry.until:
            del self._told[address]
            return False
        entry.early += 1
        return 0 < self.strikes < entry.early

    def __len__(self) -> int:
        return len(self._told)

    def _make_room(self, now: float) -> None:
        """Forget waits that are over; if that is not enough, the oldest, down to nine tenths."""
        for address in [a for a, entry in self._told.items() if now >= entry.until]:
            del self._told[address]
        excess = len(self._told) - self.max_keys * 9 // 10
        for address in list(itertools.islice(self._told, max(0, excess))):
            del self._told[address]
