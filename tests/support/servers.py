"""``chat-server serve`` as a subprocess, for every test that needs the real command.

One :class:`ServerProcess` starts on port 0 (or a given port), is ready at its ``listening on``
line, knows its URL, port, pid and stderr log, and can be stopped (SIGTERM), killed (SIGKILL)
and started again on the same port and database. The suites' own launchers (``spawn_server``,
``start_server``, ``reliable_server``, ``Cluster``, the CLI tests' ``serve``) are thin uses of
it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from signal import SIGKILL, SIGTERM
from typing import Any

from tests.limits import LENIENT_LOGIN_FLAGS

# The one line ``serve`` prints on stdout once it accepts connections.
LISTENING = re.compile(r"listening on (wss?://\S+)")
START_TIMEOUT = 30.0  # generous: the machine is shared and loaded
STOP_TIMEOUT = 15.0
NULL = Path(os.devnull)  # a log that keeps nothing


def free_port() -> int:
    """A port nobody listens on right now (for a server that must come back on it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_command() -> list[str]:
    """The installed ``chat-server`` script next to this Python, else ``python -m chat_server``."""
    script = Path(sys.executable).parent / "chat-server"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "chat_server"]


@dataclasses.dataclass(eq=False)
class ServerProcess:
    """``chat-server serve --host 127.0.0.1 --port PORT --db DB ARGS`` in a subprocess (with
    ``--database-url URL`` instead of ``--db`` when ``store`` is a URL); ``bare``: exactly
    ``chat-server serve ARGS``, for tests of the command's own defaults and environment.

    ``port`` 0 lets the system choose at the first start; every later start reuses the port
    (retrying while the dead process's socket lingers), so clients reconnect to the same URL.
    stderr is appended to ``log`` across restarts (discarded by default: /dev/null); stdout is
    read by a thread into ``stdout_lines`` so the server never blocks on a full pipe. ``env``
    is the server's whole environment (None: this process's).
    """

    store: Path | str | None  # a SQLite file, or a database URL (PostgreSQL); None if bare
    log: Path = NULL
    args: tuple[str, ...] = ()
    port: int = 0
    open_files: int | None = None  # the server's RLIMIT_NOFILE; None: this process's
    starts: int = 0
    stdout_lines: list[str] = dataclasses.field(default_factory=list)
    env: dict[str, str] | None = dataclasses.field(default=None, kw_only=True)
    bare: bool = dataclasses.field(default=False, kw_only=True)
    _proc: subprocess.Popen[str] | None = dataclasses.field(default=None, init=False, repr=False)
    _url: str = dataclasses.field(default="", init=False, repr=False)

    # --- where it is -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The websocket URL it printed (before the first start: the ws:// one it will have)."""
        return self._url or f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http(self) -> str:
        """The same origin over HTTP(S), without a trailing slash."""
        return self.url.replace("ws", "http", 1).removesuffix("/ws")

    @property
    def health_url(self) -> str:
        return f"{self.http}/healthz"

    @property
    def db(self) -> Path:
        """The SQLite file."""
        assert isinstance(self.store, Path), f"{self.store} is a database URL, not a file"
        return self.store

    @property
    def proc(self) -> subprocess.Popen[str]:
        """The current (or last) process."""
        assert self._proc is not None, "the server was never started"
        return self._proc

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # --- life cycle --------------------------------------------------------------------------

    def command(self) -> list[str]:
        if self.bare:
            return [*server_command(), "serve", *self.args]
        command = [*server_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if isinstance(self.store, Path):
            command += ["--db", str(self.store)]
        else:
            assert self.store is not None, "only a bare server runs without a store"
            command += ["--database-url", self.store]
        # lenient login limits (every test user comes from 127.0.0.1); a test's own flags
        # come after them, and the last one given wins
        return [*command, *LENIENT_LOGIN_FLAGS, *self.args]

    def start(self, timeout: float = START_TIMEOUT) -> ServerProcess:
        """Start and wait for ``listening on``; on a fixed port, retry while it is still held."""
        assert not self.running, "the server is already running"
        deadline = time.monotonic() + timeout
        while True:
            why = self._start_once(max(1.0, deadline - time.monotonic()))
            if not why:
                self.starts += 1
                return self
            if self.port == 0 or time.monotonic() > deadline:
                command = " ".join(self.command())
                raise AssertionError(f"{command}: {why}; stderr:\n{self.log_tail()}")
            time.sleep(0.1)

    def _start_once(self, timeout: float) -> str:
        """One attempt; why it failed ("" if it did not)."""
        with self.log.open("ab") as stderr:
            proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                encoding="utf-8",
                errors="replace",
                env=self.env,
                preexec_fn=None if self.open_files is None else self._limit_open_files,
            )
        lines: list[str] = []
        ready: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(proc, lines, ready), daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = ready.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                line = None
            if line is None:  # it exited (the port still held?), or it is too slow
                proc.kill()
                status = proc.wait()  # -9: killed here, after ``timeout`` seconds
                return f"no 'listening on' line (exit status {status}); stdout: {lines}"
            match = LISTENING.search(line)
            if match is not None:
                self._proc, self._url, self.stdout_lines = proc, match[1], lines
                self.port = urllib.parse.urlsplit(self._url).port or self.port
                return ""

    def _limit_open_files(self) -> None:  # runs in the child, before exec
        assert self.open_files is not None
        # both limits, as `ulimit -n` does: the server raises its soft limit to the hard one
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def signal(self, sig: int) -> None:
        if self.running:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the process to exit, and its exit status; killed if it does not in time
        (and the :class:`subprocess.TimeoutExpired` raised)."""
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def stop(self, sig: int = SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send ``sig`` (SIGTERM: an operator's graceful stop) and wait; SIGKILL after
        ``timeout``. The exit status (negative: the signal that ended it); 0 if never started."""
        if self._proc is None:
            return 0
        self.signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> int:
        """SIGKILL: no shutdown at all, as a crash or the OOM killer would do it."""
        return self.stop(SIGKILL)

    def restart(self, sig: int = SIGTERM, timeout: float = START_TIMEOUT) -> ServerProcess:
        """Stop with ``sig`` and start again on the same port and database."""
        self.stop(sig)
        return self.start(timeout)

    # --- what it says ------------------------------------------------------------------------

    def stdout_line(self, index: int, timeout: float = 10.0) -> str:
        """Line ``index`` of what it printed on stdout (0: the ``listening on`` line), waited
        for up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.stdout_lines) <= index:
            assert time.monotonic() < deadline, f"no stdout line {index}: {self.stdout_lines}"
            time.sleep(0.01)
        return self.stdout_lines[index]

    def health(self, timeout: float = 10.0) -> dict[str, Any]:
        with urllib.request.urlopen(self.health_url, timeout=timeout) as response:
            body: dict[str, Any] = json.loads(response.read())
        return body

    def log_text(self) -> str:
        """Everything it wrote on stderr so far (every start)."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        if self.log == NULL:
            return "(not kept)"
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stderr_tail(self, lines: int = 30) -> str:
        """:meth:`log_tail` (the e2e suite's name)."""
        return self.log_tail(lines)

    def log_offset(self) -> int:
        """Where the log ends now (see :meth:`log_since`)."""
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        """What it logged after :meth:`log_offset` returned ``offset``."""
        try:
            with self.log.open("rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def assert_no_traceback(self) -> None:
        text = self.log_text()
        assert "Traceback" not in text, f"the server logged a traceback:\n{text[-4000:]}"


def _pump(proc: subprocess.Popen[str], lines: list[str], ready: queue.Queue[str | None]) -> None:
    """Read a server's stdout to its end: every line into ``lines`` and ``ready``."""
    assert proc.stdout is not None
    with proc.stdout:
        for raw in proc.stdout:
            line = raw.rstrip("\r\n")
            lines.append(line)
            ready.put(line)
    ready.put(None)


def spawn(
    store: Path | str,
    *args: str,
    log: Path = NULL,
    port: int = 0,
    timeout: float = START_TIMEOUT,
) -> ServerProcess:
    """A started :class:`ServerProcess`."""
    return ServerProcess(store, log, args, port).start(timeout)


def stop_all(servers: Iterable[ServerProcess]) -> None:
    """Teardown: stop every server still running (SIGTERM, then SIGKILL)."""
    for server in servers:
        server.stop()
