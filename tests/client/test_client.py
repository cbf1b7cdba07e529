"""ChatClient against a real server: acks, ordering, resume, gap fill and the outbox."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from chat_server import protocol as p
from chat_server.ratelimit import Allowance
from chat_tui.client import ChatClient
from chat_tui.client.errors import AuthError, Busy, ConnectError, RateLimited, ServerError
from chat_tui.client.events import Closed, Connected, Event, StatusChanged
from chat_tui.client.sequencing import Backoff
from tests.client.conftest import Relay, RestartableServer, ServerMaker
from tests.support.raw import request

TIMEOUT = 10.0


class Watcher:
    """Reads a client's events and keeps them, so a test can wait for what it expects."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.seen: list[Event] = []
        self._stream: AsyncIterator[Event] = client.events()

    async def until(self, done: Any, timeout: float = TIMEOUT) -> list[Event]:
        async with asyncio.timeout(timeout):
            while not done(self.seen):
                self.seen.append(await anext(self._stream))
        return self.seen

    def messages(self, room: str) -> list[p.MessageRecord]:
        return [e for e in self.seen if isinstance(e, p.MessageRecord) and e.room == room]

    async def messages_up_to(self, room: str, seq: int) -> list[int]:
        await self.until(lambda _: any(m.seq >= seq for m in self.messages(room)))
        return [m.seq for m in self.messages(room)]


