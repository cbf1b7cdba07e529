"""The command line: run the scenarios, print the table, write the JSON records."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import writer_cpu
from benchmarks.harness import procs
from benchmarks.harness.context import Context, machine
from benchmarks.scenarios import scenario_nodes, soak
from benchmarks.scenarios.abuse import abuse
from benchmarks.scenarios.c100k import c100k
from benchmarks.scenarios.erase import delete_erase
from benchmarks.scenarios.postgres import persist_pg
from benchmarks.scenarios.resources import cli_send, history, idle_conns
from benchmarks.scenarios.retention import retention_purge
from benchmarks.scenarios.search import search_1m
from benchmarks.scenarios.terminal import tui_10k, tui_start
from benchmarks.scenarios.traffic import (
    fanout,
    fanout_mix,
    metrics_on,
    persist,
    persist_mix,
    rooms50,
)

SCENARIOS: dict[str, Callable[[Context], object]] = {
    "fanout-100": lambda ctx: fanout(ctx, 100),
    "fanout-1000": lambda ctx: fanout(ctx, 1000, latency_rate=20),
    "rooms-50": rooms50,
    "persist": persist,
    "persist-mix": persist_mix,
    "persist-pg": persist_pg,
    "fanout-100-mix": fanout_mix,
    "metrics-on": metrics_on,
    "delete-erase": delete_erase,
    "retention-purge": retention_purge,
    "idle-conns": idle_conns,
    "history": history,
    "search-1m": search_1m,
    "cli-send": cli_send,
    "tui-start": tui_start,
    "tui-10k": tui_10k,
    "fanout-2nodes": scenario_nodes.scenario,
    "abuse": abuse,
    "c100k": c100k,
}


def run(
    quick: bool,
    json_path: Path | None,
    only: list[str],
    keep: bool,
    repetitions: int | None = None,
    connections: int | None = None,
) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    ctx = Context(workdir=workdir, quick=quick, repetitions=repetitions, connections=connections)
    names = only or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    print(
        f"# chat benchmarks, {'quick' if quick else 'full'} run, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(f"# machine: {machine()}")
    print(
        f"# servers pinned to core {procs.SERVER_CORE}, load generators (separate processes)"
        f" to core {procs.LOAD_CORE}; the orchestrator is not pinned"
    )
    failed: list[str] = []
    try:
        for name in names:
            start = time.monotonic()
            try:
                SCENARIOS[name](ctx)
            except Exception as exc:  # one broken scenario must not lose the others' figures
                failed.append(name)
                ctx.log(f"{name}: FAILED: {type(exc).__name__}: {exc}")
            ctx.log(f"{name}: done in {time.monotonic() - start:.1f}s")
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(ctx.results.table())
    print(
        f"# total {time.monotonic() - ctx.started:.0f}s; ratio = median / median of the"
        " reference system in the same run"
    )
    if json_path is not None:
        ctx.results.write_json(json_path)
    if failed:
        print(f"# failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="run the scenarios and print the table")
    run_parser.add_argument(
        "--quick", action="store_true", help="one short repetition of each scenario (a smoke run)"
    )
    run_parser.add_argument("--json", type=Path, metavar="FILE", help="write flat records")
    run_parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SCENARIO",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}",
    )
    run_parser.add_argument("--keep", action="store_true", help="keep the work directory")
    run_parser.add_argument(
        "--repetitions", type=int, metavar="N", help="repetitions per scenario (default 5, 3 quick)"
    )
    run_parser.add_argument(
        "--connections",
        type=int,
        metavar="N",
        help="c100k: connections to hold (default 100000; 300 with --quick)",
    )
    soak_parser = sub.add_parser("soak", help="many clients chatting for N minutes")
    soak.add_arguments(soak_parser)
    writer_parser = sub.add_parser("writer", help="the SQLite writer's CPU per entry, in-process")
    writer_cpu.add_arguments(writer_parser)
    args = parser.parse_args(argv)
    if args.command == "soak":
        sys.exit(soak.run(args))
    if args.command == "writer":
        sys.exit(writer_cpu.run(args))
    if args.connections is not None and args.connections < 2:
        parser.error("--connections must be at least 2")
    sys.exit(run(args.quick, args.json, args.only, args.keep, args.repetitions, args.connections))
