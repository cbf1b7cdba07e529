"""``chat-server rooms list`` and ``rooms remove`` as an operator uses them: real subprocesses
beside a real server, and what its users see of a removed room."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.raw import Frame, request
from tests.server.cli_support import (
    TIMEOUT,
    Spawn,
    assert_ok,
    assert_one_line_failure,
    cli,
    join,
    welcome,
)

pytestmark = pytest.mark.slow

MINUTE = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"


async def test_rooms_list_then_remove_while_the_server_runs(
    server_process: Spawn, tmp_path: Path
) -> None:
    db = str(tmp_path / "chat.db")
    server = server_process()
    alice = await welcome(server.url, nick="alice", password="pw-alice")
    bob = await welcome(server.url, nick="bob", password="pw-bob")
    async with connect(server.url, open_timeout=TIMEOUT) as ws:
        await request(ws, {"type": "hello", "token": alice["token"]}, "welcome")
        await join(ws, "general")
        await join(ws, "spam")
        made = {"type": "create", "room": "hiring", "private": True, "id": "c1"}
        assert (await request(ws, made, "ack"))["type"] == "ack"
        for n in range(3):
            frame = {"type": "send", "room": "spam", "body": f"buy pills {n}", "id": f"s{n}"}
            assert (await request(ws, frame, "ack"))["type"] == "ack"
    async with connect(server.url, open_timeout=TIMEOUT) as ws:
        await request(ws, {"type": "hello", "token": bob["token"]}, "welcome")
        await join(ws, "spam")

    listed = cli("rooms", "list", "--db", db)
    assert_ok(listed)
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ROOM", "KIND", "MEMBERS", "LAST", "ACTIVITY"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["general", "public", "1"],
        ["hiring", "private", "1"],
        ["spam", "public", "2"],
    ]
    assert all(re.search(MINUTE, line) for line in lines[1:]), lines

    refused = cli("rooms", "remove", "spam", "--db", db)  # no terminal to confirm on
    assert refused.returncode != 0
    removed = cli("rooms", "remove", "#spam", "--yes", "--db", db)
    assert_ok(removed)
    assert removed.stdout == "removed #spam\n"
    assert [line.split()[0] for line in cli("rooms", "list", "--db", db).stdout.splitlines()] == [
        "ROOM",
        "general",
        "hiring",
    ]
    # bob's next login no longer lists it, nor does anyone's search find its text
    async with connect(server.url, open_timeout=TIMEOUT) as ws:
        hi = await request(ws, {"type": "hello", "token": bob["token"]}, "welcome")
        assert [r["room"] for r in hi["rooms"]] == []
        found = await request(ws, {"type": "search", "q": "pills"}, "results")
        assert found["messages"] == []
        # a client resuming where it was (since) is told it is gone, and makes nothing
        resume = await request(ws, {"type": "join", "room": "spam", "since": 3}, "joined")
        assert (resume["type"], resume["code"]) == ("error", "not_found"), resume
        # the name is free: a join makes a new, empty room
        await join(ws, "spam")
        page = await request(ws, {"type": "history", "room": "spam", "after": 0}, "history")
        assert page["messages"] == []
    gone = cli("rooms", "remove", "spam-nope", "--yes", "--db", db)
    assert assert_one_line_failure(gone) == "Error: no room spam-nope"


async def test_rooms_retention_sets_what_joined_says_over_the_servers_default(
    server_process: Spawn, tmp_path: Path
) -> None:
    db = str(tmp_path / "chat.db")
    server = server_process("--retention", "90d")
    alice = await welcome(server.url, nick="alice", password="pw-alice")

    async def joined(room: str) -> Frame:
        async with connect(server.url, open_timeout=TIMEOUT) as ws:
            await request(ws, {"type": "hello", "token": alice["token"]}, "welcome")
            frame = await request(ws, {"type": "join", "room": room}, "joined")
            assert frame["type"] == "joined", frame
            return frame

    assert (await joined("general"))["retention_s"] == 90 * 86400
    await joined("archive")
    short = cli("rooms", "retention", "#general", "30d", "--db", db)
    assert_ok(short)
    assert short.stdout == "#general keeps its messages for 30d\n"
    forever = cli("rooms", "retention", "archive", "forever", "--db", db)
    assert_ok(forever)
    assert forever.stdout == "#archive keeps its messages forever\n"
    assert (await joined("general"))["retention_s"] == 30 * 86400
    assert "retention_s" not in await joined("archive")
    back = cli("rooms", "retention", "general", "default", "--db", db)
    assert back.stdout == "#general keeps its messages as the server says (serve --retention)\n"
    assert (await joined("general"))["retention_s"] == 90 * 86400

    bad = cli("rooms", "retention", "general", "soon", "--db", db)
    assert "use e.g. 30d, 12h, forever or default" in bad.stderr
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    nowhere = cli("rooms", "retention", "nowhere", "30d", "--db", db)
    assert assert_one_line_failure(nowhere) == "Error: no room nowhere"
