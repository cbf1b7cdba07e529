"""``chat-tui members``: every member of a room, however many pages, against a real server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from chat_server import protocol as p
from tests.client.cli_support import failure, ok, run_tui, tui_env
from tests.conftest import ServerProcess
from tests.support.crowd import crowd_file

pytestmark = pytest.mark.slow


def test_members_lists_a_room_past_one_page(
    server_process: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    db = tmp_path / "chat.db"
    server = server_process(db=db)
    alice = tui_env(tmp_path / "alice", CHAT_URL=server.url, CHAT_PASSWORD="alice-pw")
    ok(run_tui(alice, "send", "--create", "--room", "crowd", "--nick", "alice", "hello"))
    crowd = [f"M{n:03}" for n in range(p.JOINED_MEMBERS_MAX + 20)]
    crowd_file(db, "crowd", crowd)

    lines = ok(run_tui(alice, "members", "--room", "crowd", "--nick", "alice")).splitlines()
    # by nick, case-insensitively; alice's own connection makes her online
    assert lines == ["alice  (online)", *crowd]
    records = [
        json.loads(line)
        for line in ok(
            run_tui(alice, "members", "--room", "crowd", "--nick", "alice", "--json")
        ).splitlines()
    ]
    assert len(records) == len(crowd) + 1
    assert records[:2] == [{"nick": "alice", "online": True}, {"nick": "M000", "online": False}]
    assert records[-1] == {"nick": crowd[-1], "online": False}

    # a room you are not in is refused, and not joined for you
    outsider = run_tui(alice, "members", "--room", "elsewhere", "--nick", "alice")
    assert "not_member" in failure(outsider, 5)