async def post(server: RestartableServer, token: str, room: str, bodies: list[str]) -> None:
    """Another user posting with a bare websocket (no ChatClient on that side)."""
    async with connect(server.url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        await ws.send(json.dumps({"type": "join", "room": room}))
        for n, body in enumerate(bodies):  # ids unique per body: no accidental idempotency
            frame = {"type": "send", "room": room, "body": body, "id": f"{body}-{n}"}
            await ws.send(json.dumps(frame))
        acked = 0
        while acked < len(bodies):
            frame = json.loads(await ws.recv())
            assert frame["type"] != "error", frame
            acked += frame["type"] == "ack"


async def test_send_resolves_with_the_ack_and_the_message_arrives_once(
    chat: RestartableServer,
) -> None:
    async with chat.client(await chat.account("alice")) as alice:
        watcher = Watcher(alice)
        joined = await alice.join("general")
        assert joined.last_seq == 0 and joined.members == ["alice"]
        ack = await alice.send("hello", room="general", id="k1")
        assert (ack.id, ack.room, ack.seq) == ("k1", "general", 1)
        assert await watcher.messages_up_to("general", 1) == [1]
        assert watcher.messages("general")[0].body == "hello"
        again = await alice.send("hello, retried", room="general", id="k1")
        assert again.seq == 1  # the key wins: nothing new stored
        page = await alice.history("general")
        assert [m.body for m in page.messages] == ["hello"]


async def test_join_since_pages_through_a_long_backlog_exactly_once(
    make_chat: Any,
) -> None:
    chat: RestartableServer = await make_chat(rate_per_second=10_000.0, rate_burst=10_000)
    bob = await chat.account("bob")
    await post(chat, bob, "busy", [f"m{n}" for n in range(1, 651)])
    async with chat.client(await chat.account("alice")) as alice:
        watcher = Watcher(alice)
        joined = await alice.join("busy", since=0)
        assert [m.seq for m in joined.messages] == list(range(1, 501))
        assert joined.more
        rest = await watcher.messages_up_to("busy", 650)
        assert rest == list(range(501, 651))


async def test_reconnect_resumes_every_room_without_gap_or_repeat(
    chat: RestartableServer,
) -> None:
    bob = await chat.account("bob")
    await post(chat, bob, "general", ["before 1", "before 2"])
    alice = chat.client(await chat.account("alice"))
    async with alice:
        watcher = Watcher(alice)
        joined = await alice.join("general")
        assert [m.body for m in joined.messages] == ["before 1", "before 2"]
        await post(chat, bob, "general", ["live 3"])
        assert await watcher.messages_up_to("general", 3) == [3]

        await chat.stop()
        await watcher.until(
            lambda seen: any(
                isinstance(e, StatusChanged) and e.status.state == "reconnecting" for e in seen
            )
        )
        await chat.start()
        await post(chat, bob, "general", ["while away 4", "while away 5"])
        await post(chat, bob, "general", ["after 6"])
        assert await watcher.messages_up_to("general", 6) == [3, 4, 5, 6]
        assert [m.body for m in watcher.messages("general")][-1] == "after 6"
        await watcher.until(lambda seen: sum(isinstance(e, Connected) for e in seen) == 2)
        assert alice.status.state == "connected"


async def test_a_send_made_while_offline_goes_out_once_after_reconnect(
    chat: RestartableServer,
) -> None:
    async with chat.client(await chat.account("alice")) as alice:
        watcher = Watcher(alice)
        await alice.join("general")
        await chat.stop()
        await watcher.until(lambda _: alice.status.state != "connected")
        pending = asyncio.create_task(alice.send("written offline", room="general", id="off1"))
        await watcher.until(
            lambda seen: any(isinstance(e, StatusChanged) and e.status.queued == 1 for e in seen)
        )
        assert not pending.done()
        await chat.start()
        ack = await asyncio.wait_for(pending, TIMEOUT)
        assert ack.seq == 1
        assert await watcher.messages_up_to("general", 1) == [1]
        page = await alice.history("general")
        assert [m.body for m in page.messages] == ["written offline"]
        assert alice.queued == 0


async def test_a_lost_ack_is_recovered_by_resending_the_same_id(chat: RestartableServer) -> None:
    """The connection dies after the server stored the message but before the ack got through:
    the client sends again with the same id and gets the original ack; one message is stored."""
    dropped: list[dict[str, Any]] = []

    def judge(frame: dict[str, Any]) -> str:
        if frame["type"] == "ack" and not dropped:
            dropped.append(frame)
            return "close"
        return "pass"

    token = await chat.account("alice")
    async with Relay(chat.url, judge) as relay:
        alice = ChatClient(relay.url, token=token, backoff=chat.client(token).backoff)
        async with alice:
            await alice.join("general")
            ack = await asyncio.wait_for(alice.send("once", room="general", id="x1"), TIMEOUT)
            assert dropped and dropped[0]["seq"] == ack.seq == 1
            page = await alice.history("general")
    assert [(m.seq, m.body) for m in page.messages] == [(1, "once")]


async def test_a_message_lost_on_the_way_is_fetched_before_the_next_is_shown(
    chat: RestartableServer,
) -> None:
    lost: list[int] = []

    def judge(frame: dict[str, Any]) -> str:
        if frame["type"] == "message" and frame["seq"] == 2:
            lost.append(2)
            return "drop"
        return "pass"

    token = await chat.account("alice")
    bob = await chat.account("bob")
    async with Relay(chat.url, judge) as relay, ChatClient(relay.url, token=token) as alice:
        watcher = Watcher(alice)
        await alice.join("general")
        await post(chat, bob, "general", ["one", "two", "three"])
        assert await watcher.messages_up_to("general", 3) == [1, 2, 3]
        assert lost == [2]
        assert [m.body for m in watcher.messages("general")] == ["one", "two", "three"]


async def test_a_direct_message_opened_by_someone_else_arrives_without_a_join(
    chat: RestartableServer,
) -> None:
    await chat.account("bob")
    async with (
        chat.client(await chat.account("alice")) as alice,
        chat.client(await chat.account("bob")) as bob,
    ):
        watcher = Watcher(bob)
        ack = await alice.send("psst", to="bob")
        assert ack.room == "dm:alice:bob"
        await watcher.until(lambda _: watcher.messages("dm:alice:bob"))
        message = watcher.messages("dm:alice:bob")[0]
        assert (message.nick, message.body, message.seq) == ("alice", "psst", 1)


@pytest.mark.slow
async def test_sends_are_paced_to_the_rate_limit_and_keep_their_order(
    make_chat: Any,
) -> None:
    chat: RestartableServer = await make_chat(rate_per_second=20.0, rate_burst=5)
    async with chat.client(await chat.account("alice")) as alice:
        await alice.join("general")
        sends = [
            asyncio.create_task(alice.send(f"n{n}", room="general", id=f"n{n}")) for n in range(30)
        ]
        acks = await asyncio.wait_for(asyncio.gather(*sends), TIMEOUT)
        assert [a.seq for a in acks] == list(range(1, 31))
        page = await alice.history("general")
        assert [m.body for m in page.messages] == [f"n{n}" for n in range(30)]


async def test_rejected_requests_raise_server_error(chat: RestartableServer) -> None:
    async with chat.client(await chat.account("alice")) as alice:
        with pytest.raises(ServerError) as send_error:
            await alice.send("hi", room="nowhere")
        assert send_error.value.code == "not_member"
        with pytest.raises(ServerError) as join_error:
            await alice.join("Not-Valid")
        assert join_error.value.code == "invalid_name"
        assert alice.queued == 0


async def test_the_rooms_list_comes_a_page_at_a_time_biggest_first(make_chat: Any) -> None:
    chat: RestartableServer = await make_chat(room_create_rate=125, max_rooms_per_user=200)
    bob = await chat.account("bob")
    await post(chat, bob, "popular", ["hi"])
    async with chat.client(await chat.account("alice")) as alice:
        names = [f"r{n:03d}" for n in range(120)]
        await asyncio.gather(*(alice.join(name) for name in [*names, "popular"]))
        first = await alice.list_rooms(limit=10)
        assert [r.room for r in first.rooms] == ["popular", *names[:9]]  # 2 members, then 1
        assert first.cursor is not None
        second = await alice.list_rooms(limit=10, cursor=first.cursor)
        assert [r.room for r in second.rooms] == names[9:19]
        assert [r.room async for r in alice.all_rooms()] == ["popular", *names]
        # a room that ends up past the creation limit is an error at once, not a long wait
        with pytest.raises(ServerError) as refused:
            for n in range(100):
                await alice.join(f"more{n}")
        assert refused.value.code == "rate_limited"
        assert refused.value.retry_after is not None and refused.value.retry_after > 60


async def test_wrong_password_and_unreachable_server(chat: RestartableServer) -> None:
    await chat.account("alice", "right-pw")
    with pytest.raises(AuthError):
        await ChatClient(chat.url, nick="alice", password="wrong-pw").connect()
    with pytest.raises(ConnectError):
        await ChatClient("ws://127.0.0.1:1/ws", token="x").connect()


@pytest.mark.parametrize(
    ("message", "retry_after", "line"),
    [
        ("too many attempts", 41.2, "Too many attempts; try again in 42 s"),
        ("the server is busy", 0.3, "The server is busy; try again in 1 s"),
        ("too many attempts", 119.0, "Too many attempts; try again in 119 s"),
        ("too many attempts", 161.5, "Too many attempts; try again in 3 min"),
        ("too many new accounts from this address", 1200.0,
         "Too many new accounts from this address; try again in 20 min"),
        ("too many attempts", None, "Too many attempts; try again later"),
    ],
)  # fmt: skip
def test_a_rate_limited_login_is_one_line_with_the_wait(
    message: str, retry_after: float | None, line: str
) -> None:
    refused = RateLimited(message, retry_after)
    assert (str(refused), refused.code, refused.exit_code) == (line, "rate_limited", 5)


async def test_a_rate_limited_login_says_how_long_to_wait(make_chat: Any) -> None:
    chat: RestartableServer = await make_chat(login_failures=Allowance(1, 3600.0))
    await chat.account("alice", "right-pw")
    with pytest.raises(AuthError):
        await ChatClient(chat.url, nick="alice", password="wrong-pw").connect()
    with pytest.raises(RateLimited) as refused:
        await ChatClient(chat.url, nick="alice", password="wrong-pw").connect()
    assert refused.value.retry_after is not None and 3500 < refused.value.retry_after <= 3600
    assert str(refused.value) == "Too many attempts; try again in 60 min"


async def test_a_reconnect_told_to_wait_does_not_ask_sooner() -> None:
    """A server (a stand-in: this one never limits token hellos) that answers the first
    reconnect with rate_limited: the client waits retry_after, then gets back in."""
    hellos: list[float] = []
    wait = 0.5

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        hellos.append(asyncio.get_running_loop().time())
        if len(hellos) == 2:
            error = {"type": "error", "code": "rate_limited", "message": "the server is busy"}
            await ws.send(json.dumps({**error, "ref": None, "retry_after": wait}))
            await ws.close(1008)
            return
        welcome = p.Welcome(
            nick="alice",
            token="t",
            created=False,
            protocol=1,
            server="stand-in",
            limits=p.Limits(max_body=4000, max_frame=65536, history_max=500, rate=p.Rate(20, 40)),
            rooms=[],
        )
        await ws.send(p.encode(welcome).decode())
        if len(hellos) == 1:
            await ws.close(1011)  # dropped: the client reconnects
            return
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = ChatClient(f"ws://127.0.0.1:{port}/ws", token="t", backoff=Backoff(base=0.01))
        watcher = Watcher(client)
        await client.connect()
        try:
            await watcher.until(lambda _: len(hellos) == 3 and client.status.state == "connected")
            assert hellos[2] - hellos[1] >= wait  # not the 10 ms its backoff would have waited
        finally:
            await client.close()


async def test_a_revoked_token_ends_the_session_with_an_auth_error(
    chat: RestartableServer,
) -> None:
    token = await chat.account("alice")
    alice = chat.client(token)
    watcher = Watcher(alice)
    await alice.connect()
    async with connect(chat.url) as other:  # the same token, logging out elsewhere
        await other.send(json.dumps({"type": "hello", "token": token}))
        assert json.loads(await other.recv())["type"] == "welcome"
        await other.send(json.dumps({"type": "logout"}))
        await other.wait_closed()
    events = await watcher.until(lambda seen: seen and isinstance(seen[-1], Closed))
    closed = events[-1]
    assert isinstance(closed, Closed) and isinstance(closed.error, AuthError)
    with pytest.raises(AuthError):
        await alice.send("too late", room="general")


async def test_logout_revokes_the_token(chat: RestartableServer) -> None:
    token = await chat.account("alice")
    alice = chat.client(token)
    await alice.connect()
    await alice.logout()
    assert alice.closed
    with pytest.raises(AuthError):
        await ChatClient(chat.url, token=token).connect()


@pytest.mark.slow
async def test_a_reconnect_over_the_per_user_cap_waits_for_a_free_place(
    make_chat: ServerMaker, caplog: pytest.LogCaptureFixture
) -> None:
    """A laptop's connection dies and, before it comes back, another device of the same user
    takes the last place: the laptop keeps retrying (``rate_limited`` frees by itself)
    instead of giving up, and gets in once the other device leaves."""
    caplog.set_level(logging.INFO, logger="chat_server")
    chat = await make_chat(max_connections_per_user=1)
    token = await chat.account("alice")
    # every retry 1.5-3 s after the last: time for the other device to get in first
    alice = chat.client(token, backoff=Backoff(base=3.0, factor=1.0, cap=3.0))
    watcher = Watcher(alice)
    await alice.connect()
    assert chat.running is not None
    for session in chat.running.ctx.hub.all_sessions():
        await session.ws.close(1011)
    async with AsyncExitStack() as stack:
        phone = None
        async with asyncio.timeout(TIMEOUT):
            while phone is None:  # refused until the server has seen the laptop go
                ws = await stack.enter_async_context(connect(chat.url))
                await ws.send(json.dumps({"type": "hello", "token": token}))
                if json.loads(await ws.recv())["type"] == "welcome":
                    phone = ws
        async with asyncio.timeout(TIMEOUT):
            while "refused alice" not in caplog.text:
                await watcher.until(lambda seen: len(seen) > 0)
                watcher.seen.clear()
        assert not alice.closed
        assert alice.status.state in ("reconnecting", "connecting")
        await phone.close()
    await watcher.until(lambda seen: any(isinstance(e, Connected) for e in seen), 3 * TIMEOUT)
    assert alice.status.state == "connected"
    await alice.close()


async def test_a_reconnect_refused_by_a_busy_server_comes_back_when_it_says(
    make_chat: ServerMaker,
) -> None:
    """A restarted server logging a crowd in answers a reconnect 503 with a Retry-After: the
    client says how long it waits, waits at least that (not its 10 ms backoff), and then gets
    back in; its first connect, refused so, raises the wait."""
    chat = await make_chat(max_logging_in=1)
    alice = chat.client(await chat.account("alice"), backoff=Backoff(base=0.01))
    bob = chat.client(await chat.account("bob"))
    watcher = Watcher(alice)
    await alice.connect()
    assert chat.running is not None
    async with connect(chat.url):  # a login under way that never ends: the only place
        for session in chat.running.ctx.hub.all_sessions():
            await session.ws.close(1012)
        told = await watcher.until(
            lambda seen: any(
                isinstance(e, StatusChanged) and (e.status.retry_in or 0) >= 1.0 for e in seen
            )
        )
        assert chat.running.ctx.doorman.busy >= 1
        assert sum(isinstance(e, Connected) for e in told) == 1  # the first connect only
        with pytest.raises(Busy) as busy:
            await bob.connect()
        assert busy.value.retry_after is not None and busy.value.retry_after >= 1
        assert str(busy.value).startswith("The server is busy logging others in; try again in")
    await watcher.until(lambda seen: sum(isinstance(e, Connected) for e in seen) == 2)
    assert alice.status.state == "connected"
    await alice.close()


async def test_a_stopping_server_tells_each_connection_a_different_time_to_come_back(
    make_chat: ServerMaker,
) -> None:
    """SIGTERM with 20 connections and a login rate of 10 a second: each gets 1001 with a
    ``retry_after`` spread over the 2 s their logins take, logged in or not yet."""
    chat = await make_chat()
    assert chat.running is not None
    chat.running.ctx.doorman.pace.rate = 10.0
    tokens = [await chat.account(f"user{n}") for n in range(10)]
    async with AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(connect(chat.url)) for _ in range(20)]
        for ws, token in zip(sockets, tokens, strict=False):  # half of them logged in
            welcome = await request(ws, {"type": "hello", "token": token}, "welcome")
            assert welcome["type"] == "welcome"
        await chat.stop()
        waits = []
        for ws in sockets:
            await ws.wait_closed()
            assert ws.close_code == 1001
            waits.append(p.going_away_wait(ws.close_code, ws.close_reason))
    assert all(wait is not None and 0.0 <= wait <= 2.0 for wait in waits), waits
    assert len(set(waits)) >= 5  # spread over the window, not one instant for all


