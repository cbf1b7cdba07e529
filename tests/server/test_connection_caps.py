"""Connection caps on a real server: silent sockets, a full server, one user's many
connections, addresses behind a trusted proxy, and the open-file limit.

Several client addresses come from 127.0.0.N source addresses (the server listens on
127.0.0.1). 203.0.113.x appears only inside an X-Forwarded-For header: no traffic goes there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chat_server.addresses import client_address, peer
from chat_server.admission import HTTP_RESERVE, RESERVED_FDS, fit_total
from tests.conftest import ChatServerUnderTest, Client, ServerFactory
from tests.server.cli_support import clean_env
from tests.support.servers import ServerProcess

ATTACKER = "127.0.0.2"
BYSTANDER = "127.0.0.3"
WAIT = 10.0  # the most any expected outcome may take on a busy machine

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def silent_socket(server: ChatServerUnderTest, source: str) -> Stream:
    """A TCP connection that never sends a byte."""
    return await asyncio.open_connection("127.0.0.1", server.running.port, local_addr=(source, 0))


async def closed_by_server(stream: Stream, timeout: float = WAIT) -> bool:
    """Whether the server closes the socket within ``timeout``."""
    try:
        async with asyncio.timeout(timeout):
            return await stream[0].read(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


async def http_status(port: int, path: str, source: str) -> int:
    """The status of a plain HTTP GET (the load balancer's, the monitor's request)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        async with asyncio.timeout(WAIT):
            status_line = await reader.readline()
        return int(status_line.split()[1])
    finally:
        writer.close()


@asynccontextmanager
async def logged_in(url: str, source: str = "127.0.0.1", **hello: Any) -> AsyncIterator[Client]:
    """A client from ``source`` after a hello (``nick``/``password`` or ``token``)."""
    if "token" not in hello:
        hello.setdefault("password", "secret-pw")
    async with connect(url, local_addr=(source, 0), max_queue=None, close_timeout=2) as ws:
        client = Client(ws)
        welcome = await client.request({"type": "hello", **hello}, "welcome")
        assert welcome["type"] == "welcome", welcome
        client.nick, client.token = welcome["nick"], welcome["token"]
        yield client


async def chat_works(alice: Client, bob: Client, body: str) -> None:
    """alice says something in general and bob, a member, gets it."""
    await alice.say("general", body, f"id-{body}")
    while True:
        message = await bob.recv_type("message")
        if message["body"] == body:
            assert message["nick"] == alice.nick
            return


async def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_a_socket_that_never_completes_its_handshake_is_closed(
    make_server: ServerFactory,
) -> None:
    server = await make_server(handshake_timeout=0.5)
    admission = server.running.ctx.doorman.admission
    stream = await silent_socket(server, ATTACKER)
    assert admission.pending(ATTACKER) == 1
    assert await closed_by_server(stream)
    await eventually(lambda: admission.sockets == 0, "the socket to be forgotten")
    assert admission.pending(ATTACKER) == 0


@pytest.mark.slow
@pytest.mark.private_api  # closed at accept by chat_server/framing.py's abort()
async def test_silent_sockets_over_the_pending_cap_are_closed_while_a_bystander_chats(
    make_server: ServerFactory,
) -> None:
    cap = 16
    server = await make_server(max_pending_per_address=cap, handshake_timeout=30.0)
    admission = server.running.ctx.doorman.admission
    flood: list[Stream] = []

    async def attack() -> None:
        for _ in range(200):
            flood.append(await silent_socket(server, ATTACKER))

    try:
        attacking = asyncio.create_task(attack())
        async with AsyncExitStack() as stack:
            alice = await stack.enter_async_context(logged_in(server.url, BYSTANDER, nick="alice"))
            bob = await stack.enter_async_context(logged_in(server.url, BYSTANDER, nick="bob"))
            await alice.join("general")
            await bob.join("general")
            await chat_works(alice, bob, "still here")
            assert await http_status(server.running.port, "/healthz", BYSTANDER) == 200
            async with asyncio.timeout(WAIT):
                await attacking
            # every socket past the cap was closed at once; the first 16 are still held
            closed = await asyncio.gather(*(closed_by_server(s, WAIT) for s in flood[cap:]))
            assert all(closed)
            assert admission.pending(ATTACKER) == cap
            await chat_works(bob, alice, "and still here")
            assert await http_status(server.running.port, "/healthz", BYSTANDER) == 200
    finally:
        for _, writer in flood:
            writer.close()


