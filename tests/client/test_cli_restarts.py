"""``tail`` and ``send`` while the server is killed and restarted: no gap, no repeat, no double."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.client.cli_support import Lines, chat_tui_command, json_lines, ok, run_tui, tui_env
from tests.conftest import ServerProcess

pytestmark = pytest.mark.slow

Spawn = Callable[..., ServerProcess]


def test_tail_survives_a_server_crash_without_gap_or_repeat(
    server_process: Spawn, tmp_path: Path
) -> None:
    args = ("--rate", "100000", "--burst", "100000")
    server = server_process(*args)
    env = tui_env(tmp_path, CHAT_URL=server.url, CHAT_PASSWORD="pw")
    ok(run_tui(env, "login", "--nick", "alice"))
    ok(
        run_tui(
            env, "send", "--create", "--room", "feed", "--lines", "-", stdin="\n".join(["b1", "b2"])
        )
    )
    tail = subprocess.Popen(
        chat_tui_command("tail", "--room", "feed", "--since", "0", "--json"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    out = Lines(tail.stdout)
    try:
        seen = out.take(2)
        for round_ in range(3):
            server.restart(signal.SIGKILL)  # the same port and database
            lines = [f"r{round_}-{n}" for n in range(40)]
            ok(
                run_tui(
                    env,
                    "send",
                    "--create",
                    "--room",
                    "feed",
                    "--lines",
                    "-",
                    stdin="\n".join(lines),
                )
            )
            seen += out.take(len(lines))
    finally:
        tail.send_signal(signal.SIGTERM)
        _, err = tail.communicate(timeout=30)
    messages = json_lines("".join(seen))
    assert [m["seq"] for m in messages] == list(range(1, 123))
    assert messages[-1]["body"] == "r2-39"
    assert tail.returncode == 0 and "Traceback" not in err


def test_send_in_flight_across_a_crash_stores_each_line_once(
    server_process: Spawn, tmp_path: Path
) -> None:
    args = ("--rate", "40", "--burst", "10")  # 200 lines take ~5 s: time to crash mid-way
    server = server_process(*args)
    env = tui_env(tmp_path, CHAT_URL=server.url, CHAT_PASSWORD="pw")
    ok(run_tui(env, "login", "--nick", "alice"))
    ok(run_tui(env, "send", "--create", "--room", "batch", "start"))
    lines = [f"line {n}" for n in range(200)]
    (tmp_path / "lines.txt").write_text("\n".join(lines))
    with (tmp_path / "lines.txt").open() as stdin:
        send = subprocess.Popen(
            chat_tui_command(
                "send", "--create", "--room", "batch", "--lines", "--id", "nightly", "--json", "-"
            ),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # crash once some, not all, lines are stored
        stored = json_lines(ok(run_tui(env, "history", "--room", "batch", "--json")))
        if len(stored) > 20:
            break
        time.sleep(0.1)
    server.restart(signal.SIGKILL)  # the same port and database
    out, err = send.communicate(timeout=120)
    assert send.returncode == 0, err
    acks = json_lines(out)
    assert [a["id"] for a in acks] == [f"nightly-{n}" for n in range(1, 201)]
    assert [a["seq"] for a in acks] == list(range(2, 202))
    history = ["history", "--room", "batch", "--json", "--limit", "500"]
    stored = json_lines(ok(run_tui(env, *history)))
    assert [m["body"] for m in stored] == ["start", *lines]
    # The whole script retried (cron ran it again): the ids make it a no-op.
    ok(
        run_tui(
            env,
            "send",
            "--room",
            "batch",
            "--lines",
            "--id",
            "nightly",
            "-",
            stdin="\n".join(lines),
        )
    )
    assert len(json_lines(ok(run_tui(env, *history)))) == 201
