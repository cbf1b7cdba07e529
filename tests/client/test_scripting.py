"""``chat-tui send/history/tail/login/logout`` as scripts use them, against a real server."""

from __future__ import annotations

import dataclasses
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.sync.client import connect as ws_connect

from tests.client.cli_support import (
    Lines,
    chat_tui_command,
    failure,
    json_lines,
    ok,
    run_on_terminal,
    run_tui,
    tui_env,
)
from tests.conftest import ServerProcess

pytestmark = pytest.mark.slow

FAST = ("--rate", "100000", "--burst", "100000")


@dataclasses.dataclass
class Scene:
    """A running server and a shell environment logged in as alice (bob has an account too)."""

    server: ServerProcess
    home: Path
    env: dict[str, str]
    bob: dict[str, str]

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_tui(self.env, *args, stdin=stdin)

    def as_bob(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_tui(self.bob, *args, stdin=stdin)


@pytest.fixture
def scene(server_process: Callable[..., ServerProcess], tmp_path: Path) -> Scene:
    server = server_process(*FAST)
    env = tui_env(tmp_path / "alice", CHAT_URL=server.url)
    ok(run_tui({**env, "CHAT_PASSWORD": "alice-pw"}, "login", "--nick", "alice"))
    bob = tui_env(tmp_path / "bob", CHAT_URL=server.url)
    ok(run_tui({**bob, "CHAT_PASSWORD": "bob-pw"}, "login", "--nick", "bob"))
    return Scene(server, tmp_path / "alice", env, bob)


def history_json(scene: Scene, room: str, *extra: str) -> list[dict[str, object]]:
    return json_lines(ok(scene.run("history", "--room", room, "--json", *extra)))


# --- login, logout, credentials -------------------------------------------------------------


def test_login_says_when_it_created_the_account_and_stores_a_private_token(
    server_process: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_process()
    env = tui_env(tmp_path, CHAT_PASSWORD="pw-1")
    first = ok(run_tui(env, "login", server.url, "--nick", "carol"))
    assert "Created the account carol" in first
    again = ok(run_tui(env, "login", server.url, "--nick", "carol"))
    assert "Logged in as carol" in again and "Created" not in again
    stored = tmp_path / "config" / "chat-tui" / "credentials.json"
    assert str(stored) in again
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert "carol" in stored.read_text()
    wrong = run_tui({**env, "CHAT_PASSWORD": "nope"}, "login", server.url, "--nick", "carol")
    assert "authentication failed" in failure(wrong, 4)


def test_a_rate_limited_login_is_one_line_with_the_wait(
    server_process: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_process("--login-failures", "1/h")
    env = tui_env(tmp_path, CHAT_PASSWORD="pw-1")
    ok(run_tui(env, "login", server.url, "--nick", "carol"))
    wrong = {**env, "CHAT_PASSWORD": "nope"}
    assert "authentication failed" in failure(
        run_tui(wrong, "login", server.url, "--nick", "carol"), 4
    )
    refused = run_tui(wrong, "login", server.url, "--nick", "carol")
    assert failure(refused, 5) == "Error: Too many attempts; try again in 60 min"
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    # scripts logging in with CHAT_PASSWORD hear the same
    send = run_tui(
        {**wrong, "CHAT_NICK": "carol"}, "send", "--url", server.url, "--room", "general", "hi"
    )
    assert failure(send, 5) == "Error: Too many attempts; try again in 60 min"


def test_login_reads_the_password_from_a_prompt(
    server_process: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_process()
    env = tui_env(tmp_path)
    no_terminal = run_tui(env, "login", server.url, "--nick", "dave", stdin="typed-pw\n")
    said = failure(no_terminal, 2)
    assert said == "Error: no terminal to ask for the password on: set CHAT_PASSWORD"
    typed = {"Password: ": "typed-pw\n"}
    result = run_on_terminal(env, "login", server.url, "--nick", "dave", answers=typed)
    assert "Created the account dave" in ok(result)
    assert "typed-pw" not in result.stdout + result.stderr
    relogin = run_tui({**env, "CHAT_PASSWORD": "typed-pw"}, "login", server.url, "--nick", "dave")
    assert "Logged in as dave" in ok(relogin)


def test_logout_revokes_the_token_and_forgets_it(scene: Scene) -> None:
    stored = scene.home / "config" / "chat-tui" / "credentials.json"
    token = stored.read_text().split('"token": "')[1].split('"')[0]
    assert "Logged out" in ok(scene.run("logout"))
    assert token not in stored.read_text()
    reused = scene.run("send", "--create", "--room", "general", "--token", token, "hi")
    assert "authentication failed" in failure(reused, 4)
    assert "not logged in" in failure(scene.run("send", "--create", "--room", "general", "hi"), 4)
    assert "Not logged in" in ok(scene.run("logout"))


def test_passwd_changes_the_password_and_logs_out_the_other_sessions(
    scene: Scene, tmp_path: Path
) -> None:
    laptop = tui_env(tmp_path / "laptop", CHAT_URL=scene.server.url)
    ok(run_tui({**laptop, "CHAT_PASSWORD": "alice-pw"}, "login", "--nick", "alice"))
    prompts = {
        "Old password: ": "alice-pw\n",
        "New password: ": "new-alice-pw\n",
        "Repeat for confirmation: ": "new-alice-pw\n",
    }
    changed = run_on_terminal(scene.env, "passwd", answers=prompts)
    assert "Password changed" in ok(changed)
    assert "alice-pw" not in changed.stdout + changed.stderr
    # this shell's token still works; the laptop's was revoked; the new password logs in
    ok(scene.run("send", "--create", "--room", "general", "after the change"))
    assert "authentication failed" in failure(
        run_tui(laptop, "send", "--create", "--room", "general", "x"), 4
    )
    old = run_tui({**laptop, "CHAT_PASSWORD": "alice-pw"}, "login", "--nick", "alice")
    assert "authentication failed" in failure(old, 4)
    ok(run_tui({**laptop, "CHAT_PASSWORD": "new-alice-pw"}, "login", "--nick", "alice"))


def test_passwd_with_the_wrong_old_password_changes_nothing(scene: Scene) -> None:
    no_terminal = scene.run("passwd", stdin="alice-pw\nnew-pw-1\nnew-pw-1\n")
    assert failure(no_terminal, 2).startswith("Error: no terminal to ask for the old password on")
    prompts = {
        "Old password: ": "not-it\n",
        "New password: ": "new-pw-1\n",
        "Repeat for confirmation: ": "new-pw-1\n",
    }
    refused = run_on_terminal(scene.env, "passwd", answers=prompts)
    assert "old password is wrong" in failure(refused, 5)
    ok(scene.run("send", "--create", "--room", "general", "still logged in"))
    ok(run_tui({**scene.env, "CHAT_PASSWORD": "alice-pw"}, "login", "--nick", "alice"))


def test_logout_all_revokes_every_token_of_the_account(scene: Scene, tmp_path: Path) -> None:
    laptop = tui_env(tmp_path / "laptop", CHAT_URL=scene.server.url)
    ok(run_tui({**laptop, "CHAT_PASSWORD": "alice-pw"}, "login", "--nick", "alice"))
    assert "Logged out" in ok(scene.run("logout", "--all"))
    assert "authentication failed" in failure(
        run_tui(laptop, "send", "--create", "--room", "general", "x"), 4
    )
    ok(scene.as_bob("send", "--create", "--room", "general", "bob is still here"))


# --- send -----------------------------------------------------------------------------------


def test_send_then_history_in_the_human_format(scene: Scene) -> None:
    ok(scene.run("send", "--create", "--room", "general", "hello world"))
    [record] = history_json(scene, "general")
    human = ok(scene.run("history", "--room", "general"))
    date, time = str(record["ts"])[:19].split("T")
    assert human == f"{date} {time}  alice: hello world\n"


def test_send_reads_stdin_only_when_asked(scene: Scene) -> None:
    # With a message argument, an open stdin is never read: the command does not wait on it.
    proc = subprocess.Popen(
        chat_tui_command("send", "--create", "--room", "general", "from the argument"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=scene.env,
        text=True,
    )
    try:
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
    ok(scene.run("send", "--create", "--room", "general", "-", stdin="line one\nline two\n"))
    bodies = [r["body"] for r in history_json(scene, "general")]
    assert bodies == ["from the argument", "line one\nline two"]  # one trailing newline stripped
    empty = scene.run("send", "--create", "--room", "general", "-", stdin="")
    assert failure(empty, 2) == "Error: nothing to send: stdin was empty"
    assert len(history_json(scene, "general")) == 2


def test_send_lines_posts_each_line_in_order_and_prints_the_acks(scene: Scene) -> None:
    lines = [f"line {n}" for n in range(1, 121)]
    result = scene.run(
        "send", "--create", "--room", "ops", "--lines", "--json", "-", stdin="\n".join(lines)
    )
    acks = json_lines(ok(result))
    assert [a["seq"] for a in acks] == list(range(1, 121))
    assert {a["room"] for a in acks} == {"ops"}
    stored = history_json(scene, "ops", "--limit", "500")
    assert [r["body"] for r in stored] == lines


def test_a_timed_out_send_names_the_retry_that_stores_nothing_twice(
    server_process: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    # 60 lines at 5 sends a second (a burst of 5) cannot all be acked within 2 s.
    server = server_process("--rate", "5", "--burst", "5")
    env = tui_env(tmp_path, CHAT_URL=server.url)
    ok(run_tui({**env, "CHAT_PASSWORD": "pw"}, "login", "--nick", "cron"))
    lines = "\n".join(f"row {n}" for n in range(1, 61))
    said = failure(
        run_tui(
            env, "send", "--create", "--room", "ops", "--lines", "--timeout", "2", "-", stdin=lines
        ),
        3,
    )
    assert said.startswith(f"Error: no ack within 2 s from {server.url} (")
    retry_id = said.split("--id ")[1].split()[0]
    retry = run_tui(
        env, "send", "--create", "--room", "ops", "--lines", "--id", retry_id, "-", stdin=lines
    )
    ok(retry)
    stored = json_lines(ok(run_tui(env, "history", "--room", "ops", "--limit", "500", "--json")))
    assert [m["body"] for m in stored] == lines.split("\n")


def test_send_with_an_id_is_idempotent(scene: Scene) -> None:
    first = json_lines(
        ok(scene.run("send", "--create", "--room", "general", "--id", "job-7", "--json", "a"))
    )
    retry = json_lines(
        ok(scene.run("send", "--create", "--room", "general", "--id", "job-7", "--json", "b"))
    )
    assert first == retry
    assert [r["body"] for r in history_json(scene, "general")] == ["a"]


def test_send_to_a_person_opens_the_direct_conversation(scene: Scene) -> None:
    [ack] = json_lines(ok(scene.run("send", "--to", "bob", "--json", "psst")))
    assert ack["room"] == "dm:alice:bob"
    seen = json_lines(ok(scene.as_bob("history", "--room", "dm:alice:bob", "--json")))
    assert [(m["nick"], m["body"]) for m in seen] == [("alice", "psst")]


def test_block_refuses_direct_messages_until_unblock(scene: Scene) -> None:
    assert ok(scene.as_bob("block", "ALICE")).startswith("Blocked alice: ")
    refused = failure(scene.run("send", "--to", "bob", "hello?"), 5)
    assert "forbidden" in refused and "bob" in refused
    assert "not_found" in failure(scene.as_bob("block", "nobody"), 5)
    assert "bad_request" in failure(scene.as_bob("block", "bob"), 5)
    assert ok(scene.as_bob("unblock", "alice")) == "Unblocked alice.\n"
    [ack] = json_lines(ok(scene.run("send", "--to", "bob", "--json", "hello")))
    seen = json_lines(ok(scene.as_bob("history", "--room", ack["room"], "--json")))
    assert [m["body"] for m in seen] == ["hello"]


def test_exit_codes(scene: Scene) -> None:
    assert "--room" in failure(scene.run("send", "hi"), 2)
    assert "--room" in failure(scene.run("send", "--create", "--room", "a", "--to", "bob", "hi"), 2)
    assert "empty" in failure(scene.run("send", "--create", "--room", "a", ""), 2)
    unreachable = scene.run(
        "send", "--url", "ws://127.0.0.1:1/ws", "--token", "t", "--room", "a", "x"
    )
    assert "cannot connect" in failure(unreachable, 3)
    bad_token = scene.run("send", "--token", "not-a-token", "--room", "a", "x")
    assert "authentication failed" in failure(bad_token, 4)
    assert "not_found" in failure(scene.run("send", "--to", "nobody", "x"), 5)
    assert "invalid_name" in failure(scene.run("send", "--create", "--room", "Bad Room", "x"), 5)
    assert "forbidden" in failure(scene.as_bob("history", "--room", "dm:alice:carol"), 5)


def test_a_typo_in_a_room_or_a_nick_never_creates_it_silently(scene: Scene) -> None:
    ok(scene.run("send", "--create", "--room", "ops", "the room exists now"))
    said = failure(scene.run("send", "--room", "opps", "to a typo"), 5)
    assert said.startswith("Error: rejected by the server: not_found: ")
    # nothing was made: a room that existed would be joined and read here
    assert "not_member" in failure(scene.run("history", "--room", "opps"), 5)
    ok(scene.as_bob("send", "--room", "ops", "bob joins an existing room without --create"))
    typo = {**scene.env, "CHAT_PASSWORD": "pw"}
    newbie = run_tui(typo, "send", "--nick", "alcie", "--room", "ops", "hi")
    ok(newbie)
    assert newbie.stderr == "Created the account alcie (a new nick: was it a typo?)\n"
    again = run_tui(typo, "send", "--nick", "alcie", "--room", "ops", "hi again")
    assert ok(again) == "" and again.stderr == ""


def test_rooms_are_named_with_or_without_a_leading_hash(scene: Scene) -> None:
    ok(scene.run("send", "--create", "--room", "#ops", "with a hash"))
    ok(scene.run("send", "--create", "--room", "ops", "without"))
    assert [m["body"] for m in history_json(scene, "#ops")] == ["with a hash", "without"]


def test_logged_in_elsewhere_a_mistyped_port_is_cannot_connect(scene: Scene) -> None:
    # alice's stored token is for the right address; the typo is not a missing login.
    wrong = scene.server.url.replace(f":{scene.server.port}/", ":1/")
    said = failure(scene.run("history", "--url", wrong, "--room", "ops"), 3)
    assert said == f"Error: cannot connect to {wrong}: Connection refused"


@pytest.mark.parametrize(
    "command",
    [
        ("send", "--nick", "alice", "--url", "127.0.0.1:18765x", "--room", "ops", "hi"),
        ("history", "--url", "ws://127.0.0.1:99999/ws", "--room", "ops"),
        ("login", "ftp://127.0.0.1:8765", "--nick", "alice"),
        ("connect", "127.0.0.1:18765x", "--nick", "alice"),
    ],
)
def test_a_mistyped_address_is_one_line_and_exit_3(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    env = tui_env(tmp_path, CHAT_PASSWORD="hunter2-secret")
    result = run_tui(env, *command)
    said = failure(result, 3)
    assert said.startswith("Error: not a server address: ")
    assert "hunter2" not in result.stdout + result.stderr


def test_environment_variables_name_the_server_and_the_token(scene: Scene) -> None:
    stored = scene.home / "config" / "chat-tui" / "credentials.json"
    token = stored.read_text().split('"token": "')[1].split('"')[0]
    env = tui_env(scene.home / "elsewhere", CHAT_URL=scene.server.url, CHAT_TOKEN=token)
    ok(run_tui(env, "send", "--create", "--room", "general", "via env"))
    assert [r["nick"] for r in history_json(scene, "general")] == ["alice"]


# --- history --------------------------------------------------------------------------------


def test_history_before_and_limit_page_backwards(scene: Scene) -> None:
    lines = "\n".join(f"m{n}" for n in range(1, 701))
    ok(scene.run("send", "--create", "--room", "big", "--lines", "-", stdin=lines))
    page = history_json(scene, "big", "--before", "601", "--limit", "550")
    assert [r["seq"] for r in page] == list(range(51, 601))  # newest 550 before 601, oldest first
    newest = history_json(scene, "big", "--limit", "3")
    assert [r["body"] for r in newest] == ["m698", "m699", "m700"]


def test_history_of_a_public_room_joins_it_but_a_typo_creates_nothing(scene: Scene) -> None:
    ok(scene.as_bob("send", "--create", "--room", "lobby", "welcome"))
    assert [r["body"] for r in history_json(scene, "lobby")] == ["welcome"]
    typo = scene.run("history", "--room", "lobyb")
    assert "not_member" in failure(typo, 5)
    # Had alice's attempt created the room, bob would now find and join it.
    assert "not_member" in failure(scene.as_bob("history", "--room", "lobyb"), 5)


def test_control_characters_never_reach_the_terminal(scene: Scene) -> None:
    body = "\x1b]0;owned\x07title \x1b[31mred\x1b[0m \x07bell \x85C1 [bold]markup[/]"
    ok(scene.run("send", "--create", "--room", "general", body))
    human = ok(scene.run("history", "--room", "general"))
    assert "\x1b" not in human and "\x07" not in human and "\x85" not in human
    assert human.endswith("alice: title red bell C1 [bold]markup[/]\n")
    [record] = history_json(scene, "general")
    assert record["body"] == "title red bell C1 [bold]markup[/]"  # cleaned by the server too


# --- tail -----------------------------------------------------------------------------------


def start_tail(scene: Scene, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        chat_tui_command("tail", *args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=scene.env,
        text=True,
    )


def stop(proc: subprocess.Popen[str], sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_tail_follows_new_messages_and_ends_cleanly_on_a_signal(scene: Scene, sig: int) -> None:
    ok(scene.run("send", "--create", "--room", "general", "old news"))
    tail = start_tail(scene, "--room", "general", "--json")
    out = Lines(tail.stdout)
    try:
        # Markers until one shows: then tail is live, and what follows must all be printed.
        for n in range(30):
            ok(scene.as_bob("send", "--create", "--room", "general", f"marker {n}"))
            line = out.poll(timeout=1.0)
            if line is not None:
                break
        assert line is not None, "tail never printed a new message"
        ok(scene.as_bob("send", "--create", "--room", "general", "--lines", "-", stdin="one\ntwo"))
        got: list[dict[str, object]] = []
        while len(got) < 2:  # a late marker may still come first
            [message] = json_lines(out.next())
            if not str(message["body"]).startswith("marker"):
                got.append(message)
    finally:
        code, err = stop(tail, sig)
    first = json_lines(line)[0]
    assert first["nick"] == "bob" and str(first["body"]).startswith("marker")  # not "old news"
    assert [m["body"] for m in got] == ["one", "two"]
    assert set(got[0]) == {"kind", "room", "seq", "nick", "body", "ts"}
    assert code == 0 and "Traceback" not in err


def test_tail_since_prints_the_backlog_first(scene: Scene) -> None:
    ok(scene.run("send", "--create", "--room", "general", "--lines", "-", stdin="a\nb\nc"))
    tail = start_tail(scene, "--room", "general", "--since", "1")
    try:
        lines = Lines(tail.stdout).take(2)
    finally:
        stop(tail, signal.SIGTERM)
    assert [line.rstrip("\n").split(": ", 1)[1] for line in lines] == ["b", "c"]


def test_tail_into_head_ends_when_head_has_had_enough(scene: Scene) -> None:
    ok(scene.run("send", "--create", "--room", "quiet", "--lines", "-", stdin="first\nsecond"))
    command = " ".join(chat_tui_command("tail", "--room", "quiet", "--since", "0"))
    result = subprocess.run(
        f"{command} | head -n 1; echo tail-exit=${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        env=scene.env,
        timeout=60,
        check=False,
    )
    assert result.stdout.splitlines()[0].endswith("alice: first")
    assert result.stdout.splitlines()[-1] == "tail-exit=0"
    assert "Traceback" not in result.stderr


def test_tail_with_a_cursor_resumes_where_it_stopped(scene: Scene, tmp_path: Path) -> None:
    cursor = tmp_path / "alerts.seq"
    ok(scene.run("send", "--create", "--room", "alerts", "--lines", "-", stdin="a1\na2\na3"))
    tail = start_tail(scene, "--room", "alerts", "--since", "0", "--json", "--cursor", str(cursor))
    try:
        first = json_lines("".join(Lines(tail.stdout).take(3)))
    finally:
        stop(tail, signal.SIGTERM)
    assert cursor.read_text().strip() == "3"
    ok(scene.run("send", "--create", "--room", "alerts", "--lines", "-", stdin="a4\na5"))
    # --since 0 is only the start for a new cursor: the cursor wins once it exists.
    tail = start_tail(scene, "--room", "alerts", "--since", "0", "--json", "--cursor", str(cursor))
    out = Lines(tail.stdout)
    try:
        second = json_lines("".join(out.take(2)))
        ok(scene.run("send", "--create", "--room", "alerts", "a6"))
        third = json_lines(out.next())
    finally:
        stop(tail, signal.SIGTERM)
    assert [m["body"] for m in first + second + third] == ["a1", "a2", "a3", "a4", "a5", "a6"]
    assert cursor.read_text().strip() == "6"
    nowhere = scene.run("tail", "--room", "alerts", "--since", "0", "--cursor", "/no-dir/x.seq")
    assert failure(nowhere, 2).endswith("/no-dir is not a directory")
    assert nowhere.stdout == ""  # refused before the first line, not after it
    cursor.write_text("garbage\n")
    assert "does not hold a seq" in failure(
        scene.run("tail", "--room", "alerts", "--cursor", str(cursor)), 2
    )


def _loaded_after(imports: str, roots: tuple[str, ...]) -> str:
    """The modules under ``roots`` a fresh interpreter holds after running ``imports``."""
    probe = (
        f"import sys; {imports}; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {roots!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


def test_a_send_to_a_server_busy_logging_in_waits_as_told(
    server_process: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """Past --max-logging-in the handshake gets 503 and a Retry-After: ``send`` waits it out
    while its --timeout allows (then the message goes out once), and says the wait otherwise."""
    server = server_process(*FAST, "--max-logging-in", "1")
    env = tui_env(tmp_path, CHAT_URL=server.url)
    ok(run_tui({**env, "CHAT_PASSWORD": "alice-pw"}, "login", "--nick", "alice"))
    with ws_connect(server.url):  # a login that never ends: the only place
        refused = run_tui(env, "send", "--room", "general", "--timeout", "0.5", "too soon")
        assert failure(refused, 5).startswith(
            "Error: The server is busy logging others in; try again in "
        )
        sending = subprocess.Popen(
            chat_tui_command("send", "--create", "--room", "general", "after the wait"),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(1.5)  # refused at least once meanwhile: the place is held
        assert sending.poll() is None
    _, err = sending.communicate(timeout=30)
    assert sending.returncode == 0, err
    assert err == ""
    bodies = [
        m["body"] for m in json_lines(ok(run_tui(env, "history", "--room", "general", "--json")))
    ]
    assert bodies == ["after the wait"]


def test_the_client_and_scripting_layers_do_not_import_the_tui() -> None:
    imports = (
        "import importlib, pkgutil, chat_tui.cli, chat_tui.client, chat_tui.scripting; "
        "[importlib.import_module(m.name) for pkg in (chat_tui.client, chat_tui.scripting) "
        "for m in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + '.')]"
    )
    assert _loaded_after(imports, ("textual", "rich")) == "[]"


def test_the_one_shot_send_does_not_import_asyncio() -> None:
    imports = "import chat_tui.cli, chat_tui.scripting.oneshot, chat_tui.client.ids"
    assert _loaded_after(imports, ("asyncio",)) == "[]"


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("notify-send 'chat", "Error: --notify-command: No closing quotation"),
        ("  ", "Error: --notify-command is empty"),
    ],
)
def test_a_notify_command_that_is_no_command_line_is_exit_2(
    tmp_path: Path, command: str, why: str
) -> None:
    result = run_tui(tui_env(tmp_path), "connect", "--notify-command", command)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert why in result.stderr.splitlines()
