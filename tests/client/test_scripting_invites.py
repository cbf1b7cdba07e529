"""``chat-tui login --invite`` against a real ``chat-server serve --signup invite``, with a code
from ``chat-server invites create``: real subprocesses on both sides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.client.cli_support import failure, json_lines, ok, run_tui, tui_env
from tests.conftest import ServerProcess
from tests.server.cli_support import assert_ok, cli

pytestmark = pytest.mark.slow


def test_login_with_the_code_invites_create_printed(
    server_process: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_process("--signup", "invite")
    made = cli("invites", "create", "--room", "general", "--db", str(tmp_path / "chat.db"))
    assert_ok(made)
    code = made.stdout.splitlines()[0]
    env = tui_env(tmp_path / "dana", CHAT_PASSWORD="dana-pw-1", CHAT_URL=server.url)

    needed = run_tui(env, "login", "--nick", "dana")
    assert failure(needed, 4) == (
        "Error: sign-up refused: an invite code is needed to sign up here"
        " (chat-tui login --invite CODE)"
    )
    wrong = run_tui(env, "login", "--nick", "dana", "--invite", "not-a-code")
    assert "the invite code is not valid" in failure(wrong, 4)

    created = ok(run_tui(env, "login", "--nick", "dana", "--invite", code))
    assert "Created the account dana" in created
    # the code's room is the new account's: a send there needs no join
    ok(run_tui(env, "send", "--room", "general", "hello, I was invited"))
    page = json_lines(ok(run_tui(env, "history", "--room", "general", "--json")))
    assert [(m["nick"], m["body"]) for m in page] == [("dana", "hello, I was invited")]
    again = ok(run_tui(env, "login", "--nick", "dana"))  # no code needed any more
    assert "Logged in as dana" in again
