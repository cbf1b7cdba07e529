"""Servers under test as subprocesses (pinned to the server core), and their databases.

Each system starts on a fresh SQLite file. Chat's accounts and tokens are written once per
run into a template database (created by ``chat-server users add``, so the schema is the
server's own) and copied for every start: an argon2 hash per account would cost minutes.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from chat_server.auth import new_token, token_hash
from chat_server.protocol import now_ts
from chat_server.store.sqlite.batch import WriterCache, index_search

SERVER_CORE = 0
NOFILE = 300_000  # open files a server or load generator may hold (c100k: 100,000 each)
LOAD_CORE = 1
LISTENING = re.compile(rb"listening on (wss?://\S+)")
# chat's per-user send rate limit is raised for the benchmark (default 20/s, burst 40)
# another checkout's chat_server (before/after comparisons): its directory, put on PYTHONPATH
CHAT_SRC = "CHAT_BENCH_SRC"
# Every simulated user connects from 127.0.0.1: no per-address cap may count them as one.
CHAT_FLAGS = (
    *("--rate", "1000000", "--burst", "1000000", "--log-level", "warning"),
    *("--max-connections-per-address", "1000000", "--max-pending-per-address", "1000000"),
)
# the chat servers on a SQLite file: as measured, with every limit at its default, with --metrics
CHAT_SQLITE = ("chat", "chat-defended", "chat-metrics")
# and so are the read budgets and the rooms a user may create or join: the benchmark measures
# capacity, not the limiters. Set in the environment, which a checkout from before these
# limits (CHAT_BENCH_SRC) ignores, where it would refuse an unknown option.
CHAT_ENV = {
    "CHAT_SERVER_READ_RATE": "1000000",
    "CHAT_SERVER_READ_BURST": "1000000",
    "CHAT_SERVER_SEARCH_RATE": "1000000",
    "CHAT_SERVER_SEARCH_BURST": "1000000",
    "CHAT_SERVER_READ_BYTES_RATE": str(1 << 40),
    "CHAT_SERVER_READ_BYTES_BURST": str(1 << 40),
    "CHAT_SERVER_ROOM_CREATE_RATE": "1000000",
    "CHAT_SERVER_MAX_ROOMS_PER_USER": "1000000",
    "CHAT_SERVER_MAX_CONNECTIONS": "1000000",  # else 10,000 (c100k)
}
# the checkout holding ``benchmarks/``: the working directory of every ``python -m benchmarks...``
ROOT = Path(__file__).resolve().parents[2]


# systems that print no "listening on" line: started once their port accepts
QUIET = ("mosquitto", "seed")
MOSQUITTO_CONFIG = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_connections -1
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
"""


def mosquitto_binary() -> str | None:
    """The mosquitto broker's executable (Debian's package puts it in /usr/sbin), or None."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def cores() -> int:
    return len(os.sched_getaffinity(0))


def raise_nofile() -> int:
    """Raise RLIMIT_NOFILE to ``NOFILE`` (the hard limit too, where the process may: root
    may up to /proc/sys/fs/nr_open), else to the hard limit; returns the limit now."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in (max(hard, NOFILE), hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            return limit
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pin(core: int | None) -> None:
    """Pin the calling process to ``core`` (when the machine has it) and raise RLIMIT_NOFILE."""
    if core is not None and core < (os.cpu_count() or 1):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {core})
    raise_nofile()