async def test_a_client_comes_back_no_sooner_than_the_stopping_server_said(
    make_chat: ServerMaker,
) -> None:
    """The server's 1001 said 2 s: the client shows that wait (not its 50 ms backoff) and
    is back in once the restarted server is there."""
    chat = await make_chat()
    assert chat.running is not None
    chat.running.ctx.doorman.pace.rate = 0.5  # one connection: a window of 2 s
    chat.running.spread = lambda: 1.0  # told the end of it
    alice = chat.client(await chat.account("alice"))
    watcher = Watcher(alice)
    await alice.connect()
    await chat.stop()
    await chat.start()
    events = await watcher.until(lambda seen: sum(isinstance(e, Connected) for e in seen) == 2)
    waits = [
        e.status.retry_in
        for e in events
        if isinstance(e, StatusChanged) and e.status.retry_in is not None
    ]
    assert waits and 2.0 <= waits[0] < 3.0, waits
    assert alice.status.state == "connected"
    await alice.close()


async def test_a_server_stopping_during_the_login_is_waited_as_it_says() -> None:
    """The 1001 with ``retry_after`` comes before the welcome (a stop while the server logs a
    crowd in): the login is refused for that long, not failed for the backoff to retry."""

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # the hello
        await ws.close(1001, p.going_away_reason(7.5))

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = ChatClient(f"ws://127.0.0.1:{port}/ws", token="t", reconnect=False)
        with pytest.raises(Busy) as busy:
            await client.connect()
    assert busy.value.retry_after == 7.5
    assert str(busy.value) == "The server is restarting; try again in 8 s"


