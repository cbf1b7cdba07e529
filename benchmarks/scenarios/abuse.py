"""A bystander's login and history while one attack runs, against the same bystander on an
idle server (issue 15's figures).

Every phase starts its own server on a copy of one database (the bystander's room of 100
messages, the attacker's room of long messages, a big room of common words), so the attacks
do not add up. The bystander (one load-generator process) logs in with its password on
new connections, back to back, and meanwhile asks 100-message history pages on a joined
one, spread over the phase; the attack
runs in another load-generator process on the same core, at a lower priority, from another
loopback address (127.0.0.2). The orchestrator samples the server's RSS meanwhile.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import procs
from benchmarks.harness.context import Context
from benchmarks.harness.stats import percentile

SCENARIO = "abuse"
PHASES = ("idle", "memory", "pages", "lockout", "signup", "rooms", "search", "connections")
NICK, PASSWORD = "bench-admin", "bench-password"  # the template's account with a password
LOBBY, DUMP, HAYSTACK = "lobby", "dump", "haystack"
WIDE = "語" * 4000  # 12 kB of UTF-8: the longest body
# every message of the haystack holds every word of the query
QUERY = (  # 128 letters: 16 words of 8
    "absolute bachelor calendar database elephant festival graduate hospital"
    " industry junction keyboard language mountain notebook operator painting"
)


@dataclass(frozen=True)
class Sizes:
    rounds: int  # bystander logins, and history pages, at most
    seconds: float  # the bystander's time at most; a request under way gets `grace` more
    grace: float
    hostile: int  # connections of the memory attack
    silent: int  # connections of the connections attack
    long_messages: int  # in the attacker's room
    haystack: int  # messages in the room searched
    engage_s: float = 5.0  # time an attack may take to get under way before measuring


def sizes(ctx: Context) -> Sizes:
    if ctx.quick:
        return Sizes(rounds=15, seconds=2, grace=1, hostile=100, silent=300,
                     long_messages=500, haystack=20_000, engage_s=1.5)  # fmt: skip
    return Sizes(rounds=200, seconds=16, grace=4, hostile=100, silent=2000,
                 long_messages=500, haystack=20_000)  # fmt: skip


def attack_args(phase: str, token: str, size: Sizes) -> dict[str, Any]:
    """What each attack is given (see ``benchmarks/harness/hostile.py``)."""
    args: dict[str, dict[str, Any]] = {
        "memory": {"token": token, "room": DUMP, "conns": size.hostile},
        "pages": {"token": token, "room": DUMP, "conns": 32, "window": 20},
        "lockout": {"nick": NICK, "conns": 6},
        "signup": {"conns": 8},
        "rooms": {"token": token, "window": 64, "listers": 3},
        "search": {"token": token, "query": QUERY, "conns": 3},
        "connections": {"conns": size.silent},
    }
    return args[phase]


def build(ctx: Context, size: Sizes) -> Path:
    """The database every phase starts from: accounts, and the three rooms."""
    db = ctx.fresh_db("chat-abuse")
    with contextlib.closing(sqlite3.connect(db)) as conn:
        ids = dict(conn.execute("SELECT nick, id FROM users WHERE nick IN ('bench0', ?)", (NICK,)))
    attacker, bystander = ids["bench0"], ids[NICK]
    start = time.monotonic()
    procs.fill_room(db, LOBBY, 100, [attacker, bystander])
    procs.fill_room(db, DUMP, size.long_messages, [attacker], body=lambda seq: WIDE)
    procs.fill_room(db, HAYSTACK, size.haystack, [attacker], body=lambda seq: f"{QUERY} {seq}")
    ctx.log(f"{SCENARIO}: database built in {time.monotonic() - start:.1f}s")
    return db


class RssPeak:
    """The highest VmRSS of a server, sampled every 20 ms in a thread."""

    def __init__(self, server: procs.Server) -> None:
        self.server = server
        self.base = self.peak = server.rss_kb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss", daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            with contextlib.suppress(OSError, RuntimeError):
                self.peak = max(self.peak, self.server.rss_kb())

    @contextlib.contextmanager
    def watching(self) -> Iterator[RssPeak]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(5)


def abuse(ctx: Context, phases: tuple[str, ...] = PHASES, size: Sizes | None = None) -> None:
    """Every phase ``ctx.reps`` times, interleaved (idle, memory, ..., idle, memory, ...)."""
    size = size or sizes(ctx)
    token = ctx.ensure_accounts(1)[0]
    template = build(ctx, size)
    for _ in range(ctx.reps):
        for phase in phases:
            run_phase(ctx, template, phase, token, size)


def run_phase(ctx: Context, template: Path, phase: str, token: str, size: Sizes) -> None:
    db = procs.fresh_copy(template, ctx.workdir / f"chat-abuse-{phase}-{time.monotonic_ns()}.db")
    roles = ("bystander",) if phase == "idle" else ("bystander", "attacker")
    with (
        # every limit at its default: the abuse scenario measures the server's defenses
        ctx.server(SCENARIO, "chat-defended", db) as server,
        ctx.workers(SCENARIO, phase, server.port, *roles, dialect="chat") as workers,
    ):
        bystander = workers[0]
        bystander.call("bystander_setup", nick=NICK, password=PASSWORD, room=LOBBY, timeout=90)
        attacked: dict[str, Any] = {}
        with RssPeak(server).watching() as rss:
            if phase != "idle":
                # the attack outlives the bystander's run; attack_stop ends it
                lasts = size.engage_s + size.seconds + size.grace + 5
                engaged = workers[1].call(
                    "attack_start",
                    kind=phase,
                    seconds=lasts,
                    engage_s=size.engage_s,
                    timeout=size.engage_s + 60,
                    **attack_args(phase, token, size),
                )
                if not engaged["engaged"]:
                    ctx.log(f"{SCENARIO}: {phase}: not fully under way after {size.engage_s}s")
            got = bystander.call(
                "bystander_run",
                count=size.rounds,
                seconds=size.seconds,
                grace=size.grace,
                timeout=size.seconds + size.grace + 60,
            )
            if phase != "idle":
                attacked = workers[1].call("attack_stop", timeout=60)
    record(ctx, phase, got, rss, attacked)
    errors = log_errors(server.log)
    ctx.results.add(SCENARIO, phase, "log_errors", errors)
    if errors:
        ctx.log(f"{SCENARIO}: {phase}: {errors} ERROR or traceback lines in {server.log}")


def log_errors(log: Path) -> int:
    """Lines of the server's log (at ``warning``) that say ERROR or start a traceback:
    an attack must leave none (issue 15: no traceback in the log)."""
    with open(log, encoding="utf-8", errors="replace") as lines:
        return sum(" ERROR " in line or line.startswith("Traceback") for line in lines)


def record(
    ctx: Context, phase: str, got: dict[str, Any], rss: RssPeak, attacked: dict[str, Any]
) -> None:
    add = ctx.results.add
    for name in ("login", "history"):
        times = got[f"{name}_ms"]
        if times:  # none when every one failed (counted in bystander_failed)
            add(SCENARIO, phase, f"{name}_p50_ms", percentile(times, 50))
            add(SCENARIO, phase, f"{name}_p99_ms", percentile(times, 99))
    add(SCENARIO, phase, "bystander_failed", got["failed"])
    add(SCENARIO, phase, "bystander_timeouts", got["timeouts"])
    add(SCENARIO, phase, "rss_mb", rss.peak / 1024)
    add(SCENARIO, phase, "rss_growth_mb", (rss.peak - rss.base) / 1024)
    summary = ""
    if attacked:
        add(SCENARIO, phase, "served", attacked["served"])
        add(SCENARIO, phase, "refused", attacked["refused"])
        add(SCENARIO, phase, "attacker_errors", attacked["failed"])
        summary = (
            f"; attacker served {attacked['served']}, refused {attacked['refused']},"
            f" errors {attacked['failed']}"
        )
    login = got["login_ms"]
    if got["reasons"]:
        failures = ", ".join(f"{reason} x{n}" for reason, n in sorted(got["reasons"].items()))
        summary += f"; the bystander's failures: {failures}"
    ctx.log(
        f"{SCENARIO}: {phase}: {len(login)} logins, {len(got['history_ms'])} pages, login max"
        f" {max(login) if login else float('nan'):.0f} ms, {got['failed']} failed,"
        f" {got['timeouts']} timed out, RSS +{(rss.peak - rss.base) / 1024:.0f} MB{summary}"
    )