def tool(name: str) -> list[str]:
    """A console script next to this interpreter, or ``python -m`` of its package."""
    script = Path(sys.executable).with_name(name)
    if script.exists():
        return [str(script)]
    found = shutil.which(name)
    return [found] if found else [sys.executable, "-m", name.replace("-", "_")]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds of a process's main thread and of all its other threads (for chat and the
    per-commit baseline these are aiosqlite's: SQLite runs there)."""
    main = other = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            if int(task.name) == pid:
                main += seconds
            else:
                other += seconds
    return main, other


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One server under test, started as a subprocess on the server core."""

    def __init__(
        self,
        system: str,
        workdir: Path,
        db: Path | None = None,
        *,
        database_url: str = "",
        redis_url: str = "",
        redis_prefix: str = "",
    ) -> None:
        self.system = system
        self.workdir = workdir
        self.db = db
        # chat-pg: a node on PostgreSQL (URL with its schema) and Redis (URL and key prefix)
        self.database_url = database_url
        self.redis_url = redis_url
        self.redis_prefix = redis_prefix
        self.port = 0  # 0: the system picks one (its log line says which); set to fix it
        self.proc: subprocess.Popen[bytes] | None = None
        self.worker_pid = 0
        self.log = workdir / f"{system}-{time.monotonic_ns()}.log"

    def command(self) -> list[str]:
        py = [sys.executable, "-m"]
        if self.system in CHAT_SQLITE:
            assert self.db is not None
            chat = [*py, "chat_server"] if os.environ.get(CHAT_SRC) else tool("chat-server")
            command = [*chat, "serve", "--port", str(self.port), "--db", str(self.db)]
            if self.system == "chat-defended":  # every limit at its default (the abuse scenario)
                return [*command, "--log-level", "warning"]
            if self.system == "chat-metrics":  # chat with GET /metrics and its counting
                return [*command, *CHAT_FLAGS, "--metrics"]
            return [*command, *CHAT_FLAGS]
        if self.system == "chat-pg":  # Redis only when given (several nodes)
            assert self.database_url
            chat = [*py, "chat_server"] if os.environ.get(CHAT_SRC) else tool("chat-server")
            redis = ["--redis-url", self.redis_url, "--redis-prefix", self.redis_prefix]
            return [
                *chat, "serve", "--port", "0", "--database-url", self.database_url,
                *(redis if self.redis_url else []), *CHAT_FLAGS,
            ]  # fmt: skip
        if self.system == "pg-per-commit":
            assert self.database_url
            commit = "benchmarks.baselines.commit_server"
            return [*py, commit, "--port", "0", "--database-url", self.database_url]
        if self.system == "ceiling":
            return [*py, "benchmarks.baselines.ceiling_server", "--port", str(self.port)]
        if self.system == "sqlite-per-commit":
            assert self.db is not None
            return [*py, "benchmarks.baselines.commit_server", "--port", "0", "--db", str(self.db)]
        if self.system == "mosquitto":
            self.port = free_port()
            return [mosquitto_binary() or "mosquitto", "-c", str(self._mosquitto_config())]
        if self.system == "seed":  # as the seed's Procfile deploys it
            assert self.db is not None
            self.port = free_port()
            app = f"benchmarks.baselines.seed_server:wsgi({str(self.db)!r})"
            # gunicorn's default of 1000 connections per worker would refuse fanout-1000's
            # publisher (1001st) and idle-conns' 5000: the one flag changed from the Procfile
            return [*py, "gunicorn", "-k", "eventlet", "--bind", f"127.0.0.1:{self.port}",
                    "--worker-connections", "10000", "--graceful-timeout", "2",
                    "--log-level", "warning", app]  # fmt: skip
        if self.system == "seed-threading":
            assert self.db is not None
            self.port = free_port()
            seed = "benchmarks.baselines.seed_server"
            return [*py, seed, "--port", str(self.port), "--db", str(self.db)]
        raise ValueError(f"unknown system {self.system}")

    def _mosquitto_config(self) -> Path:
        """mosquitto's own config file, on this run's free port: QoS 0 as the clients send,
        nothing kept on disk, no connection limit, Nagle off as every asyncio server has it."""
        path = self.workdir / f"mosquitto-{self.port}.conf"
        path.write_text(MOSQUITTO_CONFIG.format(port=self.port))
        return path

    def start(self, timeout: float = 30.0) -> Server:
        cmd = self.command()
        env = dict(os.environ)
        cwd = ROOT
        if self.system in ("chat", "chat-metrics", "chat-pg"):
            env.update(CHAT_ENV)
        if self.system in (*CHAT_SQLITE, "chat-pg") and env.get(CHAT_SRC):
            cwd = Path(env[CHAT_SRC])  # ``python -m`` puts the working directory first
            env["PYTHONPATH"] = env[CHAT_SRC]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                preexec_fn=lambda: pin(SERVER_CORE),
            )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        if self.system in QUIET:  # says nothing on stdout: wait for its port
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self._accepts(0.5) and self._find_worker():
                    return self
            self.stop()
            raise RuntimeError(f"{self.system} did not start: {self.log.read_text()[-2000:]}")
        seen = b""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.system} exited: {self.log.read_text()[-2000:]}")
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                seen += os.read(self.proc.stdout.fileno(), 4096)
                match = LISTENING.search(seen)
                if match:
                    port = int(match.group(1).decode().split(":")[2].split("/")[0])
                    self.port = self.port or port
                    if self._accepts():
                        return self
            elif self.port and b"listening" in seen and self._accepts():
                return self
        self.stop()
        raise RuntimeError(f"{self.system} did not start in {timeout} s")

    def _accepts(self, within: float = 10.0) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return True
            time.sleep(0.05)
        return False

    def _find_worker(self) -> bool:
        """gunicorn serves from its one worker process, a child of the arbiter: that is the
        process whose CPU and RSS are measured."""
        if self.system != "seed":
            return True
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        if not children.split():
            return False
        self.worker_pid = int(children.split()[0])
        return True

    @property
    def pid(self) -> int:
        """The serving process (for gunicorn its worker, not the arbiter)."""
        assert self.proc is not None
        return self.worker_pid or self.proc.pid

    def rss_kb(self) -> int:
        """VmRSS of the server process, in kB (threads included: one address space)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