async def test_a_full_server_refuses_handshakes_with_503_while_its_users_carry_on(
    make_server: ServerFactory,
) -> None:
    server = await make_server(max_connections=20)
    async with AsyncExitStack() as stack:
        alice = await stack.enter_async_context(logged_in(server.url, nick="alice"))
        bob = await stack.enter_async_context(logged_in(server.url, BYSTANDER, nick="bob"))
        await alice.join("general")
        await bob.join("general")
        crowd = [await stack.enter_async_context(logged_in(server.url, nick="crowd"))]
        while len(crowd) < 18:
            client = await stack.enter_async_context(logged_in(server.url, token=crowd[0].token))
            crowd.append(client)

        with pytest.raises(InvalidStatus) as refused:
            await connect(server.url, local_addr=(ATTACKER, 0))
        assert refused.value.response.status_code == 503
        assert b"full" in refused.value.response.body
        assert await http_status(server.running.port, "/healthz", ATTACKER) == 200
        await chat_works(alice, bob, "full house")
        await chat_works(bob, alice, "indeed")

        for client in crowd[-3:]:
            await client.ws.close()
        newcomer: Client | None = None
        async with asyncio.timeout(WAIT):
            while newcomer is None:  # the server sees the close a moment after the client
                try:
                    newcomer = await stack.enter_async_context(
                        logged_in(server.url, ATTACKER, nick="carol")
                    )
                except InvalidStatus:
                    await asyncio.sleep(0.05)
        await newcomer.join("general")
        await chat_works(newcomer, alice, "made it")


async def test_a_server_busy_logging_in_paces_new_handshakes_while_its_users_carry_on(
    make_server: ServerFactory,
) -> None:
    """Past --max-logging-in (connections past the handshake, not yet logged in, from any
    address), a handshake gets 503 with a Retry-After; the users already in do not notice,
    and a place frees as soon as a login under way ends."""
    server = await make_server(max_logging_in=3, handshake_timeout=30.0)
    doorman = server.running.ctx.doorman
    async with AsyncExitStack() as stack:
        alice = await stack.enter_async_context(logged_in(server.url, nick="alice"))
        bob = await stack.enter_async_context(logged_in(server.url, BYSTANDER, nick="bob"))
        await alice.join("general")
        await bob.join("general")
        # three handshakes that never say hello, from three addresses: every place taken
        held = [
            await stack.enter_async_context(connect(server.url, local_addr=(f"127.0.0.{n}", 0)))
            for n in (4, 5, 6)
        ]
        assert doorman.admission.logging_in == 3
        waits = []
        for _ in range(3):
            with pytest.raises(InvalidStatus) as refused:
                await connect(server.url, local_addr=(ATTACKER, 0))
            response = refused.value.response
            assert response.status_code == 503
            assert b"busy logging others in" in response.body
            waits.append(int(response.headers["Retry-After"]))
        assert all(1 <= wait <= 120 for wait in waits) and waits == sorted(waits)
        assert doorman.busy == 3
        await chat_works(alice, bob, "busy door")
        await chat_works(bob, alice, "we are in")
        assert await http_status(server.running.port, "/healthz", ATTACKER) == 200

        await held[0].close()  # a login given up: its place is free
        await eventually(lambda: doorman.admission.logging_in == 2, "the place to free")
        carol = await stack.enter_async_context(logged_in(server.url, ATTACKER, nick="carol"))
        await carol.join("general")
        await chat_works(carol, alice, "made it in")


