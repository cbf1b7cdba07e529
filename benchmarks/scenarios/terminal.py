"""The terminal client's scenarios: its first screen, and a room of 10,000 messages.

``tui-start``: the wall time from starting ``chat-tui connect`` in a pseudo-terminal until
the newest message of its room is on the screen, against ``python -c "import textual.app"``
(``textual-import``), each on the load core.

``tui-10k``: ``python -m benchmarks.scenarios.tui`` (the real app, headless, against a server
in the same process) on the load core: the time to show a room of 10,000 messages against an
empty room (``empty-room``), and keystroke latency while 50 messages a second stream in.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time

from benchmarks.harness import procs
from benchmarks.harness.context import Context

ROOM = "tui"
MESSAGES = 100
# the newest message of ``procs.fill_room``'s room: once it is drawn, the first screen is
NEWEST = f"history message {MESSAGES}".encode()  # no 1000th: only the 100th matches
TIMEOUT = 30.0


def _first_screen(cmd: list[str], env: dict[str, str]) -> float:
    """Milliseconds from starting ``cmd`` in a 120x40 pseudo-terminal until ``NEWEST`` is
    on it; the app is then stopped."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"},
        start_new_session=True,
        preexec_fn=lambda: procs.pin(procs.LOAD_CORE),
    )
    os.close(slave)
    seen = b""
    try:
        while NEWEST not in seen:
            if time.perf_counter() - start > TIMEOUT or proc.poll() is not None:
                raise RuntimeError(f"no first screen from {cmd[0]}: {seen[-300:]!r}")
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                seen = seen[-4096:] + os.read(master, 65536)
        return (time.perf_counter() - start) * 1000
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:  # keep the terminal drained
                with contextlib.suppress(OSError):
                    os.read(master, 65536)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    """Milliseconds for ``cmd`` to run to its end (exit 0) on the load core."""
    start = time.perf_counter()
    subprocess.run(
        cmd, env=env, check=True, capture_output=True, timeout=60,
        preexec_fn=lambda: procs.pin(procs.LOAD_CORE),
    )  # fmt: skip
    return (time.perf_counter() - start) * 1000


def tui_start(ctx: Context) -> None:
    """tui-start: ``chat-tui connect`` to its first screen vs ``import textual.app``."""
    tokens = ctx.ensure_accounts(1)
    db = ctx.fresh_db("chat-tui")
    procs.fill_room(db, ROOM, MESSAGES, procs.user_ids(db, 1))
    runs = 3 if ctx.quick else 10
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    with ctx.server("tui-start", "chat", db) as server:
        url = f"ws://127.0.0.1:{server.port}/ws"
        app = [*procs.tool("chat-tui"), "connect", url, "--token", tokens[0], "--room", ROOM]
        baseline = [sys.executable, "-c", "import textual.app"]
        ctx.log(f"tui-start: chat-tui connect (a pty), import textual.app: core {procs.LOAD_CORE}")
        _first_screen(app, env)  # warm the page cache and the bytecode caches
        _wall(baseline, env)
        for _ in range(ctx.reps):
            walls: dict[str, list[float]] = {"chat": [], "textual-import": []}
            for _ in range(runs):  # interleaved, so drift hits both alike
                walls["chat"].append(_first_screen(app, env))
                walls["textual-import"].append(_wall(baseline, env))
            for system, times in walls.items():
                ctx.results.add("tui-start", system, "wall_ms", sorted(times)[len(times) // 2])


def tui_10k(ctx: Context) -> None:
    """tui-10k: a room of 10,000 messages against an empty one, in the real app."""
    out = ctx.workdir / "tui-10k.json"
    module = "benchmarks.scenarios.tui"
    cmd = [sys.executable, "-m", module, "--messages", "10000", "--json", str(out)]
    if ctx.quick:
        cmd += ["--keys", "10", "--no-paging"]
    ctx.log(f"tui-10k: {module} (app and server in one process) on core {procs.LOAD_CORE}")
    for _ in range(ctx.reps):
        subprocess.run(
            cmd, check=True, capture_output=True, timeout=600, cwd=procs.ROOT,
            preexec_fn=lambda: procs.pin(procs.LOAD_CORE),
        )  # fmt: skip
        for result in json.loads(out.read_text()):
            system = "chat" if result["messages"] else "empty-room"
            ctx.results.add("tui-10k", system, "show_ms", result["show_ms"])
            ctx.results.add("tui-10k", system, "key_p50_ms", result["key_p50_ms"])
            ctx.results.add("tui-10k", system, "key_p95_ms", result["key_p95_ms"])
            if result["messages"] and result["page_to_top_ms"] is not None:
                ctx.results.add("tui-10k", system, "page_to_top_ms", result["page_to_top_ms"])
