"""``serve --log-format``: json is one object per line with ``ts``, ``level``, ``event`` and
fields; neither format ever holds a password, a token or a message body, even at debug."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.raw import SyncClient, uniq
from tests.support.servers import spawn


def chat_through(url: str) -> list[str]:
    """Every secret a person's ordinary session handles: logins with passwords (a wrong one
    too), tokens (a guessed one too), message bodies in a room and a direct message, a
    password change. Returns them, for the log to be searched."""
    alice, bob, room = uniq("alice"), uniq("bob"), uniq("room")
    secrets = {
        "alice_pw": "pw-" + uniq("alicepass"),
        "bob_pw": "pw-" + uniq("bobpass"),
        "wrong_pw": "pw-" + uniq("wrongpass"),
        "new_pw": "pw-" + uniq("newpass"),
        "guessed_token": uniq("guessedtoken"),
        "room_body": "body " + uniq("roombody"),
        "dm_body": "body " + uniq("dmbody"),
        "edit_body": "body " + uniq("editbody"),
    }
    a, b = SyncClient(url), SyncClient(url)
    try:
        a.hello(alice, secrets["alice_pw"])
        b.hello(bob, secrets["bob_pw"])
        wrong = SyncClient(url)
        wrong.send({"type": "hello", "nick": alice, "password": secrets["wrong_pw"]})
        assert wrong.recv_until("error")["code"] == "auth_failed"
        wrong.close()
        guess = SyncClient(url)
        guess.send({"type": "hello", "token": secrets["guessed_token"]})
        assert guess.recv_until("error")["code"] == "auth_failed"
        guess.close()
        assert a.user is not None and b.user is not None
        again = SyncClient(url)
        again.hello(token=a.user.token)
        again.join(room)
        b.join(room)
        ack, _ = again.say(room, secrets["room_body"])
        edit = {"type": "edit", "room": room, "target": ack["seq"], "body": secrets["edit_body"]}
        again.request({**edit, "id": uniq("e")}, "ack")
        again.recv_until("edit", room=room)
        again.send_msg(None, secrets["dm_body"], to=bob)
        assert again.history(room)["messages"][0]["body"] == secrets["edit_body"]
        change = {"type": "password", "old": secrets["alice_pw"], "new": secrets["new_pw"]}
        again.request(change, "password_changed")
        again.close()
        return [*secrets.values(), a.user.token, b.user.token]
    finally:
        a.close()
        b.close()


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_whole_session_logs_no_password_token_or_body(tmp_path: Path, log_format: str) -> None:
    log = tmp_path / "server.log"
    server = spawn(
        tmp_path / "chat.db", "--log-format", log_format, "--log-level", "debug", log=log
    )
    try:
        secrets = chat_through(server.url)
    finally:
        assert server.stop() == 0
    text = log.read_text()
    assert "connect " in text and "auth failure" in text  # the session was logged
    for secret in secrets:
        assert secret not in text, f"the log holds {secret!r}"
    if log_format == "text":
        return
    entries = [json.loads(line) for line in text.splitlines()]
    for entry in entries:
        assert {"ts", "level", "event", "message"} <= set(entry), entry
        assert entry["level"] in ("debug", "info", "warning", "error", "critical"), entry
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["ts"]), entry
    events = {entry["event"] for entry in entries}
    assert {"connect", "disconnect", "auth_failure"} <= events
    failures = [entry for entry in entries if entry["event"] == "auth_failure"]
    assert {f.get("reason") for f in failures} >= {"wrong password", "unknown token"}
    assert all(f["peer"].startswith("127.0.0.1") for f in failures)
    connects = [entry for entry in entries if entry["event"] == "connect"]
    assert all(entry["nick"] and entry["peer"] for entry in connects)
    closes = [entry for entry in entries if entry["event"] == "disconnect"]
    assert closes and all(isinstance(entry["code"], int) for entry in closes)
