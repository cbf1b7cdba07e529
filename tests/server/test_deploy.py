"""The deployment the README gives an admin to copy (``deploy/``): the systemd units pass
``systemd-analyze verify``; the service's command with its environment file serves as
configured and stops cleanly on SIGTERM; the backup unit's command copies the live database,
drops copies older than 14 days, and the README's restore steps bring that copy back; a
``pg_dump`` is restored with ``pg_restore`` as the README says.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

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


NGINX_MAIN = """worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/chat.conf;
}}
"""


def nginx_site(directory: Path, http_port: int, https_port: int, chat_port: int) -> Path:
    """deploy/nginx.conf on test ports, a self-signed certificate and a private prefix; the
    main configuration that includes it."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=chat.example.com", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    site = (DEPLOY / "nginx.conf").read_text()
    live = "/etc/letsencrypt/live/chat.example.com"
    for old, new in [
        ("listen [::]:80;", ""),
        ("listen [::]:443 ssl;", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        (f"{live}/fullchain.pem", str(cert)),
        (f"{live}/privkey.pem", str(key)),
        ("127.0.0.1:8765", f"127.0.0.1:{chat_port}"),
    ]:
        assert old in site, old
        site = site.replace(old, new)
    (directory / "chat.conf").write_text(site)
    main = directory / "nginx.conf"
    main.write_text(NGINX_MAIN.format(dir=directory))
    return main


def test_nginx_in_front_carries_websockets_and_the_clients_address(tmp_path: Path) -> None:
    """deploy/nginx.conf with the settings of chat.env: a websocket through it works, the
    server logs the client's own address (from X-Forwarded-For, trusted from 127.0.0.1),
    plain HTTP is sent to HTTPS, and /metrics is not served to the world."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed here (Debian package nginx)")
    env = environment_file(tmp_path)
    log = tmp_path / "server.log"
    (tmp_path / "state").mkdir()
    admin = {**os.environ, **env, "CHAT_PASSWORD": "pw"}  # invite-only signup: an admin adds her
    add = subprocess.run(
        [*server_command(), "users", "add", "alice"], env=admin, capture_output=True, timeout=60
    )
    assert add.returncode == 0, add.stderr
    server = ServerProcess(None, log, bare=True, env={**os.environ, **env}).start()
    http_port, https_port = free_port(), free_port()
    main = nginx_site(tmp_path, http_port, https_port, int(env["CHAT_SERVER_PORT"]))
    nginx = subprocess.Popen(
        ["nginx", "-p", str(tmp_path), "-c", str(main), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(https_port, nginx)
        asyncio.run(_login_through(https_port))
        assert "connect alice from 127.0.0.2 via 127.0.0.1:" in server.log_text()
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        https = f"https://127.0.0.1:{https_port}"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{https}/metrics", context=context, timeout=10)
        assert refused.value.code == 403
        with urllib.request.urlopen(f"{https}/healthz", context=context, timeout=10) as page:
            assert json.loads(page.read())["status"] == "ok"
        plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        plain.request("GET", "/", headers={"Host": "chat.example.com"})
        moved = plain.getresponse()
        assert moved.status == 301
        assert moved.getheader("Location") == "https://chat.example.com/"
    finally:
        nginx.terminate()
        nginx.wait(10)
        server.stop(signal.SIGTERM, timeout=30)


def wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else proc.returncode
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


async def _login_through(port: int) -> None:
    """Log alice in through nginx, from 127.0.0.2 (an address other than the proxy's)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    async with connect(
        f"wss://127.0.0.1:{port}/ws",
        ssl=context,
        server_hostname="chat.example.com",
        local_addr=("127.0.0.2", 0),
        open_timeout=20,
    ) as ws:
        await ws.send(json.dumps({"type": "hello", "nick": "alice", "password": "pw"}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert welcome["type"] == "welcome", welcome
