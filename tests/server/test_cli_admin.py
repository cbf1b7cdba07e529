"""The ``chat-server`` administration commands as an operator uses them: users, tokens, backup.

Real subprocesses beside a real server; ``serve`` itself is in test_cli.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.raw import request
from tests.server.cli_support import (
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

pytestmark = pytest.mark.slow


# --- users ----------------------------------------------------------------------------------


async def test_users_add_list_remove(server_process: Spawn, tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    server = server_process()
    added = cli("users", "add", "Alice", "--db", str(db), env=clean_env(CHAT_PASSWORD="pw-1"))
    assert_ok(added)

    reply = await welcome(server.url, nick="Alice", password="pw-1")
    assert reply["type"] == "welcome", reply
    assert reply["created"] is False and reply["nick"] == "Alice", reply
    await refused(server.url, nick="Alice", password="wrong")

    listed = cli("users", "list", "--db", str(db))
    assert_ok(listed)
    assert any(line.split()[0] == "Alice" for line in listed.stdout.splitlines()), listed.stdout

    assert added.stderr == ""  # the password came from CHAT_PASSWORD: nothing to warn about
    again = cli("users", "add", "alice", "--db", str(db), env=clean_env(CHAT_PASSWORD="x"))
    assert again.returncode != 0, "a nick is unique case-insensitively"
    typed = cli("users", "add", "bob", "--password", "pw-2", "--db", str(db))
    assert_ok(typed)
    assert typed.stderr == (
        "warning: a password given with --password shows in ps and the shell's history;"
        " leave it out to be asked, or set CHAT_PASSWORD\n"
    )

    removed = cli("users", "remove", "Alice", "--db", str(db))
    assert_ok(removed)
    await refused(server.url, nick="Alice", password="pw-1")
    # the nick stays reserved: a new password does not sign up a new account
    await refused(server.url, nick="Alice", password="another-pw")
    await refused(server.url, nick="alice", password="another-pw")


async def test_users_admin_grants_and_revokes_at_once(
    server_process: Spawn, tmp_path: Path
) -> None:
    db = tmp_path / "chat.db"
    server = server_process()
    added = cli(
        "users", "add", "root", "--admin", "--db", str(db), env=clean_env(CHAT_PASSWORD="p")
    )
    assert_ok(added)
    assert added.stdout.splitlines() == ["created root, a server admin"]
    assert (await welcome(server.url, nick="root", password="p"))["admin"] is True
    bob = await welcome(server.url, nick="bob", password="pw-bob")
    assert "admin" not in bob
    listed = cli("users", "list", "--db", str(db))
    assert_ok(listed)
    assert [line.split() for line in listed.stdout.splitlines()] == [
        ["bob", "active"],
        ["root", "active", "admin"],
    ]

    granted = cli("users", "admin", "BOB", "--db", str(db))
    assert_ok(granted)
    assert granted.stdout.splitlines() == ["bob is a server admin now"]
    assert cli("users", "admin", "bob", "--db", str(db)).stdout == "bob was an admin already\n"
    async with connect(server.url, open_timeout=TIMEOUT) as ws:
        hi = await request(ws, {"type": "hello", "token": bob["token"]}, "welcome")
        assert hi["admin"] is True, hi
        async with connect(server.url, open_timeout=TIMEOUT) as root_ws:
            await request(root_ws, {"type": "hello", "nick": "root", "password": "p"}, "welcome")
            await join(root_ws, "general")
            await join(ws, "general")  # root made the room (its owner), not bob
            for key in ("m1", "m2"):
                frame = {"type": "send", "room": "general", "body": "hi", "id": key}
                assert (await request(root_ws, frame, "ack"))["type"] == "ack"
        gone = {"type": "delete", "room": "general", "target": 1, "id": "d1"}
        assert (await request(ws, gone, "ack"))["type"] == "ack"

        revoked = cli("users", "admin", "bob", "--revoke", "--db", str(db))
        assert_ok(revoked)
        assert revoked.stdout.splitlines() == ["bob is no longer a server admin"]
        # the same connection's next delete: the writer reads the flag as it is now
        kept = {"type": "delete", "room": "general", "target": 2, "id": "d2"}
        refusal = await request(ws, kept, "ack")
        assert (refusal["type"], refusal["code"]) == ("error", "forbidden"), refusal
    again = cli("users", "admin", "bob", "--revoke", "--db", str(db))
    assert again.stdout == "bob was no admin\n"
    assert_ok(cli("users", "remove", "root", "--db", str(db)))
    listed = cli("users", "list", "--db", str(db))
    assert [line.split() for line in listed.stdout.splitlines()] == [
        ["bob", "active"],
        ["root", "removed"],  # a removed account is nobody's admin
    ]


def test_users_admin_of_an_unknown_nick_fails_like_remove(
    server_process: Spawn, tmp_path: Path
) -> None:
    server_process()
    db = str(tmp_path / "chat.db")
    unknown = cli("users", "admin", "nobody", "--db", db)
    assert assert_one_line_failure(unknown) == "Error: no user nobody"
    assert unknown.returncode == cli("users", "remove", "nobody", "--db", db).returncode
    assert cli("users", "admin", "nobody", "--revoke", "--db", db).returncode == unknown.returncode


# --- tokens ---------------------------------------------------------------------------------


async def test_tokens_create_then_revoke(server_process: Spawn, tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    server = server_process()
    assert_ok(cli("users", "add", "deploy-bot", "--db", str(db), env=clean_env(CHAT_PASSWORD="p")))

    created = cli("tokens", "create", "deploy-bot", "--db", str(db))
    assert_ok(created)
    lines = created.stdout.split()
    assert len(lines) == 1, f"expected the token alone, got {created.stdout!r}"
    token = lines[0]

    async with connect(server.url, open_timeout=TIMEOUT) as ws:
        hi = await request(ws, {"type": "hello", "token": token}, "welcome")
        assert hi["type"] == "welcome" and hi["nick"] == "deploy-bot", hi
        assert hi["token"] == token
        await join(ws, "deploys")

        revoked = cli("tokens", "revoke", "deploy-bot", "--db", str(db))
        assert_ok(revoked)
        # the server checks revocations every 2 s
        assert await close_code(ws, timeout=6.0) == 1008

    await refused(server.url, token=token)


def test_tokens_create_for_unknown_nick_fails(server_process: Spawn, tmp_path: Path) -> None:
    server_process()
    result = cli("tokens", "create", "nobody", "--db", str(tmp_path / "chat.db"))
    assert_one_line_failure(result)


# --- backup ---------------------------------------------------------------------------------


async def test_backup_of_a_live_database(server_process: Spawn, tmp_path: Path) -> None:
    server = server_process()
    async with connect(server.url, open_timeout=TIMEOUT) as ws:
        hi = await request(ws, {"type": "hello", "nick": "alice", "password": "pw"}, "welcome")
        assert hi["type"] == "welcome", hi
        await join(ws, "general")
        for i in range(5):
            frame = {"type": "send", "room": "general", "body": f"before backup {i}", "id": f"b{i}"}
            ack = await request(ws, frame, "ack")
            assert ack["type"] == "ack" and ack["seq"] == i + 1, ack
        original = await history(server.url, hi["token"], "general")

        copy = tmp_path / "backups" / "copy.db"
        copy.parent.mkdir()
        result = cli("backup", str(copy), "--db", str(tmp_path / "chat.db"))
        assert_ok(result)
        assert copy.exists()
        # the live server keeps serving after the backup
        ack = await request(
            ws, {"type": "send", "room": "general", "body": "after", "id": "b-after"}, "ack"
        )
        assert ack["type"] == "ack" and ack["seq"] == 6, ack

    restored = server_process(db=copy)
    assert await history(restored.url, hi["token"], "general") == original
    assert len(original) == 5


def test_users_add_before_the_first_start_creates_the_database(tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "chat.db"
    env = {**os.environ, "CHAT_PASSWORD": "pw-123456"}
    added = subprocess.run(
        [sys.executable, "-m", "chat_server", "users", "add", "admin", "--db", str(db)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "chat_server", "users", "list", "--db", str(db)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert listed.stdout.split() == ["admin", "active"]