# --- chat databases ----------------------------------------------------------------------


def chat_template(path: Path, users: int) -> list[str]:
    """Create a chat database holding ``users`` accounts bench0..; returns their tokens."""
    env = {**os.environ, "CHAT_PASSWORD": "bench-password"}
    subprocess.run(
        [*tool("chat-server"), "users", "add", "bench-admin", "--db", str(path)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        timeout=60,
    )
    tokens = [new_token() for _ in range(users)]
    ts = now_ts()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        base = db.execute("SELECT COALESCE(MAX(id), 0) FROM users").fetchone()[0] + 1
        db.executemany(
            "INSERT INTO users (id, nick, nick_key, password_hash, created_at)"
            " VALUES (?, ?, ?, NULL, ?)",
            [(base + i, f"bench{i}", f"bench{i}", ts) for i in range(users)],
        )
        db.executemany(
            "INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES (?, ?, ?, NULL)",
            [(token_hash(t), base + i, ts) for i, t in enumerate(tokens)],
        )
    return tokens


def history_body(seq: int) -> str:
    """The text of message ``seq`` of a room ``fill_room`` builds."""
    return f"history message {seq} " + "y" * 60


def fill_room(
    path: Path,
    room: str,
    messages: int,
    member_ids: list[int],
    body: Callable[[int], str] | None = None,
) -> None:
    """Add ``room`` with ``messages`` messages (in the server's schema) and its members;
    ``body(seq)`` is a message's text. The first member (bench0) wrote them all."""
    text = body or history_body
    ts = now_ts()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        cur = db.execute(
            "INSERT INTO rooms (name, is_dm, last_seq, created_at) VALUES (?, 0, ?, ?)",
            (room, messages, ts),
        )
        room_id = cur.lastrowid
        author = member_ids[0]
        db.executemany(
            "INSERT INTO memberships (user_id, room_id, read_seq, joined_at) VALUES (?, ?, 0, ?)",
            [(uid, room_id, ts) for uid in member_ids],
        )
        step = 50_000
        for first in range(1, messages + 1, step):
            db.executemany(
                "INSERT INTO messages (room_id, seq, author_id, nick, client_id, body, ts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        room_id,
                        seq,
                        author,
                        "bench0",
                        f"h{room_id}-{seq}",
                        text(seq),
                        ts,
                    )
                    for seq in range(first, min(first + step, messages + 1))
                ),
            )
        # the search index, as the server's writer fills it (else each start catches up)
        cache = WriterCache()
        cache.load(db)
        index_search(db, cache)


def user_ids(path: Path, count: int) -> list[int]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT id FROM users WHERE nick LIKE 'bench%' AND nick != 'bench-admin'"
            " ORDER BY id LIMIT ?",
            (count,),
        ).fetchall()
    return [int(r[0]) for r in rows]


def fresh_copy(template: Path, target: Path) -> Path:
    """A copy of a (closed, checkpointed) database file for one server start."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(target) + suffix).unlink()
    shutil.copyfile(template, target)
    return target