async def test_one_user_over_the_per_user_cap_is_refused_after_hello(
    make_server: ServerFactory,
) -> None:
    server = await make_server(max_connections_per_user=3)
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(logged_in(server.url, nick="bot"))
        mine = [first]
        for _ in range(2):
            mine.append(await stack.enter_async_context(logged_in(server.url, token=first.token)))
        for client in mine:
            await client.join("general")

        async with server.client() as extra:
            refusal = await extra.request({"type": "hello", "token": first.token}, "welcome")
            assert refusal["code"] == "rate_limited", refusal
            assert "too many connections" in refusal["message"]
            assert "at most 3" in refusal["message"]
            assert refusal["retry_after"] > 0
            with pytest.raises(ConnectionClosed):
                await extra.recv()
            assert extra.ws.close_code == 1013  # try again later; the token stays good

        # a password login of the same user counts the same
        async with server.client() as extra:
            hello = {"type": "hello", "nick": "bot", "password": "secret-pw"}
            refusal = await extra.request(hello, "welcome")
            assert refusal["code"] == "rate_limited", refusal

        # the three carry on, and someone else is not affected
        await chat_works(mine[0], mine[1], "one")
        await mine[2].recv_type("message")
        other = await stack.enter_async_context(logged_in(server.url, nick="someone"))
        await other.join("general")

        await mine[2].ws.close()
        again: Client | None = None
        async with asyncio.timeout(WAIT):
            while again is None:
                with contextlib.suppress(AssertionError, ConnectionClosed):
                    again = await stack.enter_async_context(
                        logged_in(server.url, token=first.token)
                    )
                if again is None:
                    await asyncio.sleep(0.05)


async def handshake(server: ChatServerUnderTest, forwarded_for: str) -> Any:
    """A websocket from 127.0.0.1 claiming to come from ``forwarded_for``."""
    return await connect(
        server.url, additional_headers={"X-Forwarded-For": forwarded_for}, close_timeout=1
    )


async def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(
    make_server: ServerFactory,
) -> None:
    server = await make_server(trusted_proxies=("127.0.0.0/8",), max_pending_per_address=2)
    admission = server.running.ctx.doorman.admission
    opened = [await handshake(server, "203.0.113.9") for _ in range(2)]
    try:
        with pytest.raises(InvalidStatus) as refused:
            await handshake(server, "203.0.113.9")
        assert refused.value.response.status_code == 503
        assert b"logging in" in refused.value.response.body
        # another client behind the same proxy is another address
        opened.append(await handshake(server, "198.51.100.1, 203.0.113.10"))
        assert admission.pending("203.0.113.9") == 2
        assert admission.pending("203.0.113.10") == 1
        assert admission.pending("127.0.0.1") == 0  # the proxy itself is not capped
    finally:
        for ws in opened:
            await ws.close()


async def test_per_address_cap_behind_a_trusted_proxy(make_server: ServerFactory) -> None:
    server = await make_server(trusted_proxies=("127.0.0.1",), max_connections_per_address=2)
    opened = [await handshake(server, "203.0.113.9") for _ in range(2)]
    try:
        with pytest.raises(InvalidStatus) as refused:
            await handshake(server, "203.0.113.9")
        assert refused.value.response.status_code == 503
        assert b"from your address" in refused.value.response.body
        opened.append(await handshake(server, "203.0.113.10"))
    finally:
        for ws in opened:
            await ws.close()


async def test_a_logged_in_connection_keeps_its_forwarded_address_not_its_headers(
    make_server: ServerFactory,
) -> None:
    """Once logged in, a connection drops its handshake's headers (memory); the address
    limits count and the log names is still the client the trusted proxy named."""
    server = await make_server(trusted_proxies=("127.0.0.1",), max_connections_per_address=2)
    opened = [await handshake(server, "203.0.113.9") for _ in range(2)]
    try:
        for n, ws in enumerate(opened):
            await ws.send(json.dumps({"type": "hello", "nick": f"p{n}", "password": "secret-pw"}))
            assert json.loads(await ws.recv())["type"] == "welcome"
        sessions = server.running.ctx.hub.all_sessions()
        assert len(sessions) == 2
        for session in sessions:
            assert session.ws.response is None
            assert session.ws.request is not None and not session.ws.request.headers
            assert client_address(session.ws) == "203.0.113.9"
            assert peer(session.ws).startswith("203.0.113.9 via 127.0.0.1:")
        with pytest.raises(InvalidStatus) as refused:  # still counted as 203.0.113.9
            await handshake(server, "203.0.113.9")
        assert refused.value.response.status_code == 503
        # the two carry on
        await opened[0].send(json.dumps({"type": "join", "room": "lobby", "ref": "j"}))
        assert json.loads(await opened[0].recv())["type"] == "joined"
    finally:
        for ws in opened:
            await ws.close()


