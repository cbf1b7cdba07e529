"""Who may connect: connection caps per address (before and after ``hello``), per user, and
in total, kept under the process's file-descriptor limit.

Pure bookkeeping, keyed by any hashable connection object; chat_server/doorman.py applies it
to real sockets. A connection is counted from the moment its socket is accepted until it
closes, in up to four places:

- every socket, whatever it asks for (``Caps.sockets``): ``--max-connections`` plus a reserve
  for ``/healthz``, the web page and the 503 answers themselves. At that ceiling the oldest
  socket that has not sent a request yet makes room (a silent socket cannot hold a place a
  bystander needs); with none, the new socket is closed.
- per address before ``hello`` (``--max-pending-per-address``): from accept (or, behind a
  trusted proxy, from the handshake, where the address becomes known) until a login succeeds;
- per address (``--max-connections-per-address``) and in total (``--max-connections``): every
  websocket handshake let through, until it closes;
- per user (``--max-connections-per-user``): from a successful ``hello`` until it closes;
- logging in, over all addresses (``--max-logging-in``): every websocket handshake let through,
  until its login succeeds or it closes. Past it the server is busy: a handshake is answered
  HTTP 503 with a ``Retry-After`` from :class:`Pace`, which spreads a crowd (every client of a
  restarted server coming back at once) over the time the server needs to log it in, instead
  of letting it queue past the clients' own timeouts, where every login started is work lost.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Hashable
from typing import Generic, TypeVar

from chat_server.config import Settings

K = TypeVar("K", bound=Hashable)
C = TypeVar("C", str, int)  # what a count is kept by: an address, a user id

# Descriptors kept for everything but client connections: stdio, the listening sockets, the
# SQLite files (database, WAL and shared memory for the writer and the reader), log files,
# the event loop's own, Redis connections, the thread pools' wakeups.
RESERVED_FDS = 64
# Sockets allowed above --max-connections, so that /healthz, the web client's files and
# the 503 answers to refused handshakes still find a descriptor when the cap is reached.
HTTP_RESERVE = 32


class Refusal(enum.Enum):
    """Why a websocket handshake is refused (HTTP 503; the value is the response body)."""

    FULL = "the server is full; try again later\n"
    ADDRESS = "too many connections from your address; try again later\n"
    PENDING = "too many connections from your address are logging in; try again later\n"
    WAIT = "your address was told to wait before logging in again; wait, then try again\n"
    BUSY = "the server is busy logging others in; try again in the Retry-After seconds\n"


@dataclasses.dataclass(frozen=True, slots=True)
class Caps:
    """The connection caps in force (``total`` already fitted under the descriptor limit)."""

    total: int
    per_address: int
    pending_per_address: int
    per_user: int
    logging_in: int = 512

    @property
    def sockets(self) -> int:
        """Accepted sockets of every kind at once."""
        return self.total + HTTP_RESERVE

    @classmethod
    def of(cls, settings: Settings, fd_limit: int | None = None) -> Caps:
        """The settings' caps, ``--max-connections`` fitted under ``fd_limit`` (see
        :func:`fit_total`; a PostgreSQL pool's connections are descriptors too)."""
        return cls(
            total=fit_total(settings.max_connections, fd_limit, other_fds(settings)),
            per_address=settings.max_connections_per_address,
            pending_per_address=settings.max_pending_per_address,
            per_user=settings.max_connections_per_user,
            logging_in=settings.max_logging_in,
        )


def fit_total(wanted: int, fd_limit: int | None, other_fds: int = 0) -> int:
    """``--max-connections``, lowered so that every socket it allows (plus the HTTP reserve,
    :data:`RESERVED_FDS` and ``other_fds``, a database pool) fits under ``fd_limit`` (None:
    unlimited). Never below 1: a server started with too low a limit still serves what it
    can (and says so at start) rather than not at all."""
    if fd_limit is None:
        return wanted
    room = fd_limit - RESERVED_FDS - other_fds - HTTP_RESERVE
    return max(1, min(wanted, room))


def other_fds(settings: Settings) -> int:
    """Descriptors the server holds besides :data:`RESERVED_FDS`: a PostgreSQL pool's."""
    return settings.db_pool_size if settings.database_url else 0


@dataclasses.dataclass(slots=True)
class _Ticket:
    """Where one connection is counted."""

    pending: str | None = None  # the address whose before-hello count holds it
    address: str | None = None  # the address whose websocket count holds it
    user: int | None = None  # the user whose count holds it


@dataclasses.dataclass(frozen=True, slots=True)
class Accepted(Generic[K]):
    """The verdict on a new socket: keep it or close it, and the silent one it displaced."""

    admitted: bool
    evicted: K | None = None


def _add(counts: dict[C, int], key: C) -> None:
    counts[key] = counts.get(key, 0) + 1


def _remove(counts: dict[C, int], key: C) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


