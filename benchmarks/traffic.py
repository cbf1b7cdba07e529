"""Message-traffic scenarios: fan-out to one room, 50 busy rooms, durable sends.

Each system runs its repetitions against one server start, one set of connected clients,
and a fresh database; the ceiling runs first, so the latency phase of the others uses
the ceiling's own saturation rate from the same run.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.context import Context
from benchmarks.stats import percentile
from benchmarks.worker import Worker

SAMPLERS = 20  # subscribers that time every message they receive


def _drain(subs: list[Worker], expected: int, limit_s: float) -> tuple[int, int]:
    """Poll until the subscribers got ``expected`` deliveries or stop receiving.

    Returns (delivered, ns of the last mark that saw the count grow).
    """
    deadline = time.monotonic() + limit_s
    last_count, last_ns, still = -1, 0, time.monotonic()
    while time.monotonic() < deadline:
        marks = [w.call("mark") for w in subs]
        count = sum(m["delivered"] for m in marks)
        if count != last_count:
            last_count, last_ns, still = count, max(m["ns"] for m in marks), time.monotonic()
        if count >= expected or time.monotonic() - still > 1.5:
            break
        time.sleep(0.02)
    return last_count, last_ns


def _saturate(
    ctx: Context, scenario: str, system: str, subs: Worker, pub: Worker, n: int, window: int
) -> float:
    """Closed loop: the publisher keeps ``window`` messages in flight (the next one goes
    when the server has taken one, i.e. on its ack or own echo); deliveries/s to the
    subscribers, first send to last delivery."""
    duration = ctx.seconds
    bound = 200_000
    before = subs.call("mark")
    warm = pub.call("loop", window=window, duration=0.3, max_sends=bound)
    _drain([subs], before["delivered"] + warm["acked"] * n, 10.0)
    rates = []
    for _ in range(ctx.reps):
        before = subs.call("mark")
        result = pub.call("loop", window=window, duration=duration, max_sends=bound)
        expected = before["delivered"] + result["acked"] * n
        delivered, last_ns = _drain([subs], expected, 20.0)
        got = delivered - before["delivered"]
        lost = result["acked"] * n - got
        if lost:
            ctx.log(f"{scenario} {system}: {lost} deliveries missing")
        ctx.results.add(scenario, system, "lost", lost)
        rate = got / ((last_ns - before["ns"]) / 1e9)
        rates.append(rate)
        ctx.results.add(scenario, system, "deliveries_per_s", rate)
        subs.call("take")
    return sorted(rates)[len(rates) // 2]


def _latency(
    ctx: Context, scenario: str, system: str, subs: Worker, pub: Worker, n: int, rate: float
) -> None:
    """Publish at a fixed rate; publish-to-receive p50/p99 over the sampled subscribers."""
    seconds = ctx.seconds
    count = max(20, min(int(rate * seconds), 20_000))
    for _ in range(ctx.reps):
        subs.call("take")
        before = subs.call("mark")
        result = pub.call("rate", per_second=rate, count=count)
        _drain([subs], before["delivered"] + count * n, 20.0)
        samples = subs.call("take")["delivery_ms"]
        if not samples:
            raise RuntimeError(f"{scenario} {system}: no latency samples")
        ctx.results.add(scenario, system, "p50_ms", percentile(samples, 50))
        ctx.results.add(scenario, system, "p99_ms", percentile(samples, 99))
        ctx.results.add(scenario, system, "offered_msgs_per_s", result["offered_per_s"])


def fanout(
    ctx: Context,
    n: int,
    systems: tuple[str, ...] = ("ceiling", "chat", "seed"),
    latency_rate: float | None = None,
) -> None:
    """fanout-N: one room, N subscribers, one publisher; saturation, then latency.

    The latency phase offers ``latency_rate`` messages/s, by default half of the first
    system's (the ceiling's) saturation rate in this run.
    """
    scenario = f"fanout-{n}"
    tokens = ctx.ensure_accounts(n + 1)
    window = 32 if n <= 100 else 8
    half_rate = latency_rate
    for system in systems:
        with (
            ctx.server(scenario, system) as server,
            ctx.workers(scenario, system, server.port, "subscribers", "publisher") as (subs, pub),
        ):
            specs: list[dict[str, Any]] = [
                {"room": "fan", "token": tokens[i], "tag": f"s{i}", "sample": i < SAMPLERS}
                for i in range(n)
            ]
            took = subs.call("connect", clients=specs)["seconds"]
            pub.call(
                "connect",
                clients=[{"room": "fan", "token": tokens[n], "tag": "p0", "count": False}],
            )
            ctx.log(f"{scenario}: {system}: {n} subscribers connected in {took:.1f}s")
            saturation = _saturate(ctx, scenario, system, subs, pub, n, window)
            if half_rate is None:
                half_rate = saturation / n / 2
                ctx.log(f"{scenario}: latency at half the ceiling's rate: {half_rate:.0f} msg/s")
            _latency(ctx, scenario, system, subs, pub, n, half_rate)


def _senders(
    ctx: Context, scenario: str, systems: tuple[str, ...], rooms: list[str], window: int = 1
) -> None:
    """Every client keeps ``window`` sends in flight to its room; acked sends/s and the
    send-to-ack latency (chat: its ack, after commit; the ceiling: its own echo)."""
    tokens = ctx.ensure_accounts(len(rooms))
    for system in systems:
        with (
            ctx.server(scenario, system) as server,
            ctx.workers(scenario, system, server.port, "senders") as (senders,),
        ):
            specs: list[dict[str, Any]] = [
                {"room": room, "token": tokens[i], "tag": f"c{i}", "count": False}
                for i, room in enumerate(rooms)
            ]
            took = senders.call("connect", clients=specs)["seconds"]
            ctx.log(f"{scenario}: {system}: {len(rooms)} senders connected in {took:.1f}s")
            senders.call("loop", window=window, duration=0.3, max_sends=100_000)  # warm-up
            for _ in range(ctx.reps):
                result = senders.call("loop", window=window, duration=ctx.seconds,
                                      max_sends=1_000_000)  # fmt: skip
                if result["unacked"] or result["errors"]:
                    ctx.log(
                        f"{scenario}: {system}: {result['errors']} error replies,"
                        f" {result['unacked']} sends never acked"
                    )
                ctx.results.add(scenario, system, "errors", result["errors"])
                acks = result["ack_ms"]
                ctx.results.add(
                    scenario, system, "acked_per_s", result["acked"] / result["seconds"]
                )
                ctx.results.add(scenario, system, "p50_ms", percentile(acks, 50))
                ctx.results.add(scenario, system, "p99_ms", percentile(acks, 99))


def rooms50(ctx: Context, clients: int = 1000, rooms: int = 50) -> None:
    """rooms-50: 1000 clients in 50 rooms, every client sending (chat vs the ceiling)."""
    names = [f"room-{i % rooms}" for i in range(clients)]
    _senders(ctx, "rooms-50", ("ceiling", "chat"), names)


def persist(ctx: Context, senders: int = 50) -> None:
    """persist: 50 concurrent senders, each in its own room, acked after the commit."""
    names = [f"persist-{i}" for i in range(senders)]
    _senders(ctx, "persist", ("sqlite-per-commit", "chat"), names)
