"""``chat-tui edit/delete/react``, ``send --reply-to`` and what ``history`` and ``tail`` show of
messages that change (protocol 2), run as a user would against a real server."""

from __future__ import annotations

import signal

import pytest

from tests.client.cli_support import Lines, failure, json_lines, ok
from tests.client.test_scripting import Scene, history_json, scene, start_tail, stop

__all__ = ["scene"]  # the fixture, shared with test_scripting

pytestmark = pytest.mark.slow


def send(scene: Scene, body: str, *extra: str) -> int:
    [ack] = json_lines(ok(scene.run("send", "--create", "--room", "ops", "--json", *extra, body)))
    seq = ack["seq"]
    assert isinstance(seq, int)
    return seq


def bodies(scene: Scene, *extra: str) -> list[str]:
    """History's human lines without their time stamps."""
    out = ok(scene.run("history", "--room", "ops", *extra))
    return [line[21:] for line in out.splitlines()]


def test_a_bot_posts_progress_and_edits_it_in_place(scene: Scene) -> None:
    seq = send(scene, "deploy 40%")
    [ack] = json_lines(ok(scene.run("edit", "--room", "ops", "--json", str(seq), "deploy 80%")))
    assert ack["seq"] == seq + 1 and ack["room"] == "ops"
    assert ok(scene.run("edit", "--room", "ops", str(seq), "-", stdin="deploy done\n")) == ""
    assert bodies(scene) == ["alice: deploy done (edited)"]
    [record] = history_json(scene, "ops")
    assert record["body"] == "deploy done" and record["kind"] == "message"
    assert "edited" in record and "deleted" not in record


def test_a_deleted_message_reads_as_deleted(scene: Scene) -> None:
    secret = send(scene, "the password is hunter2")
    send(scene, "oops")
    ok(scene.run("delete", "--room", "ops", str(secret), "--reason", "secret"))
    assert bodies(scene) == ["alice: message deleted", "alice: oops"]
    assert "hunter2" not in ok(scene.run("history", "--room", "ops", "--json"))
    again = ok(scene.run("delete", "--room", "ops", "--json", str(secret)))
    assert json_lines(again)[0]["seq"] == secret + 2  # the first delete's ack


def test_refusals_are_one_line_and_the_documented_exit_codes(scene: Scene) -> None:
    seq = send(scene, "mine")
    ok(scene.as_bob("history", "--room", "ops"))  # bob joins the public room
    refused = failure(scene.as_bob("edit", "--room", "ops", str(seq), "yours now"), 5)
    assert "rejected by the server: forbidden" in refused
    assert "forbidden" in failure(scene.as_bob("delete", "--room", "ops", str(seq)), 5)
    assert "not_found" in failure(scene.run("edit", "--room", "ops", "99", "x"), 5)
    assert "empty" in failure(scene.run("edit", "--room", "ops", str(seq), "-", stdin=""), 2)
    assert "SEQ" in failure(scene.run("delete", "--room", "ops", "first"), 2)
    unreachable = scene.run("delete", "--url", "127.0.0.1:1", "--token", "t", "--room", "ops", "1")
    assert "cannot connect" in failure(unreachable, 3)
    assert bodies(scene) == ["alice: mine"]


def test_tail_prints_every_entry_with_its_kind(scene: Scene) -> None:
    seq = send(scene, "deploy 40%")
    ok(scene.run("edit", "--room", "ops", str(seq), "deploy done"))
    tail = start_tail(scene, "--room", "ops", "--since", "0", "--json")
    out = Lines(tail.stdout)
    try:
        backlog = [json_lines(line)[0] for line in out.take(2)]
        ok(scene.run("delete", "--room", "ops", str(seq)))
        [live] = json_lines(out.next())
    finally:
        code, err = stop(tail, signal.SIGTERM)
    assert [(e["kind"], e["seq"]) for e in backlog] == [("message", seq), ("edit", seq + 1)]
    assert backlog[0]["body"] == "deploy done" and "edited" in backlog[0]
    assert (backlog[1]["target"], backlog[1]["body"]) == (seq, "deploy done")
    assert live == {
        "kind": "delete",
        "room": "ops",
        "seq": seq + 2,
        "nick": "alice",
        "ts": live["ts"],
        "target": seq,
    }
    assert code == 0 and "Traceback" not in err


def test_human_tail_shows_changes_as_short_lines(scene: Scene) -> None:
    seq = send(scene, "deploy 40%")
    tail = start_tail(scene, "--room", "ops", "--since", str(seq))
    out = Lines(tail.stdout)
    try:
        ok(scene.run("edit", "--room", "ops", str(seq), "deploy \x1b[2Jdone"))
        ok(scene.run("delete", "--room", "ops", str(seq), "--reason", "done"))
        lines = [line.rstrip("\n")[21:] for line in out.take(2)]
    finally:
        stop(tail, signal.SIGTERM)
    assert lines == [f"alice edited #{seq}: deploy done", f"alice deleted #{seq} (done)"]


def test_replies_show_what_they_answer(scene: Scene) -> None:
    question = send(scene, "who takes the pager tonight?")
    ok(scene.as_bob("send", "--create", "--room", "ops", "--reply-to", str(question), "me"))
    assert bodies(scene) == [
        "alice: who takes the pager tonight?",
        "bob: ↳ alice: who takes the pager tonight?  me",
    ]
    assert bodies(scene, "--limit", "1") == [f"bob: ↳ #{question}  me"]  # not in the page
    thread = history_json(scene, "ops", "--thread", str(question))
    assert [(m["body"], m.get("replies")) for m in thread] == [
        ("who takes the pager tonight?", 1),
        ("me", None),
    ]
    assert thread[1]["reply_to"] == thread[1]["thread"] == question


def test_reactions_show_under_the_message_and_in_tail(scene: Scene) -> None:
    seq = send(scene, "ship it?")
    tail = start_tail(scene, "--room", "ops", "--since", str(seq))
    out = Lines(tail.stdout)
    try:
        ok(scene.as_bob("history", "--room", "ops"))
        ok(scene.as_bob("react", "--room", "ops", str(seq), "👍"))
        ok(scene.run("react", "--room", "ops", str(seq), "🎉"))
        ok(scene.run("react", "--room", "ops", str(seq), "👍"))
        ok(scene.run("react", "--room", "ops", str(seq), "🎉", "--remove"))
        lines = [line.rstrip("\n")[21:] for line in out.take(4)]
    finally:
        stop(tail, signal.SIGTERM)
    assert lines == [
        f"bob reacted 👍 to #{seq}",
        f"alice reacted 🎉 to #{seq}",
        f"alice reacted 👍 to #{seq}",
        f"alice took back 🎉 from #{seq}",
    ]
    assert bodies(scene) == ["alice: ship it?", "👍 2"]
    [record] = history_json(scene, "ops")
    assert record["reactions"] == [{"emoji": "👍", "nicks": ["bob", "alice"]}]