async def test_without_trusted_proxy_x_forwarded_for_is_ignored(
    make_server: ServerFactory,
) -> None:
    server = await make_server(max_connections_per_address=2)
    admission = server.running.ctx.doorman.admission
    opened = [await handshake(server, "203.0.113.9"), await handshake(server, "203.0.113.10")]
    try:
        with pytest.raises(InvalidStatus) as refused:  # all three are 127.0.0.1
            await handshake(server, "203.0.113.11")
        assert refused.value.response.status_code == 503
        assert admission.from_address("127.0.0.1") == 2
        assert admission.from_address("203.0.113.9") == 0
    finally:
        for ws in opened:
            await ws.close()


async def test_the_open_file_limit_is_raised_and_the_cap_fits_under_it(
    make_server: ServerFactory,
) -> None:
    server = await make_server(max_connections=10**9)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft == hard or hard == resource.RLIM_INFINITY
    caps = server.running.ctx.doorman.caps
    fd_limit = None if soft == resource.RLIM_INFINITY else soft
    assert caps.total == fit_total(10**9, fd_limit)
    if fd_limit is not None:
        assert caps.total == soft - RESERVED_FDS - HTTP_RESERVE
        assert caps.sockets + RESERVED_FDS <= soft


# --- the real command under a low open-file limit ------------------------------------------

FD_LIMIT = 512


@contextlib.contextmanager
def serve_with_low_fd_limit(tmp_path: Path, *args: str, **env: str) -> Iterator[tuple[str, Path]]:
    """``chat-server serve`` under ``ulimit -n 512``, configured by ``args`` and ``env``
    alone (no CHAT_* setting of this process's): yields its URL and its log file."""
    log = tmp_path / "serve.log"
    server = ServerProcess(
        None, log, ("--port", "0", *args), open_files=FD_LIMIT, env=clean_env(**env), bare=True
    )
    try:
        yield server.start().url, log
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="127.0.0.N source addresses are Linux's")
async def test_520_silent_sockets_under_ulimit_512_leave_healthz_and_logins_working(
    tmp_path: Path,
) -> None:
    """The issue's attack, from 26 addresses (20 each: under the per-address cap), against a
    server whose cap the environment set far above what 512 descriptors allow."""
    env = {"CHAT_SERVER_DB": str(tmp_path / "chat.db"), "CHAT_SERVER_MAX_CONNECTIONS": "100000"}
    with serve_with_low_fd_limit(tmp_path, **env) as (url, log):
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        flood: list[Stream] = []
        try:
            for n in range(520):
                source = f"127.0.0.{10 + n % 26}"
                flood.append(
                    await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
                )
            assert await http_status(port, "/healthz", BYSTANDER) == 200
            async with AsyncExitStack() as stack:
                alice = await stack.enter_async_context(logged_in(url, BYSTANDER, nick="alice"))
                bob = await stack.enter_async_context(logged_in(url, BYSTANDER, nick="bob"))
                await alice.join("general")
                await bob.join("general")
                await chat_works(alice, bob, "under siege")
            # the silent ones are closed within --handshake-timeout (5 s)
            closed = await asyncio.gather(*(closed_by_server(s, 3 * WAIT) for s in flood))
            assert all(closed)
            assert await http_status(port, "/healthz", ATTACKER) == 200
        finally:
            for _, writer in flood:
                writer.close()
    logged = log.read_text()
    assert "--max-connections 100000 lowered to 416" in logged, logged
    assert "Traceback" not in logged and "ERROR" not in logged, logged


@pytest.mark.slow
def test_a_bad_trusted_proxy_is_one_line_at_start(tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    result = subprocess.run(
        [sys.executable, "-m", "chat_server", "serve", "--db", db, "--trusted-proxy", "proxy"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result
    assert "--trusted-proxy" in result.stderr and "Traceback" not in result.stderr
