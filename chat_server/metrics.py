"""What a running server counts for ``serve --metrics``, and the text ``GET /metrics`` answers.

Off by default: the server then holds a :class:`Metrics`, whose every method does nothing,
and ``/metrics`` is 404. On, a :class:`PrometheusMetrics` keeps the series in a registry of
its own (several servers in one process never share one). Labels take values from fixed
sets only (error codes, entry kinds, close codes, resume outcomes), never a nick or a room
name: a label value is a series, and people must not be able to make the server keep more.

The hot path keeps its cost: connections and users online are read from the hub when
scraped, deliveries and slow-consumer closes are plain integers the hub keeps anyway
(counted once per fan-out call), and the group commit reports once per batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Literal, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

ResumeOutcome = Literal["caught_up", "paged", "reset"]

ENTRY_KINDS = ("message", "edit", "delete", "react", "notice")
RESUME_OUTCOMES: tuple[ResumeOutcome, ...] = ("caught_up", "paged", "reset")
# close codes worth a series of their own; any other (a client may pick 3000-4999) is "other"
CLOSE_CODES = frozenset({1000, 1001, 1006, 1008, 1009, 1011, 1013})
OTHER = "other"

# seconds: from a millisecond to ten, where a chat's waits live
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def resume_outcome(since: int, last_seq: int, more: bool) -> ResumeOutcome:
    """How a ``join`` with ``since`` went: the client is up to date after its backlog
    (``caught_up``), has more to page in with ``history after`` (``paged``), or saw seqs the
    room does not have (``reset``: the room was removed and made anew, or the database was
    restored from an older backup)."""
    if since > last_seq:
        return "reset"
    return "paged" if more else "caught_up"


def close_label(code: int | None) -> str:
    """A close code as a label value, from a fixed set."""
    return str(code) if code in CLOSE_CODES else OTHER


class Counts(Protocol):
    """What the hub counts on its own: read when /metrics is scraped."""

    @property
    def connection_count(self) -> int: ...

    @property
    def user_count(self) -> int: ...

    delivered: int
    slow_closed: int


class Metrics:
    """Metrics off: every observation costs one call that does nothing."""

    enabled = False

    def error(self, code: str) -> None:
        """An ``error`` frame sent with ``code`` (a fixed set: the protocol's codes)."""

    def login_failed(self) -> None:
        """A hello refused ``auth_failed`` (wrong password, unknown token)."""

    def committed(self, kind: str, new: bool, started: float) -> None:
        """A write acked (``started``: ``time.perf_counter()`` when its request was read);
        ``new`` unless it was a retry of one already stored."""

    def history_page(self, seconds: float) -> None:
        """A ``history`` request read its page from the store in ``seconds``."""

    def resumed(self, outcome: ResumeOutcome) -> None:
        """A ``join`` with ``since``."""

    def closed(self, code: int | None) -> None:
        """A logged-in connection ended with ``code``."""

    def batch(self, size: int, seconds: float) -> None:
        """The group commit wrote ``size`` operations in one transaction of ``seconds``."""

    def lag(self, seconds: float) -> None:
        """A room event reached this node ``seconds`` after a node published it (Redis)."""

    def page(self) -> bytes:
        return b""


NO_METRICS = Metrics()


class _HubCounts:
    """The hub's own integers as counters (a Collector: read at scrape time)."""

    def __init__(self, hub: Counts) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "chat_deliveries",
            "Events written to connections by room fan-out (one per connection).",
            value=self.hub.delivered,
        )
        yield CounterMetricFamily(
            "chat_slow_consumer_closes",
            "Connections closed 1013 because their unread output passed --max-buffer.",
            value=self.hub.slow_closed,
        )

    def describe(self) -> Iterator[Metric]:
        return iter(())


class PrometheusMetrics(Metrics):
    """Metrics on: the series of one server (README "Metrics" lists them)."""

    enabled = True

    def __init__(self, hub: Counts) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        gauge = Gauge("chat_connections", "Logged-in websocket connections.", registry=registry)
        gauge.set_function(lambda: hub.connection_count)
        users = Gauge(
            "chat_users_online",
            "Users with at least one connection to this server.",
            registry=registry,
        )
        users.set_function(lambda: hub.user_count)
        hub_counts: Collector = _HubCounts(hub)
        registry.register(hub_counts)
        stored = Counter(
            "chat_entries_stored", "Entries written to rooms' logs, by kind.", ["kind"],
            registry=registry,
        )  # fmt: skip
        self._stored = {kind: stored.labels(kind) for kind in ENTRY_KINDS}
        self._acks = Counter("chat_acks", "Writes acknowledged (ack frames).", registry=registry)
        self._ack_latency = Histogram(
            "chat_ack_latency_seconds",
            "From a write request (send, edit, delete, react, room command) read to its ack.",
            buckets=_LATENCY,
            registry=registry,
        )
        self._errors = Counter(
            "chat_errors", "Error frames sent, by code.", ["code"], registry=registry
        )
        self._error_children: dict[str, Counter] = {}
        self._rate_limited = Counter(
            "chat_rate_limited",
            "Requests and logins refused rate_limited.",
            registry=registry,
        )
        self._failed_logins = Counter(
            "chat_failed_logins",
            "Logins refused auth_failed (a wrong password, an unknown token).",
            registry=registry,
        )
        self._history = Histogram(
            "chat_history_page_seconds",
            "Reading one history page from the store.",
            buckets=_LATENCY,
            registry=registry,
        )
        resumes = Counter(
            "chat_resumes", "Joins with since, by outcome.", ["outcome"], registry=registry
        )
        self._resumes = {outcome: resumes.labels(outcome) for outcome in RESUME_OUTCOMES}
        self._closes = Counter(
            "chat_connection_closes",
            "Logged-in connections ended, by close code (codes outside a fixed set: other).",
            ["code"],
            registry=registry,
        )
        self._batch_size = Histogram(
            "chat_commit_batch_size",
            "Operations per group commit.",
            buckets=_BATCH_SIZES,
            registry=registry,
        )
        self._commit_time = Histogram(
            "chat_commit_seconds",
            "Time of one group commit's transaction.",
            buckets=_LATENCY,
            registry=registry,
        )
        self._lag = Histogram(
            "chat_broker_lag_seconds",
            "From a node publishing a room event to this node receiving it from Redis.",
            buckets=_LATENCY,
            registry=registry,
        )

    def error(self, code: str) -> None:
        child = self._error_children.get(code)
        if child is None:
            child = self._error_children[code] = self._errors.labels(code)
        child.inc()
        if code == "rate_limited":
            self._rate_limited.inc()

    def login_failed(self) -> None:
        self._failed_logins.inc()

    def committed(self, kind: str, new: bool, started: float) -> None:
        self._acks.inc()
        self._ack_latency.observe(time.perf_counter() - started)
        if new:
            self._stored[kind].inc()

    def history_page(self, seconds: float) -> None:
        self._history.observe(seconds)

    def resumed(self, outcome: ResumeOutcome) -> None:
        self._resumes[outcome].inc()

    def closed(self, code: int | None) -> None:
        self._closes.labels(close_label(code)).inc()

    def batch(self, size: int, seconds: float) -> None:
        self._batch_size.observe(size)
        self._commit_time.observe(seconds)

    def lag(self, seconds: float) -> None:
        self._lag.observe(max(seconds, 0.0))  # clocks of two machines may disagree a little

    def page(self) -> bytes:
        return generate_latest(self.registry)