class Admission(Generic[K]):
    """The counts of open connections, and the decisions the caps make from them."""

    def __init__(self, caps: Caps) -> None:
        self.caps = caps
        self._tickets: dict[K, _Ticket] = {}
        self._silent: dict[K, None] = {}  # accepted, no request yet; oldest first
        self._pending: dict[str, int] = {}
        self._by_address: dict[str, int] = {}
        self._by_user: dict[int, int] = {}
        self.websockets = 0
        self.logging_in = 0  # websockets let through that have not logged in yet

    @property
    def sockets(self) -> int:
        return len(self._tickets)

    def pending(self, address: str) -> int:
        """Connections from ``address`` that have not logged in yet."""
        return self._pending.get(address, 0)

    def from_address(self, address: str) -> int:
        """Websocket connections from ``address``."""
        return self._by_address.get(address, 0)

    def of_user(self, user: int) -> int:
        return self._by_user.get(user, 0)

    def accept(self, conn: K, address: str | None) -> Accepted[K]:
        """A socket was accepted; ``address`` is the client's, or None when the peer is a
        trusted proxy (the client is named by the request, see :meth:`handshake`)."""
        if address is not None and self.pending(address) >= self.caps.pending_per_address:
            return Accepted(False)
        evicted: K | None = None
        if self.sockets >= self.caps.sockets:
            if not self._silent:
                return Accepted(False)
            evicted = next(iter(self._silent))
            self.release(evicted)
        ticket = _Ticket()
        if address is not None:
            ticket.pending = address
            _add(self._pending, address)
        self._tickets[conn] = ticket
        self._silent[conn] = None
        return Accepted(True, evicted)

    def spoke(self, conn: K) -> None:
        """The connection sent a request: it is no longer a silent socket."""
        self._silent.pop(conn, None)

    def handshake(self, conn: K, address: str) -> Refusal | None:
        """A websocket handshake from ``address``: None when it may proceed (and is counted)."""
        ticket = self._tickets.get(conn)
        if ticket is None:  # closed (or displaced) meanwhile
            return Refusal.FULL
        self.spoke(conn)
        if ticket.address is not None:
            return None
        if ticket.pending != address:  # behind a proxy: the client is known only now
            if self.pending(address) >= self.caps.pending_per_address:
                return Refusal.PENDING
            if ticket.pending is not None:
                _remove(self._pending, ticket.pending)
            ticket.pending = address
            _add(self._pending, address)
        if self.from_address(address) >= self.caps.per_address:
            return Refusal.ADDRESS
        if self.websockets >= self.caps.total:
            return Refusal.FULL
        if self.logging_in >= self.caps.logging_in:
            return Refusal.BUSY
        ticket.address = address
        _add(self._by_address, address)
        self.websockets += 1
        self.logging_in += 1
        return None

    def logged_in(self, conn: K, user: int) -> bool:
        """A ``hello`` succeeded: False when the user already holds ``per_user`` connections."""
        ticket = self._tickets.get(conn)
        if ticket is None:
            return False
        if ticket.user is not None:
            return True
        if self.of_user(user) >= self.caps.per_user:
            return False
        ticket.user = user
        _add(self._by_user, user)
        if ticket.address is not None:
            self.logging_in -= 1
        if ticket.pending is not None:
            _remove(self._pending, ticket.pending)
            ticket.pending = None
        return True

    def release(self, conn: K) -> None:
        """The connection closed (or was displaced): it counts nowhere any more. Idempotent."""
        ticket = self._tickets.pop(conn, None)
        self._silent.pop(conn, None)
        if ticket is None:
            return
        if ticket.pending is not None:
            _remove(self._pending, ticket.pending)
        if ticket.address is not None:
            _remove(self._by_address, ticket.address)
            self.websockets -= 1
            if ticket.user is None:
                self.logging_in -= 1
        if ticket.user is not None:
            _remove(self._by_user, ticket.user)


# The login rate :class:`Pace` assumes until it has measured a higher one (logins a second):
# about what one core here completes. Told too early, a client is refused again (a cheap
# 503) and told a later time; told too late, the server idles while the crowd waits.
LOGIN_RATE_FLOOR = 500.0
# The longest wait a refused handshake is told (seconds).
RETRY_AFTER_MAX = 120
# Logins are counted over windows of this length (seconds) to measure the rate.
PACE_WINDOW = 1.0


class Pace:
    """When a handshake refused for a busy server should come back (``Retry-After``).

    Each refusal takes the next free slot of a queue that moves at the login rate: the first
    refused in a crowd comes back in a second, the thousandth at 500 logins a second in two,
    the 20,000th in forty, so the crowd returns at the pace the server logs it in. The rate
    is the one measured over the last window in which the server was busy (refusing), never
    below :data:`LOGIN_RATE_FLOOR`. Pure: every call is given the time.
    """

    def __init__(self, floor: float = LOGIN_RATE_FLOOR) -> None:
        self.floor = floor
        self.rate = floor
        self._next = 0.0  # when the queue's last slot is
        self._window_start = 0.0
        self._logins = 0  # logins in the window
        self._busy = False  # a handshake was refused in the window

    def logged_in(self, now: float) -> None:
        self._roll(now)
        self._logins += 1

    def refused(self, now: float) -> int:
        """The whole seconds the refused handshake is told to wait (at least 1)."""
        self._roll(now)
        self._busy = True
        self._next = max(self._next, now) + 1.0 / self.rate
        return max(1, min(RETRY_AFTER_MAX, math.ceil(self._next - now)))

    def window(self, connections: int) -> float:
        """The seconds logging ``connections`` in takes at the pace's rate: a stopping server
        tells each of its connections a random point of it to come back at. The rate, not the
        most logins a second seen: a login after a restart also re-joins rooms and resumes
        them, and a crowd sent back at the connect storm's 1,500 a second met 15,000 503s and
        took longer (c100k at 18,000, benchmarks/README.md)."""
        return connections / self.rate

    def _roll(self, now: float) -> None:
        elapsed = now - self._window_start
        if elapsed < PACE_WINDOW:
            return
        if self._busy:  # a window that was not busy says nothing of what the server can do
            self.rate = max(self.floor, self._logins / elapsed)
        self._window_start, self._logins, self._busy = now, 0, False
