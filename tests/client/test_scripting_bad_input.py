"""``chat-tui`` given what it cannot use (an odd address, a damaged credentials file, stdin
that is not UTF-8, a room that does not exist, invisible characters in a body): one line on
stderr and the documented exit code, never a traceback, and nothing made on the server."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.client.cli_support import (
    Lines,
    chat_tui_command,
    failure,
    json_lines,
    ok,
    run_tui,
    tui_env,
)
from tests.conftest import ServerProcess

pytestmark = pytest.mark.slow

FAST = ("--rate", "100000", "--burst", "100000")
NOWHERE = "127.0.0.1:1"  # nothing listens there: each failure below comes before a connect


def run_bytes(env: dict[str, str], *args: str, stdin: bytes) -> subprocess.CompletedProcess[str]:
    """``chat-tui ARGS`` with ``stdin`` given as raw bytes (``printf '\\xff' | chat-tui ...``)."""
    result = subprocess.run(
        chat_tui_command(*args), input=stdin, capture_output=True, env=env, timeout=60
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


# --- an address urlsplit cannot even split -------------------------------------------------

UNCLOSED = "ws://[::1/ws"


@pytest.mark.parametrize(
    "command",
    [
        ("send", "--url", UNCLOSED, "--room", "general", "x"),
        ("login", UNCLOSED, "--nick", "alice"),
        ("history", "--url", UNCLOSED, "--room", "general"),
        ("tail", "--url", UNCLOSED, "--room", "general"),
        ("logout", UNCLOSED),
        ("members", "--url", UNCLOSED, "--room", "general"),
        ("edit", "--url", UNCLOSED, "--room", "general", "1", "x"),
        ("connect", UNCLOSED, "--nick", "alice"),
    ],
    ids=lambda command: command[0],
)
def test_an_unclosed_ipv6_bracket_is_not_a_server_address(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    env = tui_env(tmp_path, CHAT_PASSWORD="hunter2-secret")
    said = failure(run_tui(env, *command), 3)
    assert said == (
        f"Error: not a server address: {UNCLOSED!r} (expected host:port or ws://host:port/ws)"
    )


def test_an_unclosed_ipv6_bracket_in_chat_url_too(tmp_path: Path) -> None:
    env = tui_env(tmp_path, CHAT_URL="http://[::1")
    said = failure(run_tui(env, "send", "--room", "general", "x"), 3)
    assert said.startswith("Error: not a server address: 'http://[::1' ")


# --- a damaged credentials file ------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("send", "--room", "general", "x"),
        ("history", "--room", "general"),
        ("tail", "--room", "general"),
        ("edit", "--room", "general", "1", "x"),
        ("members", "--room", "general"),
        ("logout",),
        ("login", "--nick", "alice"),
        ("passwd",),
        ("connect",),
    ],
    ids=lambda command: command[0],
)
def test_a_damaged_credentials_file_is_one_line_and_exit_2(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    stored = tmp_path / "config" / "chat-tui" / "credentials.json"
    stored.parent.mkdir(parents=True)
    stored.write_text("{not json\n")
    env = tui_env(tmp_path, CHAT_URL=NOWHERE, CHAT_PASSWORD="alice-pw")
    result = run_tui(env, *command)
    said = failure(result, 2)
    assert said.startswith(f"Error: cannot read {stored}: Expecting property name")
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert stored.read_text() == "{not json\n"  # the user's file, for them to mend


# --- stdin that is not UTF-8 ---------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [("send", "--room", "general", "-"), ("edit", "--room", "general", "26", "-")]
)
def test_stdin_that_is_not_utf8_is_a_usage_error_at_once(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    env = tui_env(tmp_path, CHAT_URL=NOWHERE, CHAT_TOKEN="t")
    started = time.monotonic()
    said = failure(run_bytes(env, *command, stdin=b"\xff\xfe bad"), 2)
    assert said == "Error: stdin is not valid UTF-8"
    assert time.monotonic() - started < 30  # not after --timeout's retries


def test_a_message_argument_that_is_not_utf8_is_a_usage_error_at_once(tmp_path: Path) -> None:
    env = tui_env(tmp_path, CHAT_URL=NOWHERE, CHAT_TOKEN="t")
    for command in ([b"send", b"--room", b"general"], [b"edit", b"--room", b"general", b"26"]):
        argv = [*map(os.fsencode, chat_tui_command()), *command, b"\xff\xfe bad"]
        result = subprocess.run(argv, capture_output=True, env=env, timeout=60)
        assert result.returncode == 2, result.stderr
        assert result.stderr.decode().splitlines()[-1] == "Error: the message is not valid UTF-8"


# --- against a server ----------------------------------------------------------------------


@dataclasses.dataclass
class Scene:
    """A running server, alice logged in (her shell's env) and bob logged in (his)."""

    env: dict[str, str]
    bob: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_tui(self.env, *args)


@pytest.fixture
def scene(server_process: Callable[..., ServerProcess], tmp_path: Path) -> Scene:
    server = server_process(*FAST)
    env = tui_env(tmp_path / "alice", CHAT_URL=server.url)
    ok(run_tui({**env, "CHAT_PASSWORD": "alice-pw"}, "login", "--nick", "alice"))
    bob = tui_env(tmp_path / "bob", CHAT_URL=server.url)
    ok(run_tui({**bob, "CHAT_PASSWORD": "bob-pw"}, "login", "--nick", "bob"))
    return Scene(env, bob)


def test_utf8_stdin_is_sent_as_text_mode_read_it(scene: Scene) -> None:
    ok(run_bytes(scene.env, "send", "--create", "--room", "general", "-", stdin=b"h\xc3\xa9\r\n"))
    ok(run_bytes(scene.env, "send", "--room", "general", "-", stdin=b"two\r\nlines\n"))
    records = json_lines(ok(scene.run("history", "--room", "general", "--json")))
    assert [r["body"] for r in records] == ["hé", "two\nlines"]


def test_tail_of_a_room_that_does_not_exist_is_refused_and_creates_nothing(
    scene: Scene,
) -> None:
    said = failure(scene.run("tail", "--room", "nonexist"), 5)
    assert said.startswith("Error: rejected by the server: not_member: ")
    # Had tail made the room, alice would own it and read it here, and bob would join it.
    assert "not_member" in failure(scene.run("history", "--room", "nonexist"), 5)
    assert "not_member" in failure(run_tui(scene.bob, "history", "--room", "nonexist"), 5)


def test_tail_of_a_public_room_that_exists_joins_it(scene: Scene) -> None:
    ok(run_tui(scene.bob, "send", "--create", "--room", "lobby", "welcome"))
    tail = subprocess.Popen(
        chat_tui_command("tail", "--room", "lobby", "--since", "0", "--json"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=scene.env,
        text=True,
    )
    try:
        [record] = json_lines(Lines(tail.stdout).next())
    finally:
        tail.terminate()
        tail.communicate(timeout=30)
    assert record["body"] == "welcome"


HIDDEN = "safe\u202eexe.txt \u200eleft\u200bjoined z\u0301\u0302\u0303\u0304\u0305!"


def test_human_output_shows_invisible_characters_as_the_tui_does(scene: Scene) -> None:
    ok(scene.run("send", "--create", "--room", "general", HIDDEN))
    shown = "safe<U+202E>exe.txt <U+200E>left<U+200B>joined z\u0301\u0302!"
    human = ok(scene.run("history", "--room", "general"))
    assert human.endswith(f"alice: {shown}\n")
    assert not {"\u202e", "\u200e", "\u200b", "\u0303"} & set(human)
    tail = subprocess.Popen(
        chat_tui_command("tail", "--room", "general", "--since", "0"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=scene.env,
        text=True,
    )
    try:
        line = Lines(tail.stdout).next()
    finally:
        tail.terminate()
        tail.communicate(timeout=30)
    assert line.endswith(f"alice: {shown}\n")
    [record] = json_lines(ok(scene.run("history", "--room", "general", "--json")))
    assert record["body"] == HIDDEN  # --json stays exact
