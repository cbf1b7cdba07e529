"""The deployment the README gives an admin to copy (``deploy/``): the systemd units pass
``systemd-analyze verify``; the service's command with its environment file serves as
configured and stops cleanly on SIGTERM; the backup unit's command copies the live database,
drops copies older than 14 days, and the README's restore steps bring that copy back; a
``pg_dump`` is restored with ``pg_restore`` as the README says.
"""

from __future__ import annotations

import asyncio
import configparser
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.client.cli_support import json_lines, ok, run_tui, tui_env
from tests.scale.cluster import PostgresSchema
from tests.support.servers import ServerProcess, free_port, server_command

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CHAT_SERVER = "/opt/chat/bin/chat-server"  # where the README installs it
BACKUPS = "/var/backups/chat"
STATE = "/var/lib/chat"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / name)
    return parser


def environment_file(tmp_path: Path) -> dict[str, str]:
    """deploy/chat.env as systemd reads it, on a free port and with the state directory
    moved under ``tmp_path``."""
    env = {}
    for line in (DEPLOY / "chat.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value.replace(STATE, str(tmp_path / "state"))
    env["CHAT_SERVER_PORT"] = str(free_port())
    return env


def command_line(value: str, tmp_path: Path) -> list[str]:
    """A unit's Exec line as systemd runs it (``%%`` is a percent sign), with the installed
    ``chat-server`` and the backup directory of this test."""
    words = shlex.split(value.replace("%%", "%"))
    here = shlex.join(server_command())
    return [w.replace(CHAT_SERVER, here).replace(BACKUPS, str(tmp_path / "backups")) for w in words]


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here (Debian package systemd)")
    for name in ("chat.service", "chat-backup.service", "chat-backup.timer"):
        text = (DEPLOY / name).read_text().replace(CHAT_SERVER, server_command()[0])
        (tmp_path / name).write_text(text)
    for name in ("chat.service", "chat-backup.service", "chat-backup.timer"):
        result = subprocess.run(
            ["systemd-analyze", "verify", str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        # an unknown key or a bad value is only a warning on stderr, with status 0
        mine = [line for line in result.stderr.splitlines() if str(tmp_path) in line]
        assert result.returncode == 0 and not mine, result.stderr


def test_the_service_is_hardened_and_restarts_on_failure() -> None:
    service = unit("chat.service")["Service"]
    assert service["ExecStart"] == f"{CHAT_SERVER} serve"
    assert service["StateDirectory"] == "chat"
    assert service["User"] == "chat"
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes"
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    env = (DEPLOY / "chat.env").read_text()
    assert f"CHAT_SERVER_DB={STATE}/chat.db" in env, "the database is in the state directory"


def serve_as_the_unit(tmp_path: Path) -> ServerProcess:
    env = {**os.environ, **environment_file(tmp_path)}
    (tmp_path / "state").mkdir(exist_ok=True)
    return ServerProcess(None, bare=True, env=env).start()


def test_the_units_command_serves_as_configured_and_stops_on_sigterm(tmp_path: Path) -> None:
    server = serve_as_the_unit(tmp_path)
    try:
        assert server.url.startswith("ws://127.0.0.1:"), server.url
        assert server.health()["status"] == "ok"
        home = tmp_path / "home"
        # the environment file says invite-only signup: a new nick gets no account
        env = tui_env(home, CHAT_PASSWORD="a password")
        result = run_tui(env, "login", server.url, "--nick", "stranger")
        assert result.returncode == 4, result
        assert "invite code" in result.stderr, result.stderr
        assert (tmp_path / "state" / "chat.db").exists()
    finally:
        status = server.stop(signal.SIGTERM, timeout=30)
    assert status == 0, server.log_tail()


def test_a_nightly_backup_is_restored_as_the_readme_says(tmp_path: Path) -> None:
    env = environment_file(tmp_path)
    server = serve_as_the_unit(tmp_path)
    home = tmp_path / "home"
    user = tui_env(home, CHAT_PASSWORD="alice's password")
    try:
        admin = {**os.environ, **env, "CHAT_PASSWORD": "alice's password"}
        add = subprocess.run(
            [*server_command(), "users", "add", "alice"],
            env=admin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert add.returncode == 0, add.stderr
        ok(run_tui(user, "login", server.url, "--nick", "alice"))
        send = ("send", "--url", server.url, "--room", "general", "--create")
        ok(run_tui(user, *send, "said before the backup"))

        backups = tmp_path / "backups"
        backups.mkdir()
        stale = backups / "chat-2020-01-01-0315.db"
        stale.write_text("a copy from long ago")
        month_ago = time.time() - 30 * 86400
        os.utime(stale, (month_ago, month_ago))
        service = unit("chat-backup.service")["Service"]
        for key in ("ExecStart", "ExecStartPost"):
            run = subprocess.run(
                command_line(service[key], tmp_path),
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert run.returncode == 0, (key, run.stderr)
        copies = sorted(backups.glob("chat-*.db"))
        assert len(copies) == 1 and copies[0] != stale, copies

        ok(run_tui(user, *send, "said after the backup"))
    finally:
        assert server.stop(signal.SIGTERM, timeout=30) == 0, server.log_tail()

    # the README's restore: the copy in place of the database, without the old WAL files
    db = tmp_path / "state" / "chat.db"
    shutil.copyfile(copies[0], db)
    for leftover in ("chat.db-wal", "chat.db-shm"):
        (tmp_path / "state" / leftover).unlink(missing_ok=True)
    server.start()
    try:
        history = run_tui(user, "history", "--url", server.url, "--room", "general", "--json")
        bodies = [m["body"] for m in json_lines(ok(history))]
        assert bodies == ["said before the backup"], bodies
    finally:
        assert server.stop(signal.SIGTERM, timeout=30) == 0, server.log_tail()


def test_a_pg_dump_is_restored_as_the_readme_says(database_url: str, tmp_path: Path) -> None:
    """The README's PostgreSQL backup (``pg_dump --format=custom``) and restore
    (``pg_restore --clean --if-exists``, every server stopped), on a schema of its own."""
    schema = PostgresSchema(database_url)
    asyncio.run(schema.create())
    server = ServerProcess(schema.url).start()
    user = tui_env(tmp_path / "home", CHAT_PASSWORD="alice's password")
    dump = tmp_path / "chat.dump"
    try:
        send = ("send", "--url", server.url, "--room", "general", "--create")
        ok(run_tui(user, "login", server.url, "--nick", "alice"))
        ok(run_tui(user, *send, "said before the dump"))
        pg_dump = ["pg_dump", "--format=custom", f"--schema={schema.name}", f"--file={dump}"]
        dumped = subprocess.run(
            [*pg_dump, database_url], capture_output=True, text=True, timeout=120
        )
        assert dumped.returncode == 0, dumped.stderr
        ok(run_tui(user, *send, "said after the dump"))
        assert server.stop(signal.SIGTERM, timeout=30) == 0, server.log_tail()

        restore = ["pg_restore", "--clean", "--if-exists", f"--dbname={database_url}", str(dump)]
        restored = subprocess.run(restore, capture_output=True, text=True, timeout=120)
        assert restored.returncode == 0, restored.stderr
        server.start()
        history = run_tui(user, "history", "--url", server.url, "--room", "general", "--json")
        bodies = [m["body"] for m in json_lines(ok(history))]
        assert bodies == ["said before the dump"], bodies
    finally:
        server.stop(signal.SIGTERM, timeout=30)
        asyncio.run(schema.drop())
