"""The soak: many clients chatting at a human rate for N minutes, the server's resources per minute.

``python -m benchmarks soak --minutes N [--clients 500]``. The server (``chat-server serve``, its
defaults, on a fresh SQLite file) runs pinned to the server core; the clients live in one separate
load-generator process on the load core (raw websocket clients,
``benchmarks/harness/client.py``). Every client is a member of one of ``clients / 10`` rooms and
sends a ~100-character message at exponentially distributed intervals (mean ``--interval``,
10 s: a lively chat room), and every minute a few clients (``--churn``) disconnect and come back,
as people do. Each minute the orchestrator prints the server's VmRSS, its open file descriptors
(``/proc/<pid>/fd``), the size of the ``-wal`` file, the send-to-ack and publish-to-receive p99
of that minute, and the counts of acks, deliveries and error replies. At the end: the RSS drift
(last minute against the first), the fd growth and the largest WAL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks.harness import procs, wire
from benchmarks.harness.client import RawClient, Tally, open_client
from benchmarks.harness.context import Context, machine
from benchmarks.harness.stats import percentile

ROOM_SIZE = 10
SAMPLE_EVERY = 10  # one client in ten times every message it receives


class _Chatters:
    """The load-generator side: the clients, their chat loop, and the per-minute figures."""

    def __init__(self, port: int, tokens: list[str], interval: float, seed: int) -> None:
        self.port = port
        self.tokens = tokens
        self.interval = interval
        self.rng = random.Random(seed)
        self.tally = Tally()
        self.clients: dict[int, RawClient] = {}
        self.generation: dict[int, int] = {}
        self.reconnects = 0
        self.failed_reconnects = 0

    def _client(self, i: int) -> RawClient:
        # a fresh tag per connection: its message ids restart at 1, and an id already
        # stored would be acked again without being stored or delivered (idempotency)
        self.generation[i] = self.generation.get(i, -1) + 1
        return RawClient(
            wire.CHAT,
            self.tally,
            host="127.0.0.1",
            port=self.port,
            room=f"soak-{i // ROOM_SIZE}",
            token=self.tokens[i],
            tag=f"k{i}g{self.generation[i]}",
            sample=i % SAMPLE_EVERY == 0,
        )

    async def connect_all(self) -> None:
        gate = asyncio.Semaphore(50)

        async def one(i: int) -> None:
            async with gate:
                self.clients[i] = await open_client(self._client(i))

        await asyncio.gather(*(one(i) for i in range(len(self.tokens))))

    async def chat(self, i: int, until: float) -> None:
        """Client ``i`` sends at random intervals until ``until`` (loop time)."""
        loop = asyncio.get_running_loop()
        while True:
            delay = self.rng.expovariate(1.0 / self.interval)
            if loop.time() + delay >= until:
                return
            await asyncio.sleep(delay)
            client = self.clients.get(i)
            if client is not None and client.state == "ready" and not client.closed.done():
                client.send_one()

    async def churn(self, count: int) -> None:
        """``count`` random clients leave and come back (a new connection, join without since)."""
        for i in self.rng.sample(sorted(self.clients), min(count, len(self.clients))):
            old = self.clients.pop(i)
            old.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await old.closed
            try:
                self.clients[i] = await open_client(self._client(i), timeout=20)
                self.reconnects += 1
            except (OSError, ConnectionError, TimeoutError):
                self.failed_reconnects += 1

    def minute(self) -> dict[str, Any]:
        """The figures since the last call (latencies in ms)."""
        deliveries, acks = self.tally.take()
        counts = {"acked": self.tally.acked, "delivered": self.tally.delivered}
        out = {
            **counts,
            "errors": self.tally.errors,
            "ack_ms": [a / 1e6 for a in acks],
            "delivery_ms": [d / 1e6 for d in deliveries],
            "closed": sum(1 for c in self.clients.values() if c.closed.done()),
            "reconnects": self.reconnects,
            "failed_reconnects": self.failed_reconnects,
        }
        return out


async def _run_chatters(
    conn: Connection, port: int, tokens: list[str], opts: dict[str, Any]
) -> None:
    chatters = _Chatters(port, tokens, opts["interval"], opts["seed"])
    start = time.monotonic()
    await chatters.connect_all()
    conn.send(("connected", time.monotonic() - start))
    loop = asyncio.get_running_loop()
    until = loop.time() + opts["minutes"] * 60
    tasks = [asyncio.create_task(chatters.chat(i, until)) for i in range(len(tokens))]
    for _ in range(opts["minutes"]):
        next_minute = loop.time() + 60
        await asyncio.sleep(max(0.0, next_minute - loop.time() - 5))
        await chatters.churn(opts["churn"])
        await asyncio.sleep(max(0.0, next_minute - loop.time()))
        conn.send(("minute", chatters.minute()))
    await asyncio.gather(*tasks)
    await asyncio.sleep(2)  # the last acks
    conn.send(("done", chatters.minute()))
    for client in chatters.clients.values():
        client.close()


def _chatters_main(conn: Connection, port: int, tokens: list[str], opts: dict[str, Any]) -> None:
    procs.pin(procs.LOAD_CORE)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover
        runner = asyncio.Runner()
    with runner:
        runner.run(_run_chatters(conn, port, tokens, opts))


def _fds(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


def _wal_kb(db: Path) -> int:
    wal = Path(f"{db}-wal")
    return wal.stat().st_size // 1024 if wal.exists() else 0


def _p99(values: list[float]) -> str:
    return f"{percentile(values, 99):8.1f}" if values else "       -"


def soak(ctx: Context, minutes: int, clients: int, interval: float, churn: int) -> int:
    """Run the soak; prints one line per minute and the summary. Returns an exit status."""
    tokens = ctx.ensure_accounts(clients)
    db = ctx.fresh_db("chat-soak")
    with ctx.server("soak", "chat", db) as server:
        mp = multiprocessing.get_context("fork")
        here, there = mp.Pipe()
        opts = {"minutes": minutes, "interval": interval, "churn": churn, "seed": 8}
        proc = mp.Process(target=_chatters_main, args=(there, server.port, tokens, opts))
        proc.start()
        there.close()
        try:
            if not here.poll(300):
                raise RuntimeError("the clients did not connect within 300 s")
            _, took = here.recv()
            ctx.log(f"soak: {clients} clients connected in {took:.1f}s (pid {proc.pid})")
            print(
                "minute  rss_kb   fds  wal_kb  ack_p99_ms  recv_p99_ms    acked  delivered"
                "  errors  closed"
            )
            rows: list[dict[str, Any]] = []
            prev = {"acked": 0, "delivered": 0, "errors": 0}
            for m in range(1, minutes + 2):
                if not here.poll(120):
                    raise RuntimeError(f"no report from the clients for minute {m}")
                kind, fig = here.recv()
                row = {
                    "minute": m,
                    "rss_kb": server.rss_kb(),
                    "fds": _fds(server.pid),
                    "wal_kb": _wal_kb(db),
                    **{k: fig[k] - prev[k] for k in prev},
                    "closed": fig["closed"],
                }
                prev = {k: fig[k] for k in prev}
                label = "end" if kind == "done" else str(m)
                print(
                    f"{label:>6} {row['rss_kb']:7d} {row['fds']:5d} {row['wal_kb']:7d}"
                    f"    {_p99(fig['ack_ms'])}     {_p99(fig['delivery_ms'])}"
                    f" {row['acked']:8d} {row['delivered']:10d} {row['errors']:7d}"
                    f" {row['closed']:7d}",
                    flush=True,
                )
                if kind == "done":
                    break
                rows.append(row)
            proc.join(30)
            _server_errors(server.log)
        finally:
            if proc.is_alive():
                proc.kill()
                proc.join(5)
    return _summary(rows, fig)


def _server_errors(log: Path) -> None:
    """The server's own complaints during the soak (its log runs at ``warning``)."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    print(f"# server log: {len(lines)} lines")
    for line in lines[:10]:
        print(f"#   {line[:200]}")


