"""Scenarios of cost rather than traffic: idle connections, history pages, one CLI send."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import baselines
from benchmarks.harness import procs
from benchmarks.harness.context import Context
from benchmarks.harness.stats import percentile
from benchmarks.scenarios import search
from benchmarks.scenarios.postgres import database_url

WARM = 20  # connections opened before the baseline RSS (lazy imports, first buffers)


def idle_conns(ctx: Context) -> None:
    """RSS per idle connection: VmRSS before and after opening N authenticated connections."""
    sizes = [500] if ctx.quick else [1000, 5000]
    tokens = ctx.ensure_accounts(max(sizes) + WARM)
    # the seed as deployed (eventlet: a greenlet per connection), and in Flask-SocketIO's
    # threading mode (a thread per connection: what the harness ran before eventlet)
    systems = ctx.with_mosquitto("idle-conns", ("ceiling", "chat", "seed", "seed-threading"))
    for _ in range(ctx.reps):
        for system in systems:  # interleaved: noise hits each alike
            with (
                ctx.server("idle-conns", system) as server,
                ctx.workers("idle-conns", system, server.port, "idlers") as (idlers,),
            ):
                opened = 0

                def open_more(count: int, start: int) -> None:
                    specs = [
                        {"room": "", "token": tokens[i], "tag": f"i{i}", "count": False}
                        for i in range(start, start + count)
                    ]
                    idlers.call("connect", clients=specs, timeout=300)

                open_more(WARM, 0)
                opened = WARM
                time.sleep(0.5)
                base = server.rss_kb()
                for size in sizes:
                    if system == "seed-threading" and size > 1000:
                        break  # one thread per connection: 1000 says enough
                    open_more(size - (opened - WARM), opened)
                    opened = size + WARM
                    time.sleep(0.5)
                    per_conn = (server.rss_kb() - base) / size
                    metric = "rss_kb_per_conn" if size == 1000 else f"rss_kb_per_conn_{size}"
                    ctx.results.add("idle-conns", system, metric, per_conn)


def history(
    ctx: Context, url: str | None = None, size: int | None = None, count: int | None = None
) -> None:
    """Random 100-message ``history before`` pages in a big room, vs a websocket ping: on
    SQLite (``chat``) and, when it answers, PostgreSQL (``chat-pg``: the same room COPYed
    into a fresh schema, as ``search-1m`` fills it)."""
    size = size or (100_000 if ctx.quick else 1_000_000)
    count = count or (200 if ctx.quick else 1000)
    tokens = {"chat": ctx.ensure_accounts(1)}
    db = ctx.fresh_db("chat-history")
    start = time.monotonic()
    procs.fill_room(db, "big", size, procs.user_ids(db, 1))
    ctx.log(f"history: room of {size:,} messages built in {time.monotonic() - start:.1f}s")
    pg = database_url(ctx, "history", url)
    with contextlib.ExitStack() as stack:
        servers = {"chat": stack.enter_context(ctx.server("history", "chat", db))}
        if pg is not None:
            start = time.monotonic()
            backing, tokens["chat-pg"] = stack.enter_context(
                search.pg_backing(ctx, size, 0, pg, rooms=0, text=procs.history_body)
            )
            ctx.log(f"history: PostgreSQL room built in {time.monotonic() - start:.1f}s")
            servers["chat-pg"] = stack.enter_context(
                ctx.server("history", "chat-pg", None, database_url=backing.url)
            )
        clients = {}
        for system, server in servers.items():
            (client,) = stack.enter_context(
                ctx.workers("history", "chat", server.port, f"{system}-client")
            )
            # joined first, as a client scrolling back through a room is
            token = tokens[system][0]
            client.call("connect", clients=[{"room": "big", "token": token, "count": False}])
            client.call("history", room="big", top=size, count=20, seed=0)  # warm-up
            clients[system] = client
        for rep in range(ctx.reps):
            for system, client in clients.items():
                pages = client.call("history", room="big", top=size, count=count, seed=rep + 1)
                ctx.results.add("history", system, "p50_ms", percentile(pages["ms"], 50))
                ctx.results.add("history", system, "p99_ms", percentile(pages["ms"], 99))
            pings = clients["chat"].call("pings", count=count)["ms"]
            ctx.results.add("history", "ping", "p50_ms", percentile(pings, 50))
            ctx.results.add("history", "ping", "p99_ms", percentile(pings, 99))


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    """Wall time of one command on the load core, in ms; it must exit 0."""
    start = time.perf_counter()
    done = subprocess.run(
        cmd,
        env=env,
        capture_output=True,
        timeout=60,
        preexec_fn=lambda: procs.pin(procs.LOAD_CORE),
    )
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return elapsed


def cli_send(ctx: Context) -> None:
    """Wall time of ``chat-tui send`` vs a minimal websockets sync-client script."""
    tokens = ctx.ensure_accounts(1)
    script = Path(baselines.__file__).with_name("minimal_send.py")
    tui = procs.tool("chat-tui")
    runs = 5 if ctx.quick else 20
    with ctx.server("cli-send", "chat") as server:
        url = f"ws://127.0.0.1:{server.port}/ws"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
        commands = {
            "script": [sys.executable, str(script), url, tokens[0], "cli", "hello from a script"],
            "chat": [*tui, "send", "--url", url, "--token", tokens[0], "--room", "cli",
                     "--create", "hello from chat-tui"],
        }  # fmt: skip
        ctx.log(f"cli-send: chat-tui send and minimal_send.py, each on core {procs.LOAD_CORE}")
        for cmd in commands.values():  # warm the page cache and the bytecode cache
            _timed(cmd, env)
        for _ in range(ctx.reps):
            walls: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(runs):  # interleaved, so drift hits both alike
                for name, cmd in commands.items():
                    walls[name].append(_timed(cmd, env))
            for name, times in walls.items():
                ctx.results.add("cli-send", name, "wall_ms", sorted(times)[len(times) // 2])
