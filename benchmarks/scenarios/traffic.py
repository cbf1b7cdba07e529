"""Message-traffic scenarios: fan-out to one room, 50 busy rooms, durable sends.

Every system gets one server start, one set of connected clients and a fresh database;
all are up together and the repetitions are interleaved. The saturation phase runs
before the latency phase, which offers half of the ceiling's saturation rate measured
in the same run (or the rate the scenario names).
"""

from __future__ import annotations

import contextlib
import statistics
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from benchmarks.harness import procs
from benchmarks.harness.context import Context, Rig
from benchmarks.harness.stats import percentile
from benchmarks.harness.worker import Worker

SAMPLERS = 20  # subscribers that time every message they receive, spread over the room
# A latency phase waits this long at most for its last delivery.
LATENCY_DRAIN_S = 60.0
QUICK_DRAIN_S = 2.0
# Systems that cannot keep up with the offered rate (a backlog that takes tens of seconds
# to deliver, its threads starving any process beside it on the core): their latency
# repetitions come after every other system's, and only the minimum of them.
OVERLOADED = ("seed", "seed-threading")
OVERLOADED_REPS = 3
# The "changes mix" scenarios: chat with 10 % of the publishers' entries reactions and edits
# (``chat-mix``), against chat with none (``chat``) in the same run; both are a chat server,
# and the load generators of both count ``edit`` and ``react`` frames as deliveries.
CHANGES = 0.10
MIX_SYSTEMS = ("chat", "chat-mix")
# The cost of ``serve --metrics``: chat with it (``chat-metrics``) against chat without.
METRICS_SYSTEMS = ("chat", "chat-metrics")


def _drain(
    subs: list[Worker], expected: int, limit_s: float, stall_s: float = 1.5
) -> tuple[int, int]:
    """Poll until the subscribers got ``expected`` deliveries or stop receiving (nothing
    new for ``stall_s``).

    Returns (delivered, ns of the last mark that saw the count grow).
    """
    deadline = time.monotonic() + limit_s
    last_count, last_ns, still = -1, 0, time.monotonic()
    while time.monotonic() < deadline:
        marks = [w.call("mark") for w in subs]
        count = sum(m["delivered"] for m in marks)
        if count != last_count:
            last_count, last_ns, still = count, max(m["ns"] for m in marks), time.monotonic()
        if count >= expected or time.monotonic() - still > stall_s:
            break
        time.sleep(0.02)
    return last_count, last_ns


@contextlib.contextmanager
def _rigs(
    ctx: Context, scenario: str, systems: tuple[str, ...], roles: tuple[str, ...]
) -> Iterator[list[Rig]]:
    """Every system's server and load processes, all up at once: the repetitions then run
    interleaved (A B C A B C), so a burst of noise on this shared machine hits each alike.
    (The changes mix's systems are chat servers, spoken to in the ``chat-mix`` dialect.)"""
    mixed = "chat-mix" in systems
    with contextlib.ExitStack() as stack:
        rigs = []
        for system in systems:
            served = "chat" if mixed else system
            dialect = "chat-mix" if mixed else None
            server = stack.enter_context(ctx.server(scenario, served))
            if system == "chat-metrics":
                _check_metrics(server.port)
            workers = stack.enter_context(
                ctx.workers(scenario, system, server.port, *roles, dialect=dialect)
            )
            subs = workers[0] if len(workers) > 1 else None
            rigs.append(Rig(system, server, subs, workers[-1]))
        yield rigs


