"""What a running server counts for ``serve --metrics``, and the text ``GET /metrics`` answers.

Off by default: the server then holds a :class:`Metrics`, whose every method does nothing,
and ``/metrics`` is 404. On, a :class:`PrometheusMetrics` keeps the series in a registry of
its own (several servers in one process never share one). Labels take values from fixed
sets only (error codes, entry kinds, close codes, resume outcomes), never a nick or a room
name: a label value is a series, and people must not be able to make the server keep more.

The hot path keeps its cost: every figure is a plain integer or a histogram's list of
counts, added to on the event loop's thread (no lock), and turned into
``prometheus_client``'s metric families only when ``/metrics`` is scraped (a
``prometheus_client`` Counter or Histogram takes a lock per update: ~8 us an ack here, ~9 %
of a saturated server's CPU per message, against ~1 us this way). Connections and users
online are read from the hub when scraped, deliveries and slow-consumer closes are integers
the hub keeps anyway (counted once per fan-out call), and the group commit reports once per
batch.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Iterator
from typing import Literal, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

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
# seconds a made /metrics page is served again: making one costs milliseconds, and anyone who
# reaches the port may ask for it as often as they like
PAGE_TTL = 1.0


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


class Histogram:
    """Counts of observations per bucket, and their sum (Prometheus' cumulative buckets are
    made at scrape time)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # value <= its bound
        self.sum += value

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        buckets = []
        total = 0
        bounds = (*(repr(float(b)) for b in self.bounds), "+Inf")
        for bound, count in zip(bounds, self.counts, strict=True):
            total += count
            buckets.append((bound, float(total)))
        return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=self.sum)


def _counter(
    name: str, documentation: str, label: str, values: Iterable[tuple[str, int]]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for key, value in values:
        family.add_metric([key], value)
    return family


class PrometheusMetrics(Metrics):
    """Metrics on: the figures of one server (docs/metrics.md lists them), and the registry
    that turns them into the text of ``/metrics``."""

    enabled = True

    def __init__(self, hub: Counts) -> None:
        self.hub = hub
        self.errors: dict[str, int] = {}  # by code: server-chosen, a fixed set
        self.rate_limited = 0
        self.failed_logins = 0
        self.acks = 0
        self.stored = dict.fromkeys(ENTRY_KINDS, 0)
        self.resumes = dict.fromkeys(RESUME_OUTCOMES, 0)
        self.closes: dict[str, int] = {}  # by close_label
        self.ack_latency = Histogram(_LATENCY)
        self.history = Histogram(_LATENCY)
        self.batch_size = Histogram(_BATCH_SIZES)
        self.commit_time = Histogram(_LATENCY)
        self.broker_lag = Histogram(_LATENCY)
        self.registry = CollectorRegistry()
        self.registry.register(self)
        self.page_ttl = PAGE_TTL
        self._page = b""
        self._page_at = -float("inf")

    # --- counting (the server's hot paths) --------------------------------------------------

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1
        if code == "rate_limited":
            self.rate_limited += 1

    def login_failed(self) -> None:
        self.failed_logins += 1

    def committed(self, kind: str, new: bool, started: float) -> None:
        self.acks += 1
        self.ack_latency.observe(time.perf_counter() - started)
        if new:
            self.stored[kind] += 1

    def history_page(self, seconds: float) -> None:
        self.history.observe(seconds)

    def resumed(self, outcome: ResumeOutcome) -> None:
        self.resumes[outcome] += 1

    def closed(self, code: int | None) -> None:
        label = close_label(code)
        self.closes[label] = self.closes.get(label, 0) + 1

    def batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.commit_time.observe(seconds)

    def lag(self, seconds: float) -> None:
        self.broker_lag.observe(max(seconds, 0.0))  # two machines' clocks may disagree a little

    # --- scraping ---------------------------------------------------------------------------

    def page(self) -> bytes:
        """The text of /metrics, made at most once per ``page_ttl`` seconds."""
        now = time.monotonic()
        if now - self._page_at >= self.page_ttl:
            self._page, self._page_at = generate_latest(self.registry), now
        return self._page

    def collect(self) -> Iterator[Metric]:
        """The figures as metric families (the registry's Collector interface)."""
        hub = self.hub
        yield GaugeMetricFamily(
            "chat_connections", "Logged-in websocket connections.", value=hub.connection_count
        )
        yield GaugeMetricFamily(
            "chat_users_online",
            "Users with at least one connection to this server.",
            value=hub.user_count,
        )
        yield CounterMetricFamily(
            "chat_deliveries",
            "Events written to connections by room fan-out (one per connection).",
            value=hub.delivered,
        )
        yield CounterMetricFamily(
            "chat_slow_consumer_closes",
            "Connections closed 1013 because their unread output passed --max-buffer.",
            value=hub.slow_closed,
        )
        yield _counter(
            "chat_entries_stored",
            "Entries written to rooms' logs, by kind.",
            "kind",
            self.stored.items(),
        )
        yield CounterMetricFamily("chat_acks", "Writes acknowledged (ack frames).", value=self.acks)
        yield self.ack_latency.family(
            "chat_ack_latency_seconds",
            "From a write request (send, edit, delete, react, room command) read to its ack.",
        )
        yield _counter("chat_errors", "Error frames sent, by code.", "code", self.errors.items())
        yield CounterMetricFamily(
            "chat_rate_limited",
            "Requests and logins refused rate_limited.",
            value=self.rate_limited,
        )
        yield CounterMetricFamily(
            "chat_failed_logins",
            "Logins refused auth_failed (a wrong password, an unknown token).",
            value=self.failed_logins,
        )
        yield self.history.family(
            "chat_history_page_seconds", "Reading one history page from the store."
        )
        yield _counter(
            "chat_resumes", "Joins with since, by outcome.", "outcome", self.resumes.items()
        )
        yield _counter(
            "chat_connection_closes",
            "Logged-in connections ended, by close code (codes outside a fixed set: other).",
            "code",
            self.closes.items(),
        )
        yield self.batch_size.family("chat_commit_batch_size", "Operations per group commit.")
        yield self.commit_time.family(
            "chat_commit_seconds", "Time of one group commit's transaction."
        )
        yield self.broker_lag.family(
            "chat_broker_lag_seconds",
            "From a node publishing a room event to this node receiving it from Redis.",
        )
