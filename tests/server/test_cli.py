"""``chat-server serve`` as an operator uses it: real subprocesses, real websockets.

Starting, stopping, its log, its environment and flags; the administration commands (users,
tokens, backup) are in test_cli_admin.py.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chat_server.server import LISTEN_BACKLOG
from tests.raw import recv, request
from tests.server.cli_support import (
    FAST,
    TIMEOUT,
    Spawn,
    assert_ok,
    assert_one_line_failure,
    clean_env,
    cli,
    close_code,
    history,
    join,
    refused,
    welcome,
)
from tests.support.servers import ServerProcess, stop_all

pytestmark = pytest.mark.slow

Serve = Callable[..., ServerProcess]

LISTENING_LINE = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)/ws")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """Start ``chat-server serve ARGS`` as an operator would, with no flags of the tests' own
    and an environment without CHAT_* settings unless ``env`` is given; its stderr is kept in
    a file."""
    started: list[ServerProcess] = []

    def factory(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
        log = tmp_path / f"serve-{len(started)}.log"
        server = ServerProcess(
            None, log, args, env=env if env is not None else clean_env(), bare=True
        )
        started.append(server)
        return server.start()

    yield factory
    stop_all(started)


# --- serve --------------------------------------------------------------------------------


async def test_serve_prints_listening_line(serve: Serve, tmp_path: Path) -> None:
    server = serve("--port", "0", "--db", str(tmp_path / "chat.db"))
    match = LISTENING_LINE.fullmatch(server.stdout_line(0))
    assert match, f"first line {server.stdout_line(0)!r}"
    assert int(match[1]) > 0
    reply = await welcome(server.url, nick="alice", password="pw-alice")
    assert reply["type"] == "welcome" and reply["created"] is True, reply
    assert server.stop() == 0


def test_serve_prints_where_to_point_a_browser(serve: Serve, tmp_path: Path) -> None:
    server = serve("--port", "0", "--db", str(tmp_path / "chat.db"))
    match = LISTENING_LINE.fullmatch(server.stdout_line(0))
    assert match
    page = server.stdout_line(1).strip()
    assert page == f"browser client at http://127.0.0.1:{match[1]}/", page
    assert server.stdout_line(2).strip() == f"database {tmp_path / 'chat.db'}"
    with urllib.request.urlopen(page.removeprefix("browser client at "), timeout=TIMEOUT) as got:
        assert got.status == 200 and b"<title>chat</title>" in got.read()
    assert server.stop() == 0


def test_serve_help_describes_every_option_and_names_its_variable() -> None:
    import click

    from chat_server.cli_serve import serve

    shown = " ".join(cli("serve", "--help").stdout.split())  # unwrapped
    for option in serve.params:
        if not isinstance(option, click.Option) or option.name == "help":
            continue
        assert option.help, f"{option.opts[0]} has no description"
        assert f"env var: {option.envvar}" in shown, f"{option.opts[0]}: its env var is not shown"


def test_serve_refuses_a_taken_port(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--port", str(port), "--db", str(tmp_path / "chat.db"))
    line = assert_one_line_failure(result)
    assert str(port) in line, line
    assert result.stdout == "", "it must not claim to be listening"


@pytest.mark.parametrize("case", ["under-a-file", "not-a-database"])
def test_serve_refuses_an_unusable_database(tmp_path: Path, case: str) -> None:
    plain = tmp_path / "plain-file"
    plain.write_text("not a directory\n")
    if case == "under-a-file":
        db = plain / "chat.db"
    else:
        db = tmp_path / "garbage.db"
        db.write_bytes(b"this is not an SQLite database, just some bytes\n" * 100)
    result = cli("serve", "--port", "0", "--db", str(db))
    assert_one_line_failure(result)
    assert "listening" not in result.stdout


async def test_sigterm_closes_clients_with_1001_and_exits_0(server_process: Spawn) -> None:
    server = server_process()
    async with connect(server.url, open_timeout=TIMEOUT) as ws:
        hi = await request(ws, {"type": "hello", "nick": "alice", "password": "pw"}, "welcome")
        assert hi["type"] == "welcome", hi
        await join(ws, "general")
        server.proc.send_signal(signal.SIGTERM)
        assert await close_code(ws) == 1001
    assert server.proc.wait(TIMEOUT) == 0


async def test_sigterm_after_pipelined_sends_keeps_every_acked_message(
    server_process: Spawn,
) -> None:
    count = 100
    server = server_process(*FAST)
    acks: dict[str, int] = {}
    async with connect(server.url, open_timeout=TIMEOUT) as ws:
        hi = await request(ws, {"type": "hello", "nick": "alice", "password": "pw"}, "welcome")
        assert hi["type"] == "welcome", hi
        await join(ws, "general")
        for i in range(count):
            await ws.send(
                json.dumps({"type": "send", "room": "general", "body": f"b{i}", "id": f"i{i}"})
            )
        server.proc.send_signal(signal.SIGTERM)
        try:
            while True:
                frame = await recv(ws)
                if frame["type"] == "ack":
                    acks[frame["id"]] = frame["seq"]
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 1001, exc
    assert server.proc.wait(TIMEOUT) == 0
    again = server_process(*FAST)
    stored = {m["id"]: m for m in await history(again.url, hi["token"], "general")}
    assert [m["seq"] for m in stored.values()] == list(range(1, len(stored) + 1))
    for msg_id, seq in acks.items():
        assert msg_id in stored, f"acked {msg_id} (seq {seq}) is not in the database"
        assert stored[msg_id]["seq"] == seq
        assert stored[msg_id]["body"] == "b" + msg_id.removeprefix("i")


# --- the log --------------------------------------------------------------------------------


async def test_a_flood_of_alike_errors_is_logged_ten_times_and_counted(
    serve: Serve, tmp_path: Path
) -> None:
    db = tmp_path / "chat.db"
    # searches unlimited: the failures, not the search budget, are what this is about
    server = serve(
        "--port", "0", "--db", str(db), "--search-burst", "100000", "--read-burst", "100000"
    )
    async with connect(server.url, open_timeout=TIMEOUT) as ws:
        hi = await request(ws, {"type": "hello", "nick": "mallory", "password": "pw"}, "welcome")
        assert hi["type"] == "welcome", hi
        # a search reads the index only where she has messages: one, in the index
        await join(ws, "lair")
        said = {"type": "send", "room": "lair", "body": "my own words", "id": "w1"}
        assert (await request(ws, said, "ack"))["seq"] == 1
        found = await request(ws, {"type": "search", "q": "words"}, "results")
        assert [hit["body"] for hit in found["messages"]] == ["my own words"]
    with sqlite3.connect(db) as damage:  # every search now fails inside the store
        damage.execute("DROP TABLE messages_fts")
    failures = 0
    for _ in range(3):  # each connection is closed 1008 once its budget of bad requests is spent
        async with connect(server.url, open_timeout=TIMEOUT) as ws:
            again = await request(ws, {"type": "hello", "token": hi["token"]}, "welcome")
            assert again["type"] == "welcome", again
            with pytest.raises(ConnectionClosed):
                for _ in range(200):
                    reply = await request(ws, {"type": "search", "q": "anything"}, "results")
                    assert reply.get("code") == "internal", reply
                    failures += 1
    assert failures > 100
    assert server.stop() == 0
    lines = server.log.read_text().splitlines()
    errors = [line for line in lines if " ERROR chat_server: storage error for mallory" in line]
    summaries = [line for line in lines if "repeated" in line]
    assert len(errors) == 10
    assert len(summaries) == 1
    summary = f"storage error for %s: %s ... repeated {failures - 10} more times in 60 s"
    assert summaries[0].endswith(f" ERROR chat_server: {summary}"), summaries


# --- environment ----------------------------------------------------------------------------


async def test_environment_variables(serve: Serve, tmp_path: Path) -> None:
    db = tmp_path / "from-env.db"
    env = clean_env(CHAT_SERVER_PORT="0", CHAT_SERVER_DB=str(db))
    server = serve(env=env)
    assert LISTENING_LINE.fullmatch(server.stdout_line(0)), server.stdout_line(0)
    reply = await welcome(server.url, nick="envuser", password="pw")
    assert reply["type"] == "welcome" and reply["created"] is True, reply
    assert db.exists(), "CHAT_SERVER_DB was not used"
    listed = cli("users", "list", env=env)
    assert_ok(listed)
    assert "envuser" in listed.stdout
    assert server.stop() == 0


async def test_login_limits_from_the_environment(serve: Serve, tmp_path: Path) -> None:
    env = clean_env(
        CHAT_SERVER_PORT="0",
        CHAT_SERVER_DB=str(tmp_path / "chat.db"),
        CHAT_SERVER_SIGNUP_RATE="1/h",
        CHAT_SERVER_LOGIN_FAILURES="1/10m",
    )
    server = serve(env=env)
    assert (await welcome(server.url, nick="first", password="pw"))["type"] == "welcome"
    second = await welcome(server.url, nick="second", password="pw")
    assert (second["code"], second["message"]) == (
        "rate_limited",
        "too many new accounts from this address",
    )
    assert 3500 < second["retry_after"] <= 3600
    await refused(server.url, nick="first", password="wrong")
    guess = await welcome(server.url, nick="first", password="wrong")
    assert (guess["code"], guess["message"]) == ("rate_limited", "too many attempts")
    assert 500 < guess["retry_after"] <= 600
    assert server.stop() == 0


async def test_password_tries_and_bad_frames_from_the_environment(
    serve: Serve, tmp_path: Path
) -> None:
    env = clean_env(
        CHAT_SERVER_PORT="0",
        CHAT_SERVER_DB=str(tmp_path / "chat.db"),
        CHAT_SERVER_PASSWORD_TRIES="1/h",
        CHAT_SERVER_BAD_FRAMES="2/h",
    )
    server = serve(env=env)
    async with connect(server.url) as mallory, connect(server.url) as bob:
        for ws, nick in ((mallory, "mallory"), (bob, "bob")):
            hi = await request(ws, {"type": "hello", "nick": nick, "password": "pw"}, "welcome")
            assert hi["type"] == "welcome", hi
        guess = {"type": "password", "old": "guess", "new": "new-pw"}
        first = await request(mallory, {**guess, "ref": "g1"}, "password_changed")
        assert first["code"] == "forbidden", first  # a bad frame: 1 of 2
        second = await request(mallory, {**guess, "ref": "g2"}, "password_changed")
        assert second["code"] == "rate_limited", second  # free
        assert 3500 < second["retry_after"] <= 3600
        nonsense = await request(mallory, {"type": "nonsense", "ref": "n1"}, "never")
        assert nonsense["code"] == "unknown_type", nonsense  # 2 of 2
        await mallory.send(json.dumps({"type": "nonsense", "ref": "n2"}))
        assert await close_code(mallory) == 1008
        # the tries are each user's: bob changes his password, and stays connected
        change = {"type": "password", "old": "pw", "new": "new-pw", "ref": "c1"}
        changed = await request(bob, change, "password_changed")
        assert changed["type"] == "password_changed", changed
        assert (await join(bob, "general"))["messages"] == []
    assert server.stop() == 0


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--signup-rate", "lots"),
        ("--login-failures", "0/h"),
        ("--nick-failures", "5"),
        ("--password-tries", "3"),
        ("--bad-frames", "0/10s"),
    ],
)
def test_a_malformed_limit_is_a_usage_error(flag: str, value: str, tmp_path: Path) -> None:
    result = cli("serve", "--port", "0", "--db", str(tmp_path / "chat.db"), flag, value)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    error = result.stderr.splitlines()[-1]
    assert error.startswith(f"Error: Invalid value for '{flag}' (env var: 'CHAT_SERVER_"), error
    assert error.endswith(f"'): '{value}' is not N/PERIOD with N at least 1 (e.g. 5/h, 10/15m)")


def test_every_serve_option_has_an_env_var_and_a_readme_row() -> None:
    from chat_server.cli import serve as serve_command

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `--")]
    for param in serve_command.params:
        if not param.opts[0].startswith("--") or param.name == "help":
            continue
        option, env = param.opts[0], param.envvar
        assert env == "CHAT_SERVER_" + option[2:].upper().replace("-", "_"), option
        assert any(f"`{option}`" in row and f"`{env}`" in row for row in rows), option


# --- --no-signup ----------------------------------------------------------------------------


async def test_no_signup(server_process: Spawn, tmp_path: Path) -> None:
    server = server_process("--no-signup")
    await refused(server.url, nick="newcomer", password="pw")
    assert_ok(
        cli(
            "users",
            "add",
            "member",
            "--db",
            str(tmp_path / "chat.db"),
            env=clean_env(CHAT_PASSWORD="pw"),
        )
    )
    reply = await welcome(server.url, nick="member", password="pw")
    assert reply["type"] == "welcome" and reply["created"] is False, reply


def test_the_listen_queue_holds_a_reconnect_storm(server_process: Spawn) -> None:
    """After a restart every client comes back at once: the kernel may queue 4096 of them
    (net.core.somaxconn, if lower) while the server accepts, where asyncio's default is 100
    and each SYN past it costs its client a retry a second or more later."""
    if shutil.which("ss") is None:
        pytest.skip("ss is not installed here (Debian package iproute2)")
    server = server_process()
    listing = subprocess.run(
        ["ss", "-Hltn", f"sport = :{server.port}"], capture_output=True, text=True, timeout=30
    ).stdout.split()
    assert listing[0] == "LISTEN", listing
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert int(listing[2]) == min(LISTEN_BACKLOG, somaxconn)  # a listener's Send-Q: its backlog
