"""c100k: many authenticated connections to one ``chat-server`` process, against the ceiling.

``--connections N`` (default 100,000; 300 with ``--quick``) raw websocket clients, each a
chat account of its own logged in with its token (``hello``), spread over several
load-generator processes on the load core and over loopback source addresses 127.0.0.2 and up
(20,000 per address, clear of the ephemeral-port range), connected in stages (10,000, 50,000,
100,000, and N), each only logging in: ``connects_per_s`` measures logins. Then the first
``min(10,000, N)``, members of the room ``c100k`` (written into the database beforehand),
``join`` it, 100 at a time per load generator: ``room_join_s`` (every join's reply carries
the room's member list and every join is a presence event to the members already there,
so the phase grows with the square of the room).

Measured per system, once (one repetition: the run is long): ``rss_kb_per_conn_<count>``
(the server's VmRSS growth over the connections at each stage), ``rss_mb`` with all
connected, ``connects_per_s`` over the connect storm, ``idle_cpu_pct`` (the server's CPU over
5 s, 2 s with ``--quick``, every connection open and nothing sent), ``room_p50_ms`` and
``room_p99_ms`` (a message to the room, one a second, until the last member has it), and
``reconnect_s``: the server stopped (SIGTERM) and started again on the same port and
database, every client coming back with the backoff of chat's own clients
(``chat_tui.client.sequencing.Backoff``; log in within 10 s, then join), timed from the stop
until the last one is back; ``back_pct`` says how many came back within 120 s. The ceiling
(no accounts, no storage) runs the same steps; its clients connect to the path ``/c100k`` or
``/``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.harness import procs
from benchmarks.harness.context import Context
from benchmarks.harness.stats import percentile
from benchmarks.harness.worker import Worker
from benchmarks.scenarios.traffic import _drain

SCENARIO = "c100k"
ROOM = "c100k"
STAGES = (10_000, 50_000, 100_000)
PER_WORKER = 10_000  # clients per load-generator process
PER_SOURCE = 20_000  # clients per loopback source address
ROOM_MEMBERS = 10_000
MESSAGES = 20  # one a second
RESTART_LIMIT_S = 120.0
CONNECT_CONCURRENCY = 100  # handshakes in flight per load generator
# --quick: small enough for its 3 minutes (the join and restart phases grow with the
# square of the room: 2,000 took 150 s on the busy machine)
QUICK_CONNECTIONS = 300


def counts(total: int) -> list[int]:
    """The stages at which the RSS is read: 10k, 50k, 100k below ``total``, and ``total``."""
    return sorted({s for s in STAGES if s < total} | {total})


def source(index: int) -> str:
    """The loopback address client ``index`` connects from."""
    return f"127.0.0.{2 + index // PER_SOURCE}"


def members(total: int) -> int:
    return min(ROOM_MEMBERS, total)


def label(count: int) -> str:
    """10000 -> "10k" (a metric's suffix)."""
    return f"{count // 1000}k" if count % 1000 == 0 else str(count)


def specs(
    tokens: list[str], first: int, last: int, room_members: int, room: str = ""
) -> list[dict[str, Any]]:
    """Clients ``first``..``last - 1``; members (in ``room`` from the start, else they join
    later) note when messages came."""
    return [
        {"room": room if i < room_members else "", "token": tokens[i], "tag": f"k{i}",
         "count": i < room_members, "latest": i < room_members, "source": source(i)}
        for i in range(first, last)
    ]  # fmt: skip


def limits(total: int) -> str | None:
    """Why this machine cannot hold ``total`` connections twice over (clients and server),
    or None."""
    nofile = procs.raise_nofile()
    if nofile < total + 1000:
        return f"RLIMIT_NOFILE is {nofile} (needs {total + 1000})"
    ports = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    low, high = int(ports[0]), int(ports[1])
    if high - low < PER_SOURCE:
        return f"ip_local_port_range {low}-{high} is narrower than {PER_SOURCE}"
    if math.ceil(total / PER_SOURCE) > 250:
        return "more than 250 loopback source addresses needed"
    return None


@contextlib.contextmanager
def _loadgens(ctx: Context, system: str, port: int, total: int) -> Iterator[list[Worker]]:
    workers = [
        Worker(f"clients-{i}", system, "127.0.0.1", port, procs.LOAD_CORE)
        for i in range(math.ceil(total / PER_WORKER))
    ]
    try:
        where = ", ".join(f"{w.role} pid {w.pid}" for w in workers)
        ctx.log(f"{SCENARIO}: {system} load on core {procs.LOAD_CORE}: {where}")
        yield workers
    finally:
        for worker in workers:
            worker.stop()


def _all(workers: list[Worker], name: str, timeout: float, **args: Any) -> list[Any]:
    """The same command on every worker at once."""
    for worker in workers:
        worker.begin(name, **args)
    return [worker.finish(name, timeout) for worker in workers]


def c100k(ctx: Context) -> None:
    total = ctx.connections or (QUICK_CONNECTIONS if ctx.quick else 100_000)
    why = limits(total)
    if why:
        ctx.log(f"{SCENARIO}: skipped at {total:,} connections: {why}")
        return
    tokens = ctx.ensure_accounts(total + 1)  # the last one publishes
    room_members = members(total)
    ctx.log(f"{SCENARIO}: {total:,} connections, {room_members:,} in the room")
    for system in ("ceiling", "chat"):
        _one_system(ctx, system, total, tokens, room_members)


def _one_system(
    ctx: Context, system: str, total: int, tokens: list[str], room_members: int
) -> None:
    def add(metric: str, value: float) -> None:
        ctx.results.add(SCENARIO, system, metric, value)

    db = None
    if system == "chat":
        db = ctx.fresh_db("chat-c100k")
        ids = procs.user_ids(db, total + 1)
        procs.fill_room(db, ROOM, 0, [*ids[:room_members], ids[total]])
    server = procs.Server(system, ctx.workdir, db)
    server.port = procs.free_port()  # the same after the restart
    server.start()
    ctx.log(f"{SCENARIO}: {system} server pid {server.pid} on core {procs.SERVER_CORE}")
    try:
        with _loadgens(ctx, system, server.port, total) as workers:
            publisher = Worker("publisher", system, "127.0.0.1", server.port, procs.LOAD_CORE)
            try:
                _measure(ctx, add, server, workers, publisher, total, tokens, room_members)
            finally:
                publisher.stop()
    finally:
        server.stop()


def _measure(
    ctx: Context,
    add: Any,
    server: procs.Server,
    workers: list[Worker],
    publisher: Worker,
    total: int,
    tokens: list[str],
    room_members: int,
) -> None:
    time.sleep(1.0)
    base = server.rss_kb()
    opened, storm_s = 0, 0.0
    for stage in counts(total):
        # the ceiling's room is its path, fixed at connect
        batch = specs(
            tokens, opened, stage, room_members, ROOM if server.system == "ceiling" else ""
        )
        start = time.monotonic()
        for i, worker in enumerate(workers):
            worker.begin(
                "connect", clients=batch[i :: len(workers)], concurrency=CONNECT_CONCURRENCY
            )
        for worker in workers:
            worker.finish("connect", timeout=900)
        took = time.monotonic() - start
        storm_s += took
        opened = stage
        time.sleep(1.0)
        rss = server.rss_kb()
        ctx.log(
            f"{SCENARIO}: {server.system}: {stage:,} connected ({took:.1f}s for this stage),"
            f" RSS {rss / 1024:.0f} MB"
        )
        add(f"rss_kb_per_conn_{label(stage)}", (rss - base) / stage)
    add("rss_mb", server.rss_kb() / 1024)
    add("connects_per_s", total / storm_s)
    cpu = procs.cpu_seconds(server.pid)
    rest = 2.0 if ctx.quick else 5.0
    time.sleep(rest)
    add("idle_cpu_pct", 100 * (procs.cpu_seconds(server.pid) - cpu) / rest)
    if server.system == "chat":
        done = _all(workers, "join_all", 900, room=ROOM, concurrency=CONNECT_CONCURRENCY)
        joined_s = max(d["seconds"] for d in done)
        add("room_join_s", joined_s)
        ctx.log(f"{SCENARIO}: chat: {room_members:,} joined {ROOM} in {joined_s:.1f}s")
    _room(ctx, add, workers, publisher, tokens[total], room_members)
    _restart(ctx, add, server, workers, total)


def _room(
    ctx: Context, add: Any, workers: list[Worker], publisher: Worker, token: str, n: int
) -> None:
    """One message every 200 ms to the room: the time until its last member has it."""
    publisher.call("connect", clients=[{"room": ROOM, "token": token, "tag": "pub",
                                        "count": False}])  # fmt: skip
    count = 5 if ctx.quick else MESSAGES
    before = sum(m["delivered"] for m in _all(workers, "mark", 300))
    # one a second: 10,000 deliveries each, which the load core must read in far less
    publisher.call("rate", per_second=1, count=count, timeout=300)
    got, _ = _drain(workers, before + count * n, 60.0, stall_s=5.0)
    if got < before + count * n:
        ctx.log(f"{SCENARIO}: {got - before:,} of {count * n:,} room deliveries arrived")
    latest: dict[int, int] = {}
    for part in _all(workers, "take_latest", 300):
        for sent, arrived in part["latest"].items():
            latest[int(sent)] = max(latest.get(int(sent), 0), arrived)
    times = [(arrived - sent) / 1e6 for sent, arrived in latest.items()]
    if times:
        add("room_p50_ms", percentile(times, 50))
        add("room_p99_ms", percentile(times, 99))


def _restart(
    ctx: Context, add: Any, server: procs.Server, workers: list[Worker], total: int
) -> None:
    """Stop the server, start it again on the same port: until every client is back."""
    _all(workers, "rejoin_start", 300)
    stopped = time.monotonic_ns()
    server.stop()
    server.start(timeout=120)
    ctx.log(
        f"{SCENARIO}: {server.system}: restarted in {(time.monotonic_ns() - stopped) / 1e9:.1f}s"
        f" (pid {server.pid})"
    )
    deadline = time.monotonic() + RESTART_LIMIT_S
    back, last, status = 0, stopped, []
    # every 10 s: how many are back, and where the CPU goes (the server's core, the load's)
    pids = [server.pid, *(w.pid for w in workers)]
    cpu, mark = [procs.cpu_seconds(pid) for pid in pids], time.monotonic()
    while time.monotonic() < deadline:
        status = _all(workers, "rejoin_status", 300)  # a worker busy reconnecting is slow
        back = sum(s["back"] for s in status)
        last = max([stopped, *(s["last_ns"] for s in status)])
        if back >= total:
            break
        if time.monotonic() - mark >= 10.0:
            now = [procs.cpu_seconds(pid) for pid in pids]
            spent = time.monotonic() - mark
            ctx.log(
                f"{SCENARIO}: {server.system}: {(time.monotonic_ns() - stopped) / 1e9:.0f}s after"
                f" the stop: {back:,} back; CPU server {100 * (now[0] - cpu[0]) / spent:.0f} %,"
                f" load {100 * (sum(now[1:]) - sum(cpu[1:])) / spent:.0f} %"
            )
            cpu, mark = now, time.monotonic()
        time.sleep(0.5)
    add("back_pct", 100 * back / total)
    refusals: dict[str, int] = {}
    for part in status:
        for reason, n in part["refusals"].items():
            refusals[reason] = refusals.get(reason, 0) + n
    if refusals:
        ctx.log(f"{SCENARIO}: {server.system}: failed reconnect attempts: {refusals}")
    unclosed = sum(part["unclosed"] for part in status)
    if unclosed:
        ctx.log(f"{SCENARIO}: {server.system}: {unclosed:,} clients never saw the stop")
    if back >= total:
        add("reconnect_s", (last - stopped) / 1e9)
    else:
        ctx.log(f"{SCENARIO}: {server.system}: {back:,} of {total:,} back within the limit")
