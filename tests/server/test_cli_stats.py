"""``chat-server stats`` as an operator runs it, on SQLite and on PostgreSQL: the database's
figures after people used the chat, the running server's connections, and the same figures
(with one line saying so) when no server answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from chat_server.cli_stats import health_url, size
from tests.raw import request as ask
from tests.scale.cluster import PostgresSchema
from tests.server.cli_support import (
    TIMEOUT,
    assert_ok,
    assert_one_line_failure,
    clean_env,
    cli,
    join,
    welcome,
)
from tests.support.servers import ServerProcess, free_port, spawn


def figures(stdout: str) -> dict[str, str]:
    """``stats`` output: the label (words) -> the value (the first word after them)."""
    found = {}
    for line in stdout.splitlines():
        label, _, value = line.partition("  ")
        if value:
            found[label.strip()] = value.split()[0]
    return found


async def chat(server: ServerProcess) -> None:
    """Two accounts, two rooms, three room messages (one then deleted), one direct message."""
    alice = await welcome(server.url, nick="alice", password="pw-alice")
    await welcome(server.url, nick="bob", password="pw-bob")
    async with connect(server.url, open_timeout=TIMEOUT) as ws:
        await ask(ws, {"type": "hello", "token": alice["token"]}, "welcome")
        await join(ws, "general")
        await join(ws, "random")
        for n in range(3):
            sent = {"type": "send", "room": "general", "body": f"hi {n}", "id": f"g{n}"}
            assert (await ask(ws, sent, "ack"))["type"] == "ack"
        gone = {"type": "delete", "room": "general", "target": 3, "id": "d1"}
        assert (await ask(ws, gone, "ack"))["type"] == "ack"
        dm = {"type": "send", "to": "bob", "body": "psst", "id": "p1"}
        assert (await ask(ws, dm, "ack"))["type"] == "ack"


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_stats_counts_what_people_did_and_asks_the_running_server(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    schema = None
    if store == "sqlite":
        target: Path | str = tmp_path / "chat.db"
        where = ["--db", str(target)]
    else:
        schema = PostgresSchema(request.getfixturevalue("database_url"))
        await schema.create()
        target = schema.url
        where = ["--database-url", schema.url]
    try:
        server = spawn(target)
        try:
            await chat(server)
            async with connect(server.url, open_timeout=TIMEOUT) as ws:
                await ask(ws, {"type": "hello", "nick": "bob", "password": "pw-bob"}, "welcome")
                live = await asyncio.to_thread(cli, "stats", *where, "--url", server.http)
        finally:
            server.stop()
        after = await asyncio.to_thread(cli, "stats", *where, "--url", server.url)
    finally:
        if schema is not None:
            await schema.drop()
    assert_ok(live)
    expected = {
        "users": "2",
        "rooms": "2",
        "direct conversations": "1",
        "messages": "3",  # the deleted one is gone
    }
    got = figures(live.stdout)
    assert {k: got[k] for k in expected} == expected, live.stdout
    assert got["connections"] == "1", live.stdout
    assert int(got["database"].replace(".", "")) > 0
    assert_ok(after)
    assert {k: figures(after.stdout)[k] for k in expected} == expected, after.stdout
    assert "connections" not in after.stdout
    assert after.stdout.splitlines()[-1] == f"no server answered at {server.http}/healthz"


@pytest.mark.slow
def test_stats_refuses_a_bad_url_and_a_missing_database(tmp_path: Path) -> None:
    missing = cli("stats", "--db", str(tmp_path / "nothing.db"))
    assert "no database at" in assert_one_line_failure(missing)
    db = tmp_path / "chat.db"
    assert_ok(
        cli("users", "add", "alice", "--db", str(db), env=clean_env(CHAT_PASSWORD="pw-alice"))
    )
    bad = cli("stats", "--db", str(db), "--url", "ftp://example.com")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr  # a usage error
    assert "Invalid value for --url: use http://HOST:PORT" in bad.stderr
    nobody = f"http://127.0.0.1:{free_port()}"
    quiet = cli("stats", "--db", str(db), "--url", nobody)
    assert_ok(quiet)
    assert figures(quiet.stdout)["users"] == "1"
    assert quiet.stdout.splitlines()[-1] == f"no server answered at {nobody}/healthz"


def test_urls_and_sizes_as_people_write_and_read_them() -> None:
    assert health_url("ws://127.0.0.1:8765/ws") == "http://127.0.0.1:8765/healthz"
    assert health_url("wss://chat.example.com/ws") == "https://chat.example.com/healthz"
    assert health_url("http://[::1]:9000") == "http://[::1]:9000/healthz"
    for bad in ("ftp://x", "127.0.0.1:8765", ""):
        with pytest.raises(ValueError):
            health_url(bad)
    assert [size(n) for n in (0, 999, 1000, 1_234_567, 5 * 10**12)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "1.2 MB",
        "5000.0 GB",
    ]
