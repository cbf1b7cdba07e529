"""``chat-server invites`` and ``serve --signup`` as an operator uses them: real subprocesses
beside a real server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.server.cli_support import (
    Spawn,
    assert_ok,
    assert_one_line_failure,
    clean_env,
    cli,
    welcome,
)

pytestmark = pytest.mark.slow

LINK = re.compile(r"http://127\.0\.0\.1:8765/#invite=([a-z0-9]{20})")


def create(db: Path, *args: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    """``invites create ARGS``: the code and the link it printed."""
    made = cli("invites", "create", *args, "--db", str(db), env=env)
    assert_ok(made)
    code, link = made.stdout.splitlines()
    return code, link


async def test_an_invite_only_server_takes_the_code_the_cli_printed(
    server_process: Spawn, tmp_path: Path
) -> None:
    db = tmp_path / "chat.db"
    # before the first start, like users add: the database is created
    code, link = create(db, "--uses", "2", "--room", "general", "--room", "team")
    assert LINK.fullmatch(link) and link.endswith(code), link
    server = server_process("--signup", "invite")

    refused = await welcome(server.url, nick="walkin", password="pw-12345")
    assert refused["code"] == "forbidden", refused
    hi = await welcome(server.url, nick="newbie", password="pw-12345", invite=code)
    assert (hi["type"], hi["created"]) == ("welcome", True), hi
    assert [r["room"] for r in hi["rooms"]] == ["general", "team"]

    listed = cli("invites", "list", "--db", str(db))
    assert_ok(listed)
    header, row = listed.stdout.splitlines()
    assert header.split() == ["CODE", "USED", "EXPIRES", "ROOMS"]
    assert row.split()[:2] == [code[:6] + "...", "1/2"]
    assert row.split()[-2:] == ["#general", "#team"]
    assert code not in listed.stdout  # only its first characters are known

    revoked = cli("invites", "revoke", code[:6], "--db", str(db))
    assert_ok(revoked)
    assert revoked.stdout == f"revoked {code[:6]}...\n"
    after = await welcome(server.url, nick="second", password="pw-12345", invite=code)
    assert after["code"] == "forbidden", after
    assert cli("invites", "list", "--db", str(db)).stdout == "no invite codes\n"
    again = cli("invites", "revoke", code, "--db", str(db))
    assert assert_one_line_failure(again) == f"Error: no invite code {code}"


def test_the_link_follows_the_public_url_and_codes_expire_as_told(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    code, link = create(db, "--public-url", "https://chat.example.com/")
    assert link == f"https://chat.example.com/#invite={code}"
    code, link = create(db, env=clean_env(CHAT_SERVER_PUBLIC_URL="wss://chat.example.com:8443"))
    assert link == f"https://chat.example.com:8443/#invite={code}"
    create(db, "--expires", "never")
    rows = cli("invites", "list", "--db", str(db)).stdout.splitlines()[1:]
    assert [row.split()[2] for row in rows][-1] == "never"
    assert all(re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", row) for row in rows[:2])

    for args, message in [
        (("--uses", "0"), "--uses"),
        (("--expires", "soon"), "--expires"),
        (("--room", "General"), "--room"),
        (("--room", "dm:a:b"), "--room"),
        (("--public-url", "chat.example.com"), "--public-url"),
    ]:
        bad = cli("invites", "create", *args, "--db", str(db))
        assert bad.returncode == 2, (args, bad.stderr)
        assert message in bad.stderr and "Traceback" not in bad.stderr


def test_signup_modes_disagreeing_is_a_usage_error(tmp_path: Path) -> None:
    bad = cli(
        "serve", "--no-signup", "--signup", "open", "--port", "0", "--db", str(tmp_path / "c")
    )
    assert bad.returncode == 2
    assert "--no-signup and --signup open disagree" in bad.stderr
    wrong = cli("serve", "--signup", "maybe", "--port", "0", "--db", str(tmp_path / "c"))
    assert wrong.returncode == 2 and "'maybe' is not one of" in wrong.stderr


async def test_closed_signup_takes_no_code(server_process: Spawn, tmp_path: Path) -> None:
    code, _ = create(tmp_path / "chat.db")
    server = server_process("--signup", "closed")
    refused = await welcome(server.url, nick="newbie", password="pw-12345", invite=code)
    assert refused["code"] == "auth_failed", refused  # a code creates nothing here either