def _summary(rows: list[dict[str, Any]], last: dict[str, Any]) -> int:
    if not rows:
        print("# no full minute measured")
        return 1
    first, final = rows[0], rows[-1]
    drift = 100 * (final["rss_kb"] - first["rss_kb"]) / first["rss_kb"]
    print(
        f"# RSS {first['rss_kb']} kB after minute 1, {final['rss_kb']} kB at the end:"
        f" drift {drift:+.1f}% (max {max(r['rss_kb'] for r in rows)} kB)"
    )
    print(
        f"# fds {first['fds']} after minute 1, {final['fds']} at the end"
        f" (max {max(r['fds'] for r in rows)}); WAL max {max(r['wal_kb'] for r in rows)} kB"
    )
    print(
        f"# {sum(r['acked'] for r in rows)} messages acked, {sum(r['delivered'] for r in rows)}"
        f" delivered, {sum(r['errors'] for r in rows)} error replies;"
        f" {last['reconnects']} reconnects ({last['failed_reconnects']} failed)"
    )
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks soak", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    sys.exit(run(args))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=int, default=30, help="how long (default 30)")
    parser.add_argument("--clients", type=int, default=500, help="how many (default 500)")
    parser.add_argument(
        "--interval", type=float, default=10.0, help="mean seconds between a client's sends"
    )
    parser.add_argument("--churn", type=int, default=25, help="clients reconnecting per minute")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")


def run(args: argparse.Namespace) -> int:
    """The ``soak`` subcommand."""
    workdir = Path(tempfile.mkdtemp(prefix="chat-soak-"))
    ctx = Context(workdir=workdir, quick=False)
    print(
        f"# chat soak, {args.minutes} min, {args.clients} clients,"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(f"# machine: {machine()}")
    try:
        return soak(ctx, args.minutes, args.clients, args.interval, args.churn)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