def _check_metrics(port: int) -> None:
    """Refuse to compare chat with chat: the server must answer /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        if b"chat_acks_total" not in reply.read():
            raise RuntimeError("chat-metrics: /metrics has no chat_acks_total")


def _saturate(ctx: Context, scenario: str, rig: Rig, n: int, window: int) -> float:
    """Closed loop: the publisher keeps ``window`` messages in flight (the next one goes
    when the server has taken one, i.e. on its ack or own echo); deliveries/s to the
    subscribers, first send to last delivery. Also the CPU share of the server and of the
    load generators over the same wall time (is the load generator the bottleneck?)."""
    subs, pub, system = rig.subs, rig.pub, rig.system
    assert subs is not None
    servers = (rig.server, *rig.more_servers)
    pids = (subs.pid, pub.pid, *(s.pid for s in servers))
    cpu = [procs.cpu_seconds(pid) for pid in pids]
    before = subs.call("mark")
    result = pub.call("loop", window=window, duration=ctx.seconds, max_sends=200_000)
    expected = before["delivered"] + result["acked"] * n
    delivered, last_ns = _drain([subs], expected, 20.0)
    wall = (time.monotonic_ns() - before["ns"]) / 1e9
    used = [procs.cpu_seconds(pid) - c for pid, c in zip(pids, cpu, strict=True)]
    ctx.results.add(scenario, system, "server_cpu_pct", 100 * sum(used[2:]) / wall)
    ctx.results.add(scenario, system, "loadgen_cpu_pct", 100 * (used[0] + used[1]) / wall)
    got = delivered - before["delivered"]
    lost = result["acked"] * n - got
    if lost:
        ctx.log(f"{scenario} {system}: {lost} deliveries missing")
    ctx.results.add(scenario, system, "lost", lost)
    rate = float(got / ((last_ns - before["ns"]) / 1e9))
    ctx.results.add(scenario, system, "deliveries_per_s", rate)
    # the server's CPU per delivery: on a shared machine, steadier than the rate
    if got > 0:
        ctx.results.add(scenario, system, "server_cpu_us_per_delivery", 1e6 * sum(used[2:]) / got)
    subs.call("take")
    return rate


def _latency(ctx: Context, scenario: str, rig: Rig, n: int, rate: float) -> None:
    """Publish at a fixed rate; publish-to-receive p50/p99 over the sampled subscribers."""
    subs, pub, system = rig.subs, rig.pub, rig.system
    assert subs is not None
    count = max(20, min(int(rate * ctx.seconds), 20_000))
    subs.call("take")
    before = subs.call("mark")
    result = pub.call("rate", per_second=rate, count=count)
    # every delivery, however late: what a system past its capacity still owes must not
    # run beside the next measurement
    # (--quick: a smoke run that must stay short, so the last deliveries may be left behind)
    limit, stall = (QUICK_DRAIN_S, 1.0) if ctx.quick else (LATENCY_DRAIN_S, 5.0)
    got, _ = _drain([subs], before["delivered"] + count * n, limit, stall_s=stall)
    if got < before["delivered"] + count * n:
        ctx.log(
            f"{scenario} {system}: {got - before['delivered']:,} of {count * n:,} deliveries"
            f" arrived (none for {stall:.1f} s, or {limit:.0f} s passed)"
        )
    samples = subs.call("take")["delivery_ms"]
    if not samples:
        ctx.log(f"{scenario} {system}: no latency samples in this repetition")
        return
    ctx.results.add(scenario, system, "p50_ms", percentile(samples, 50))
    ctx.results.add(scenario, system, "p99_ms", percentile(samples, 99))
    ctx.results.add(scenario, system, "offered_msgs_per_s", result["offered_per_s"])


def fanout(
    ctx: Context,
    n: int,
    systems: tuple[str, ...] | None = None,
    latency_rate: float | None = None,
    scenario: str = "",
) -> None:
    """fanout-N: one room, N subscribers, one publisher; saturation, then latency.

    The latency phase offers ``latency_rate`` messages/s, by default half of the first
    system's (the ceiling's) median saturation rate in this run. ``systems`` by default:
    the ceiling, chat, the seed and mosquitto (when installed).
    """
    scenario = scenario or f"fanout-{n}"
    if systems is None:
        systems = ctx.with_mosquitto(scenario, ("ceiling", "chat", "seed"))
    tokens = ctx.ensure_accounts(n + 1)
    with _rigs(ctx, scenario, systems, ("subscribers", "publisher")) as rigs:
        fanout_on(ctx, scenario, rigs, {rig.system: tokens for rig in rigs}, n, latency_rate)


def fanout_on(
    ctx: Context,
    scenario: str,
    rigs: list[Rig],
    tokens: dict[str, list[str]],
    n: int,
    latency_rate: float | None = None,
    window: int | None = None,
) -> None:
    """The fan-out measurement on rigs already up (``tokens``: each system's accounts).

    A system of several nodes gets its subscribers dealt round-robin over its nodes; the
    publisher is on the first node. ``window``: messages the publisher keeps in flight.
    """
    window = window or (32 if n <= 100 else 8)
    for rig in rigs:
        assert rig.subs is not None
        ports = [s.port for s in (rig.server, *rig.more_servers)]
        keys = tokens[rig.system]
        every = max(1, n // SAMPLERS)  # spread over the join order (fan-out order)
        specs: list[dict[str, Any]] = [
            {
                "room": "fan",
                "token": keys[i],
                "tag": f"s{i}",
                "sample": i % every == 0,
                "port": ports[i % len(ports)],
            }
            for i in range(n)
        ]
        done = rig.subs.call("connect", clients=specs, timeout=300)
        publisher = {"room": "fan", "token": keys[n], "tag": "p0", "count": False}
        if rig.system == "chat-mix":
            publisher["changes"] = CHANGES
        rig.pub.call("connect", clients=[publisher])
        ctx.log(
            f"{scenario}: {rig.system}: {n} subscribers on {len(done['ports'])} node(s)"
            f" connected in {done['seconds']:.1f}s"
        )
        before = rig.subs.call("mark")
        warm = rig.pub.call("loop", window=window, duration=0.3, max_sends=100_000)
        _drain([rig.subs], before["delivered"] + warm["acked"] * n, 10.0)
        rig.subs.call("take")
    rates: dict[str, list[float]] = {rig.system: [] for rig in rigs}
    for _ in range(ctx.reps):
        for rig in rigs:
            rates[rig.system].append(_saturate(ctx, scenario, rig, n, window))
    rate = latency_rate
    if rate is None:
        first = rigs[0].system
        rate = statistics.median(rates[first]) / n / 2
        ctx.log(f"{scenario}: latency at half the {first}'s rate: {rate:.0f} msg/s")
    steady = [rig for rig in rigs if rig.system not in OVERLOADED]
    for _ in range(ctx.reps):
        for rig in steady:
            _latency(ctx, scenario, rig, n, rate)
    for rig in rigs:
        if rig.system in OVERLOADED:
            if ctx.quick:  # each repetition waits ~15 s for the publisher's own echoes
                ctx.log(f"{scenario}: {rig.system}: no latency phase with --quick")
                continue
            for _ in range(min(ctx.reps, OVERLOADED_REPS)):
                _latency(ctx, scenario, rig, n, rate)


def _senders(
    ctx: Context,
    scenario: str,
    systems: tuple[str, ...],
    rooms: list[str],
    windows: tuple[tuple[str, int], ...] = (("", 1),),
) -> None:
    """Every client keeps a window of sends in flight to its room; acked sends/s and the
    send-to-ack latency (chat: its ack, after commit; the ceiling: its own echo).

    ``windows`` pairs a metric suffix with a window: each repetition measures every one,
    in turn (persist adds ``_saturated``: enough in flight that the server's core, not the
    senders' round trips, sets the pace).
    """
    tokens = ctx.ensure_accounts(len(rooms))
    with _rigs(ctx, scenario, systems, ("senders",)) as rigs:
        senders_on(ctx, scenario, rigs, {rig.system: tokens for rig in rigs}, rooms, windows)


def senders_on(
    ctx: Context,
    scenario: str,
    rigs: list[Rig],
    tokens: dict[str, list[str]],
    rooms: list[str],
    windows: tuple[tuple[str, int], ...],
) -> None:
    """The senders' measurement on rigs already up (``tokens``: each system's accounts)."""
    for rig in rigs:
        specs: list[dict[str, Any]] = [
            {"room": room, "token": tokens[rig.system][i], "tag": f"c{i}", "count": False}
            for i, room in enumerate(rooms)
        ]
        if rig.system == "chat-mix":
            for spec in specs:
                spec["changes"] = CHANGES
        took = rig.pub.call("connect", clients=specs, timeout=300)["seconds"]
        ctx.log(f"{scenario}: {rig.system}: {len(rooms)} senders connected in {took:.1f}s")
        rig.pub.call("loop", window=1, duration=0.3, max_sends=100_000)  # warm-up
    for _ in range(ctx.reps):
        for suffix, window in windows:
            for rig in rigs:
                _send_window(ctx, scenario, rig, window, suffix)


def _send_window(ctx: Context, scenario: str, rig: Rig, window: int, suffix: str) -> None:
    """One repetition of ``_senders`` at one window: its metrics, named with ``suffix``."""

    def add(metric: str, value: float) -> None:
        ctx.results.add(scenario, rig.system, metric + suffix, value)

    pids = (rig.server.pid, rig.pub.pid)
    cpu = [procs.cpu_seconds(pid) for pid in pids]
    threads = procs.thread_cpu_seconds(rig.server.pid)
    result = rig.pub.call("loop", window=window, duration=ctx.seconds, max_sends=1_000_000)
    used = [procs.cpu_seconds(pid) - c for pid, c in zip(pids, cpu, strict=True)]
    for metric, seconds in zip(("server_cpu_pct", "loadgen_cpu_pct"), used, strict=True):
        add(metric, 100 * seconds / result["seconds"])
    if rig.server.system in ("chat", "sqlite-per-commit"):  # SQLite's share: the threads
        # other than the event loop's
        main, other = procs.thread_cpu_seconds(rig.server.pid)
        main, other = main - threads[0], other - threads[1]
        add("sqlite_thread_cpu_share_pct", 100 * other / (main + other) if main + other else 0.0)
    if result["unacked"] or result["errors"]:
        ctx.log(
            f"{scenario}: {rig.system}: {result['errors']} error replies,"
            f" {result['unacked']} sends never acked (window {window})"
        )
    add("errors", result["errors"])
    acks = result["ack_ms"] or [float("nan")]
    add("acked_per_s", result["acked"] / result["seconds"])
    if result["acked"]:  # the server's CPU per ack: on a shared machine, steadier than the rate
        add("server_cpu_us_per_ack", 1e6 * used[0] / result["acked"])
    add("p50_ms", percentile(acks, 50))
    add("p99_ms", percentile(acks, 99))


def rooms50(ctx: Context, clients: int = 1000, rooms: int = 50) -> None:
    """rooms-50: 1000 clients in 50 rooms, every client sending (chat vs the ceiling)."""
    names = [f"room-{i % rooms}" for i in range(clients)]
    _senders(ctx, "rooms-50", ("ceiling", "chat"), names)


# Sends each persist sender keeps in flight for the ``_saturated`` metrics: 400 in all, so
# group commit batches grow until the server's core is the limit.
SATURATING_WINDOW = 8
PERSIST_WINDOWS = (("", 1), ("_saturated", SATURATING_WINDOW))


def persist(
    ctx: Context,
    senders: int = 50,
    systems: tuple[str, ...] = ("sqlite-per-commit", "chat"),
    scenario: str = "persist",
) -> None:
    """persist: 50 concurrent senders, each in its own room, acked after the commit."""
    names = [f"persist-{i}" for i in range(senders)]
    _senders(ctx, scenario, systems, names, PERSIST_WINDOWS)


def persist_mix(ctx: Context, senders: int = 50) -> None:
    """persist-mix: persist with 10 % of the entries reactions and edits, against 0 %."""
    persist(ctx, senders, MIX_SYSTEMS, "persist-mix")


def fanout_mix(ctx: Context, n: int = 100, latency_rate: float | None = None) -> None:
    """fanout-N-mix: fanout-N with 10 % of the entries reactions and edits, against 0 %;
    the latency phase at half of plain chat's saturation rate."""
    fanout(ctx, n, MIX_SYSTEMS, latency_rate, f"fanout-{n}-mix")


def metrics_on(ctx: Context, n: int = 100, senders: int = 50) -> None:
    """metrics-on: fanout-N and persist with ``serve --metrics`` against without, in the same
    run (``fanout-N-metrics``, ``persist-metrics``; the ratios are against plain chat), then
    the metrics calls of one ack timed in-process (``_metrics_calls``)."""
    fanout(ctx, n, METRICS_SYSTEMS, scenario=f"fanout-{n}-metrics")
    persist(ctx, senders, METRICS_SYSTEMS, "persist-metrics")
    _metrics_calls(ctx, "persist-metrics")


class _NoHub:
    connection_count = user_count = delivered = slow_closed = 0


# acks per group commit in the saturated persist window (400 sends in flight): a batch's
# observation is shared by them
ACKS_PER_BATCH = 64


def _metrics_calls(ctx: Context, scenario: str, count: int = 200_000) -> None:
    """The CPU of the metrics calls one ack makes (``committed``, and its share of a batch's),
    timed in-process with metrics off (``chat``: the no-op calls) and on (``chat-metrics``),
    and what the difference is of the server's CPU per ack at saturation measured above
    (``metrics_share_of_ack_pct``): a figure the machine's load barely moves, beside the
    end-to-end ratios, which it moves by tens of percent."""
    from chat_server.metrics import NO_METRICS, PrometheusMetrics

    took: dict[str, list[float]] = {}
    for _ in range(ctx.reps):
        for system, metrics in (
            ("chat", NO_METRICS),
            ("chat-metrics", PrometheusMetrics(_NoHub())),
        ):
            start, began = time.process_time(), time.perf_counter()
            for i in range(count):
                metrics.committed("message", True, began)
                if i % ACKS_PER_BATCH == 0:
                    metrics.batch(ACKS_PER_BATCH, 0.002)
            us = 1e6 * (time.process_time() - start) / count
            took.setdefault(system, []).append(us)
            ctx.results.add(scenario, system, "metrics_calls_us_per_ack", us)
    per_ack = ctx.results.get(scenario, "chat", "server_cpu_us_per_ack_saturated")
    if per_ack is not None:
        added = statistics.median(took["chat-metrics"]) - statistics.median(took["chat"])
        share = 100 * added / per_ack.median
        ctx.results.add(scenario, "chat-metrics", "metrics_share_of_ack_pct", share)
