"""Running ``chat-tui`` as a user would: a subprocess with its own config dir and clock."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
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
