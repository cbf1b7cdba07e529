"""Notifications in the real app: a mention, a highlight word or a direct message while the
terminal is not focused runs ``--notify-command`` with the event as JSON on stdin (here a
script that appends its stdin to a file); nothing while focused, for your own messages, or
for what a reconnect catches up on; a command that hangs is stopped, a missing one is one
line on screen.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot

from chat_tui.tui.app import ChatApp, create_app
from chat_tui.tui.notifications import NotifySettings
from tests.conftest import ChatServerUnderTest, ServerFactory
from tests.tui.conftest import screen_text, seed, token_for, until

REJOIN_PAGE = 500  # messages a re-join with since brings at most (docs/protocol.md)

# Appends its stdin to the file it is given; a body with "hang" makes it hang first.
NOTIFY_SCRIPT = """\
import sys, time
data = sys.stdin.read()
if "hang" in data:
    time.sleep(3600)
with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(data)
"""


@pytest.fixture
def notify_command(tmp_path: Path) -> tuple[list[str], Path]:
    script = tmp_path / "notify.py"
    script.write_text(NOTIFY_SCRIPT)
    out = tmp_path / "notified.jsonl"
    return [sys.executable, str(script), str(out)], out


def notified(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


async def blur(pilot: Pilot[Any], app: ChatApp) -> None:
    """The terminal says it lost the focus (what Textual reads from ESC [ O)."""
    app.post_message(events.AppBlur())
    await until(pilot, lambda: not app.app_focus, "the app knows it is not focused")


async def started(
    server: ChatServerUnderTest, command: list[str], **settings: Any
) -> tuple[ChatApp, str]:
    token = await token_for(server, "alice")
    notify = NotifySettings(command=command, **settings)
    return create_app(server.url, token=token, rooms=["general"], notify=notify), token


async def say(server: ChatServerUnderTest, nick: str, body: str, **where: str) -> None:
    async with server.login(nick) as client:
        if "to" not in where:
            await client.join("general")
        frame = {"type": "send", "body": body, "id": body[:40], **(where or {"room": "general"})}
        ack = await client.request(frame, "ack", "error")
        assert ack["type"] == "ack", ack


async def test_a_mention_while_unfocused_runs_the_command_with_the_event(
    server: ChatServerUnderTest, notify_command: tuple[list[str], Path]
) -> None:
    command, out = notify_command
    app, _ = await started(server, command)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await say(server, "bob", "alice: seen while you look")  # focused: no notification
        await until(pilot, lambda: "seen while you look" in screen_text(app), "shown")
        await blur(pilot, app)
        await say(server, "bob", "ALICE, the build is red")
        await until(pilot, lambda: notified(out), "the notify command ran")
        [event] = notified(out)
        assert event["kind"] == "mention"
        assert (event["room"], event["nick"]) == ("general", "bob")
        assert event["body"] == "ALICE, the build is red"
        assert event["ts"].startswith("20")


async def test_direct_messages_and_highlight_words_notify_but_own_messages_do_not(
    server: ChatServerUnderTest, notify_command: tuple[list[str], Path]
) -> None:
    command, out = notify_command
    app, _ = await started(server, command, highlights=("deploy",))
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await blur(pilot, app)
        await say(server, "alice", "alice here, deploy from my phone")  # mine: never
        await until(pilot, lambda: "from my phone" in screen_text(app), "shown")
        await say(server, "bob", "no word of interest")
        await say(server, "bob", "the Deploy is done")
        await until(pilot, lambda: len(notified(out)) == 1, "the highlight")
        await say(server, "carol", "got a minute?", to="alice")
        await until(pilot, lambda: len(notified(out)) == 2, "the direct message")
        first, second = notified(out)
        assert (first["kind"], first["body"]) == ("highlight", "the Deploy is done")
        assert (second["kind"], second["nick"], second["body"]) == ("dm", "carol", "got a minute?")
        assert second["room"] == "dm:alice:carol"


async def test_a_hanging_command_is_stopped_and_the_next_event_runs_it_again(
    server: ChatServerUnderTest, notify_command: tuple[list[str], Path]
) -> None:
    command, out = notify_command
    app, _ = await started(server, command, command_timeout=3.0)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await blur(pilot, app)
        await say(server, "bob", "alice: hang on")
        notifier = app.notifier.command
        assert notifier is not None
        await until(pilot, lambda: notifier.running, "the command runs")
        await say(server, "bob", "alice: dropped while the first runs")
        await until(pilot, lambda: "was stopped" in screen_text(app), "one line says so")
        assert notifier.dropped == 1
        await say(server, "bob", "alice: after the stop")
        await until(pilot, lambda: notified(out), "the next event ran the command")
        assert [event["body"] for event in notified(out)] == ["alice: after the stop"]
        assert screen_text(app).count("notify command") == 1
        assert app.is_running


async def test_a_missing_command_is_one_line_and_no_crash(server: ChatServerUnderTest) -> None:
    app, _ = await started(server, ["/nonexistent/chat-notify", "--flag"])
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await blur(pilot, app)
        await say(server, "bob", "alice: one")
        await until(pilot, lambda: "cannot run" in screen_text(app), "the failure is said")
        await say(server, "bob", "alice: two")
        await until(pilot, lambda: "alice: two" in screen_text(app), "shown")
        await until(pilot, lambda: app.notifier.command and not app.notifier.command.running, "")
        text = screen_text(app)
        assert text.count("cannot run") == 1, "said once, not for every message"
        assert "No such file or directory" in text and "Traceback" not in text
        assert app.is_running


@pytest.mark.slow
async def test_what_a_reconnect_catches_up_on_does_not_notify(
    make_server: ServerFactory, notify_command: tuple[list[str], Path]
) -> None:
    command, out = notify_command
    first: ChatServerUnderTest = await make_server()
    app, _ = await started(first, command)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await blur(pilot, app)
        port = first.running.port
        await first.running.stop()
        # said while alice's client is away, on a server it does not know of: more than the
        # re-join brings (500), so the mention comes in the catch-up after it
        elsewhere: ChatServerUnderTest = await make_server(
            rate_per_second=100000.0, rate_burst=100000
        )
        await seed(elsewhere, "bob", "general", [f"filler {n}" for n in range(REJOIN_PAGE)])
        await say(elsewhere, "bob", "alice: said while you were away")
        await elsewhere.running.stop()
        again: ChatServerUnderTest = await make_server(port=port)
        await until(pilot, lambda: "while you were away" in screen_text(app), "caught up", 30)
        await until(pilot, lambda: app.notifier.live, "live again")
        await say(again, "bob", "alice: and now live")
        await until(pilot, lambda: notified(out), "the live mention notifies")
        assert [event["body"] for event in notified(out)] == ["alice: and now live"]
