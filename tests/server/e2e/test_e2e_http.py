"""HTTP side and process lifecycle: origin check, /healthz, SIGTERM, durability of acks."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus

from tests.server.e2e.e2e_support import Chat, Client, ServerFactory, ServerProc, uniq


def healthz(server: ServerProc) -> dict[str, object]:
    with urllib.request.urlopen(f"{server.http}/healthz", timeout=5) as resp:
        assert resp.status == 200
        body = json.loads(resp.read())
    assert isinstance(body, dict)
    return body


def assert_refused(server: ServerProc, origin: str) -> None:
    with pytest.raises(InvalidStatus) as info:
        Client(server.url, origin=origin).close()
    assert info.value.response.status_code == 403


def test_foreign_origin_is_refused_with_403(server: ServerProc) -> None:
    assert_refused(server, "http://evil.example")
    assert_refused(server, f"http://evil.example:{server.port}")
    assert_refused(server, f"http://localhost:{server.port}")  # not the request's Host
    assert_refused(server, "null")


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_own_origin_is_accepted(chat: Chat, scheme: str) -> None:
    client = chat.connect(origin=f"{scheme}://127.0.0.1:{chat.server.port}")
    assert client.hello(uniq("Or_"), "pw-1234")["created"] is True


def test_no_origin_is_accepted(chat: Chat) -> None:
    client = chat.connect()
    assert client.hello(uniq("No_"), "pw-1234")["created"] is True


def test_allow_origin_flag(server_factory: ServerFactory, server: ServerProc) -> None:
    own = server_factory("--allow-origin", "http://app.example")
    client = Client(own.url, origin="http://app.example")
    try:
        assert client.hello(uniq("Ao_"), "pw-1234")["created"] is True
    finally:
        client.close()
    assert_refused(own, "http://evil.example")
    assert_refused(server, "http://app.example")  # only where it was allowed


def test_healthz(server_factory: ServerFactory) -> None:
    own = server_factory()
    body = healthz(own)
    assert set(body) == {"status", "connections", "rooms", "uptime_s"}
    assert isinstance(body["status"], str) and body["status"]
    assert body["connections"] == 0
    assert isinstance(body["rooms"], int) and not isinstance(body["rooms"], bool)
    uptime = body["uptime_s"]
    assert isinstance(uptime, int | float) and not isinstance(uptime, bool) and uptime >= 0
    chat = Chat(own)
    try:
        alice = chat.signup("Hz_")
        assert alice.user is not None
        chat.login(alice.user)
        assert healthz(own)["connections"] == 2
    finally:
        chat.close_all()
    deadline = time.monotonic() + 3
    while healthz(own)["connections"] != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert healthz(own)["connections"] == 0
    later = healthz(own)["uptime_s"]
    assert isinstance(later, int | float) and later >= uptime


def test_healthz_on_the_shared_server(server: ServerProc) -> None:
    body = healthz(server)
    assert set(body) == {"status", "connections", "rooms", "uptime_s"}


def test_healthz_is_served_as_json(server: ServerProc) -> None:
    with urllib.request.urlopen(f"{server.http}/healthz", timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers.get_content_type() == "application/json"


def test_sigterm_closes_connections_1001_and_exits_0(server_factory: ServerFactory) -> None:
    own = server_factory()
    client = Client(own.url)
    try:
        client.hello(uniq("St_"), "pw-1234")
        client.join(uniq("r"))
        start = time.monotonic()
        own.proc.terminate()
        assert client.expect_close(timeout=10) == 1001
        assert own.proc.wait(10) == 0
        assert time.monotonic() - start < 10
    finally:
        client.close()


def test_acked_messages_survive_sigkill(server_factory: ServerFactory) -> None:
    first = server_factory()
    chat = Chat(first)
    room = uniq("r")
    try:
        alice = chat.signup("Dur_")
        user = alice.user
        assert user is not None
        alice.join(room)
        for i in range(10):
            alice.send({"type": "send", "room": room, "body": f"durable {i}", "id": f"d{i}"})
        acks = sorted((alice.recv_until("ack") for _ in range(10)), key=lambda ack: int(ack["seq"]))
    finally:
        first.kill()
        chat.close_all()
    assert [a["seq"] for a in acks] == list(range(1, 11))
    second = server_factory(db=first.db)
    chat = Chat(second)
    try:
        client = chat.login(user)
        assert client.welcome is not None
        assert {"room": room, "last_seq": 10, "read_seq": 10, "unread": 0} in client.welcome[
            "rooms"
        ]
        stored = client.history(room)["messages"]
        assert [(m["seq"], m["id"], m["ts"]) for m in stored] == [
            (a["seq"], a["id"], a["ts"]) for a in acks
        ]
        # The idempotency keys survived too.
        assert client.send_msg(room, "again", "d3") == acks[3]
    finally:
        chat.close_all()


def test_slow_consumer_is_closed_1013(server_factory: ServerFactory) -> None:
    # a send limit that lets 1520 messages of one user in at once: the test is about the reader
    own = server_factory("--max-buffer", "65536", "--rate", "100000", "--burst", "2000")
    chat = Chat(own)
    try:
        alice = chat.signup("Sc_")
        assert alice.user is not None
        bob = chat.signup("Sc_")
        assert bob.user is not None
        room = uniq("r")
        alice.join(room)
        slow = Client(own.url, max_queue=1)  # stops reading from the socket when it lags
        chat.clients.append(slow)
        slow.hello(token=bob.user.token)
        slow.join(room)
        body = "x" * 4000
        for _ in range(40):  # 1520 messages of 4 kB: far past the buffer and the socket's
            sender = chat.login(alice.user)
            ids = [uniq("i") for _ in range(38)]
            for msg_id in ids:
                sender.send({"type": "send", "room": room, "body": body, "id": msg_id})
            for msg_id in ids:
                sender.recv_until("ack", id=msg_id)
            sender.close()
        assert slow.expect_close(timeout=20) == 1013
        got = [f["seq"] for f in slow.before_close if f["type"] == "message"]
        assert got == list(range(1, len(got) + 1))  # what did arrive has no gap
        assert len(got) < 1520
        # Everyone else is unaffected, and the slow client resumes with since.
        latest = alice.history(room, limit=1)["messages"]
        assert [m["seq"] for m in latest] == [1520]
        resumed = chat.login(bob.user)
        _, history = resumed.join(room, since=1515)
        assert [m["seq"] for m in history["messages"]] == [1516, 1517, 1518, 1519, 1520]
    finally:
        chat.close_all()
