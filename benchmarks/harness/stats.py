"""Pure statistics and reporting: percentiles, repetitions to medians, the table, records."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

UNITS = {
    "deliveries_per_s": "1/s",
    "acked_per_s": "1/s",
    "offered_msgs_per_s": "1/s",
    "p50_ms": "ms",
    "p99_ms": "ms",
    "wall_ms": "ms",
    "rss_kb_per_conn": "kB",
    "rss_kb_per_conn_5000": "kB",
    "lost": "messages",
    "errors": "frames",
    "server_cpu_pct": "%",
    "loadgen_cpu_pct": "%",
    "sqlite_thread_cpu_share_pct": "%",
    "server_cpu_us_per_delivery": "µs",
    "server_cpu_us_per_ack": "µs",
    "metrics_calls_us_per_ack": "µs",
    "metrics_share_of_ack_pct": "%",
    "login_p50_ms": "ms",
    "login_p99_ms": "ms",
    "history_p50_ms": "ms",
    "history_p99_ms": "ms",
    "rss_mb": "MB",
    "rss_growth_mb": "MB",
    "bystander_failed": "requests",
    "bystander_timeouts": "requests",
    "served": "requests",
    "refused": "requests",
    "attacker_errors": "requests",
    "log_errors": "lines",
    "send_wait_ms": "ms",
    "history_max_ms": "ms",
    "ping_max_ms": "ms",
    "hits": "messages",
    "connects_per_s": "1/s",
    "idle_cpu_pct": "%",
    "room_p50_ms": "ms",
    "room_p99_ms": "ms",
    "reconnect_s": "s",
    "room_join_s": "s",
    "back_pct": "%",
}
# counts and growths from about zero: a ratio of them says nothing
NO_RATIO = frozenset(
    {"bystander_failed", "bystander_timeouts", "served", "refused",
     "attacker_errors", "log_errors", "hits"}
)  # fmt: skip


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} out of range")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Series:
    """The repetitions of one (scenario, system, metric)."""

    scenario: str
    system: str
    metric: str
    values: list[float] = field(default_factory=list)

    @property
    def unit(self) -> str:
        # a metric named for a count (``rss_kb_per_conn_10k``): the unit of its stem
        return UNITS.get(self.metric) or UNITS.get(self.metric.rsplit("_", 1)[0], "")

    @property
    def median(self) -> float:
        return statistics.median(self.values)


# which system each scenario's ratios are taken against
REFERENCE = {
    "fanout-100": "ceiling",
    "fanout-1000": "ceiling",
    "rooms-50": "ceiling",
    "persist": "sqlite-per-commit",
    "persist-pg": "pg-per-commit",
    "delete-erase": "send",
    "retention-purge": "no-purge",
    "idle-conns": "ceiling",
    "history": "ping",
    "search-1m": "ping",
    "c100k": "ceiling",
    "cli-send": "script",
    "tui-start": "textual-import",
    "tui-10k": "empty-room",
    "fanout-2nodes": "chat-1node",
    "abuse": "idle",
}


def reference(scenario: str) -> str:
    """The system a scenario's ratios are taken against (every changes mix, ``*-mix``:
    chat without changes; every ``*-metrics``: chat without --metrics)."""
    plain_chat = scenario.endswith(("-mix", "-metrics"))
    return REFERENCE.get(scenario) or ("chat" if plain_chat else "")


class Results:
    """Every measured value of a run, in the order first seen."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, str, str], Series] = {}

    def add(self, scenario: str, system: str, metric: str, value: float) -> None:
        key = (scenario, system, metric)
        if key not in self.series:
            self.series[key] = Series(scenario, system, metric)
        self.series[key].values.append(float(value))

    def get(self, scenario: str, system: str, metric: str) -> Series | None:
        return self.series.get((scenario, system, metric))

    def ratio(self, series: Series) -> float | None:
        """This median over the reference system's median of the same metric."""
        ref_system = reference(series.scenario)
        if not ref_system or ref_system == series.system or series.metric in NO_RATIO:
            return None
        ref = self.get(series.scenario, ref_system, series.metric)
        if ref is None or ref.median == 0:
            return None
        return series.median / ref.median

    def records(self) -> list[dict[str, object]]:
        """The flat JSON records: one per (scenario, system, metric), value = median."""
        return [
            {
                "scenario": s.scenario,
                "system": s.system,
                "metric": s.metric,
                "value": round(s.median, 4),
                "unit": s.unit,
            }
            for s in self.series.values()
        ]

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.records(), indent=1) + "\n")

    def table(self, only: Iterable[str] | None = None) -> str:
        """A fixed-width table: median, min-max, repetitions, ratio to the reference."""
        wanted = set(only) if only is not None else None
        head = ("scenario", "system", "metric", "median", "min-max", "n", "ratio")
        rows = [head]
        for s in self.series.values():
            if wanted is not None and s.scenario not in wanted:
                continue
            ratio = self.ratio(s)
            ref = reference(s.scenario)
            rows.append(
                (
                    s.scenario,
                    s.system,
                    s.metric,
                    _fmt(s.median),
                    f"{_fmt(min(s.values))}-{_fmt(max(s.values))}",
                    str(len(s.values)),
                    f"{ratio:.2f}x {ref}" if ratio is not None else "",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
