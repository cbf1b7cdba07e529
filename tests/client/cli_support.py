"""Running ``chat-tui`` as a user would: a subprocess with its own config dir and clock."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import queue
import select
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import IO, Any

TIMEOUT = 60.0


def tui_env(home: Path, **extra: str) -> dict[str, str]:
    """The test's environment without CHAT_* leaking in; config under ``home``; UTC clock."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    env.update(XDG_CONFIG_HOME=str(home / "config"), TZ="UTC")
    env.update(extra)
    return env


def chat_tui_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "chat_tui", *args]


def run_tui(
    env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        chat_tui_command(*args),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def run_on_terminal(
    env: dict[str, str], *args: str, answers: dict[str, str], timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run ``chat-tui ARGS`` with a pseudo-terminal as its controlling terminal and stdin, as
    from a shell; each prompt in ``answers`` (e.g. ``"Password: "``) is answered as it appears.
    stdout and stderr are pipes, so what the terminal echoes is not in them."""
    master, slave = pty.openpty()

    def attach() -> None:  # in the child: a session of its own whose terminal is the pty
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        chat_tui_command(*args),
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        preexec_fn=attach,
    )
    os.close(slave)
    try:
        screen = ""
        pending = dict(answers)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    screen += os.read(master, 4096).decode(errors="replace")
                except OSError:  # the child closed the terminal
                    break
            for prompt in [p for p in pending if p in screen]:
                screen = screen.split(prompt, 1)[1]
                os.write(master, pending.pop(prompt).encode())
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result.stdout


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def failure(result: subprocess.CompletedProcess[str], code: int) -> str:
    """Exit ``code`` with one line on stderr and no traceback; returns that line."""
    assert result.returncode == code, (
        f"expected exit {code}, got {result.returncode}: {result.stderr}"
    )
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "a failure must say why on stderr"
    return lines[-1]


class Lines:
    """The lines a running command prints, read in a thread so a test can wait with a timeout."""

    def __init__(self, stream: IO[str] | None) -> None:
        assert stream is not None
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put("")  # end of output

    def next(self, timeout: float = TIMEOUT) -> str:
        """The next line; AssertionError if none comes in time or the output ended."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output line within {timeout} s") from None
        assert line, "the command's output ended early"
        return line

    def take(self, count: int, timeout: float = TIMEOUT) -> list[str]:
        return [self.next(timeout) for _ in range(count)]

    def poll(self, timeout: float) -> str | None:
        try:
            return self._lines.get(timeout=timeout) or None
        except queue.Empty:
            return None