def test_a_retry_after_is_waited_whole_and_spread_over_the_next_second() -> None:
    backoff = Backoff()
    assert backoff.after(0, None, 0.5) == backoff.delay(0, 0.5)
    assert backoff.after(0, 7.0, 0.0) == 7.0
    assert backoff.after(0, 7.0, 0.99) == pytest.approx(7.99)
    assert backoff.after(9, 1.0, 0.0) == backoff.delay(9, 0.0)  # never sooner than the backoff


async def test_block_and_unblock(chat: RestartableServer) -> None:
    alice_token, bob_token = await chat.account("alice"), await chat.account("bob")
    async with chat.client(alice_token) as alice, chat.client(bob_token) as bob:
        await bob.send("hi alice", to="alice")
        assert alice.blocked == []
        assert await alice.block("BOB") == "bob"
        assert alice.blocked == ["bob"]
        with pytest.raises(ServerError) as refused:
            await bob.send("hello?", to="alice")
        assert refused.value.code == "forbidden"
        with pytest.raises(ServerError) as unknown:
            await alice.block("nobody")
        assert unknown.value.code == "not_found"
        async with chat.client(alice_token) as elsewhere:  # a new login: from the welcome
            assert elsewhere.blocked == ["bob"]
            assert await elsewhere.unblock("bob") == "bob"
            assert elsewhere.blocked == []
        assert alice.blocked == ["bob"]  # what this client knows until its next welcome
        ack = await bob.send("hello again", to="alice")
        assert (ack.room, ack.seq) == ("dm:alice:bob", 2)


def test_a_welcome_with_or_without_blocks_decodes() -> None:
    """A server older than ``welcome.blocked`` sends none (None: "not said"); unknown fields
    from a newer one are ignored."""
    limits = {"max_body": 4000, "max_frame": 65536, "history_max": 500}
    older: dict[str, object] = {
        "type": "welcome",
        "nick": "alice",
        "token": "t",
        "created": False,
        "protocol": 1,
        "server": "chat-server/0.0.1",
        "limits": {**limits, "rate": {"per_second": 20, "burst": 40}},
        "rooms": [],
    }
    frame = p.decode_server_frame(json.dumps(older))
    assert isinstance(frame, p.Welcome) and frame.blocked is None
    newer = {**older, "blocked": ["bob", "Carol"], "someday": {"x": 1}}
    frame = p.decode_server_frame(json.dumps(newer))
    assert isinstance(frame, p.Welcome) and frame.blocked == ["bob", "Carol"]
