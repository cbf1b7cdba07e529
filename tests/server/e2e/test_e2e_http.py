"""HTTP side and process lifecycle: origin check, /healthz, SIGTERM, durability of acks."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from dataclasses import dataclass

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
    assert_refused(server, f"http://localhost:{server.port + 1}")  # another port: another app
    assert_refused(server, "null")


def test_a_dns_rebinding_page_is_refused(server: ServerProc) -> None:
    # evil.example resolved to 127.0.0.1 for the browser: its Host and Origin agree, and
    # only the server's own list (loopback names, the listen address) can tell
    host = f"evil.example:{server.port}"
    head = f"GET /ws HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n{UPGRADE}\r\n"
    assert exchange(server, head).status == "HTTP/1.1 403 Forbidden"


def test_public_url_names_the_only_own_origin(server_factory: ServerFactory) -> None:
    public = server_factory("--public-url", "https://chat.example.com")
    client = Client(public.url, origin="https://chat.example.com")
    try:
        assert client.hello(uniq("Pu_"), "pw-1234")["created"] is True
    finally:
        client.close()
    assert_refused(public, f"http://127.0.0.1:{public.port}")


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "[::1]"])
def test_own_origin_is_accepted(chat: Chat, scheme: str, name: str) -> None:
    client = chat.connect(origin=f"{scheme}://{name}:{chat.server.port}")
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


# --- malformed HTTP: 400, never a traceback -------------------------------------------------

UPGRADE = (
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


@dataclass
class Answer:
    status: str  # the status line
    headers: dict[str, str]  # lower-case names
    body: bytes


def exchange(server: ServerProc, request: str) -> Answer:
    """Send the bytes of one HTTP request on a plain socket; read the answer to its close."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request.encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines)
    }
    return Answer(status, headers, body)


def two_hosts(server: ServerProc) -> str:
    host = f"127.0.0.1:{server.port}"
    return f"GET /ws HTTP/1.1\r\nHost: {host}\r\nHost: evil.example\r\n{UPGRADE}\r\n"


@pytest.mark.parametrize(
    ("request_head", "why"),
    [
        (
            "GET /ws HTTP/1.1\r\nHost: {host}\r\nHost: evil.example\r\n{upgrade}",
            "more than one Host header",
        ),
        ("GET / HTTP/1.1\r\nHost: evil.example\r\nHost: {host}\r\n", "more than one Host header"),
        ("GET /healthz HTTP/1.1\r\nHost: {host}\r\nHost: {host}\r\n", "more than one Host header"),
        (
            "GET /ws HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n"
            "Origin: http://evil.example\r\n{upgrade}",
            "more than one Origin header",
        ),
        ("GET /ws HTTP/1.1\r\n{upgrade}", "no Host header"),
        # a header the web client's files read once (they could read a list one day)
        (
            'GET /app.js HTTP/1.1\r\nHost: {host}\r\nIf-None-Match: "a"\r\nIf-None-Match: "b"\r\n',
            "more than one If-None-Match header",
        ),
    ],
    ids=[
        "two-hosts-ws",
        "two-hosts-page",
        "two-hosts-healthz",
        "two-origins",
        "no-host",
        "two-if-none-match",
    ],
)
def test_a_malformed_request_gets_400_and_no_traceback(
    chat: Chat, request_head: str, why: str
) -> None:
    server = chat.server
    offset = server.log_offset()
    head = request_head.format(host=f"127.0.0.1:{server.port}", upgrade=UPGRADE)
    answer = exchange(server, head + "\r\n")
    assert answer.status == "HTTP/1.1 400 Bad Request"
    assert answer.body == f"bad request: {why}\n".encode()
    assert "Traceback" not in server.log_since(offset)


def test_a_flood_of_duplicate_hosts_leaves_others_chatting(chat: Chat) -> None:
    server = chat.server
    offset = server.log_offset()
    statuses: list[str] = []

    def attack() -> None:
        for _ in range(200):
            statuses.append(exchange(server, two_hosts(server)).status)

    attacker = threading.Thread(target=attack)
    attacker.start()
    try:
        bystander = chat.signup("Hb_")
        room = uniq("r")
        bystander.join(room)
        ack, _ = bystander.say(room, "still here")
        assert ack["seq"] == 1
    finally:
        attacker.join(60)
    assert statuses == ["HTTP/1.1 400 Bad Request"] * 200
    logged = server.log_since(offset)
    assert "Traceback" not in logged and " ERROR " not in logged, logged[-2000:]


def test_healthz_answers_head_without_a_body(server: ServerProc) -> None:
    answer = exchange(server, f"HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n")
    assert answer.status == "HTTP/1.1 200 OK"
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["content-length"]) > 0  # the length GET's body would have
    assert answer.body == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_healthz_refuses_other_methods_with_405(server: ServerProc, method: str) -> None:
    host = f"127.0.0.1:{server.port}"
    answer = exchange(
        server, f"{method} /healthz HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"
    )
    assert answer.status == "HTTP/1.1 405 Method Not Allowed"
    assert answer.headers["allow"] == "GET, HEAD"
    assert b"status" not in answer.body


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
