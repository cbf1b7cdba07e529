"""What every scenario shares: the mode, the work directory, the results, and who runs where."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import procs
from benchmarks.harness.procs import Server
from benchmarks.harness.stats import Results
from benchmarks.harness.worker import Worker


@dataclass
class Context:
    """One run of the harness."""

    workdir: Path
    quick: bool
    results: Results = field(default_factory=Results)
    template: Path | None = None
    tokens: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    # overrides of the mode's defaults (the tests run tiny scenarios)
    repetitions: int | None = None
    window_s: float | None = None
    connections: int | None = None  # c100k's count (``--connections``)

    @property
    def reps(self) -> int:
        """Repetitions of every measurement: 5 (the table shows median and min-max); one with
        ``--quick``, a smoke run that shows every figure once, in under 3 minutes."""
        return self.repetitions or (1 if self.quick else 5)

    @property
    def seconds(self) -> float:
        """Length of one timed window of offered load."""
        return self.window_s or (1.0 if self.quick else 4.0)

    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    def with_mosquitto(self, scenario: str, systems: tuple[str, ...]) -> tuple[str, ...]:
        """``systems`` and the mosquitto broker, when it is installed (else the reason is
        logged and the scenario runs without it)."""
        if procs.mosquitto_binary() is None:
            self.log(
                f"{scenario}: mosquitto skipped: no mosquitto executable (apt install mosquitto)"
            )
            return systems
        return (*systems, "mosquitto")

    def ensure_accounts(self, count: int) -> list[str]:
        """Tokens of ``count`` chat accounts in the run's template database (made once; a
        template of more accounts made earlier in the run serves, its first ``count``)."""
        if self.template is None or len(self.tokens) < count:
            self.template = self.workdir / f"template-{count}.db"
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(str(self.template) + suffix).unlink()
            start = time.monotonic()
            self.tokens = procs.chat_template(self.template, count)
            self.log(f"chat template: {count} accounts + tokens in {time.monotonic() - start:.1f}s")
        return self.tokens[:count]

    def fresh_db(self, name: str) -> Path:
        """A new database file for one server start (chat: a copy of the template)."""
        target = self.workdir / f"{name}-{time.monotonic_ns()}.db"
        if name.startswith("chat"):
            assert self.template is not None, "call ensure_accounts first"
            return procs.fresh_copy(self.template, target)
        return target

    @contextlib.contextmanager
    def server(
        self, scenario: str, system: str, db: Path | None = None, **options: str
    ) -> Iterator[procs.Server]:
        """A started server of ``system`` on the server core, stopped on exit (``options``:
        a ``chat-pg`` node's ``database_url``, ``redis_url`` and ``redis_prefix``)."""
        if db is None and system not in ("ceiling", "chat-pg", "pg-per-commit", "mosquitto"):
            db = self.fresh_db(system)
        server = procs.Server(system, self.workdir, db, **options).start()
        self.log(f"{scenario}: {system} server pid {server.pid} on core {procs.SERVER_CORE}")
        try:
            yield server
        finally:
            server.stop()

    @contextlib.contextmanager
    def nodes(self, scenario: str, count: int, **options: str) -> Iterator[list[procs.Server]]:
        """``count`` chat-pg nodes sharing one database and one Redis prefix, all on the
        server core, stopped on exit."""
        with contextlib.ExitStack() as stack:
            yield [
                stack.enter_context(self.server(scenario, "chat-pg", None, **options))
                for _ in range(count)
            ]

    @contextlib.contextmanager
    def workers(
        self, scenario: str, system: str, port: int, *roles: str, dialect: str | None = None
    ) -> Iterator[list[Worker]]:
        """Load-generator processes (one per role) on the load core, stopped on exit; they
        speak ``dialect`` (by default the system's own)."""
        started: list[Worker] = []
        try:
            for role in roles:
                worker = Worker(role, dialect or system, "127.0.0.1", port, procs.LOAD_CORE)
                started.append(worker)
            where = ", ".join(f"{w.role} pid {w.pid} on core {w.core}" for w in started)
            self.log(f"{scenario}: {system} load: {where}")
            yield started
        finally:
            for worker in started:
                worker.stop()


@dataclass
class Rig:
    """One system under test with its connected load generators."""

    system: str
    server: Server
    subs: Worker | None
    pub: Worker
    more_servers: tuple[Server, ...] = ()  # the other nodes of a multi-node system


def machine() -> str:
    """One line on the machine: cores, Python, library versions."""
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"{os.cpu_count()} cores", f"Python {sys.version.split()[0]}"]
    for dist in (
        "websockets",
        "uvloop",
        "aiosqlite",
        "Flask-SocketIO",
        "python-socketio",
        "Flask-SQLAlchemy",
        "SQLAlchemy",
        "simple-websocket",
        "eventlet",
        "gunicorn",
    ):
        with contextlib.suppress(PackageNotFoundError):
            parts.append(f"{dist} {version(dist)}")
    return ", ".join(parts)
