"""Crashes and shutdowns under load: no acknowledged message is ever lost, doubled or moved.

Twenty clients (the real :class:`ChatClient`: reconnect with jittered backoff, resume with
``since``, resend unacknowledged messages with the same ``id``) send without pause while the
server is killed at random moments (SIGKILL) or stopped by an operator (SIGTERM) and started
again on the same port and database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sqlite3
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from chat_server import protocol as p
from chat_server.config import Settings
from chat_server.store import NewMessage, create_store
from chat_tui.client import ChatClient
from tests.reliability.conftest import (
    WAIT,
    Member,
    ServerFactory,
    ServerProc,
    assert_no_gap,
    eventually,
    full_history,
    mint_tokens,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

CLIENTS = 20
LANES = 2  # concurrent sends per client: more messages in flight when the server dies
ROOMS = ("crash-a", "crash-b")
KILL_CYCLES = 50


class Sender:
    """A member sending numbered messages with ids in a few lanes, recording every ack."""

    def __init__(self, nick: str, member: Member) -> None:
        self.nick = nick
        self.member = member
        self.attempted: dict[str, str] = {}  # id -> body
        self.acked: dict[str, p.Ack] = {}
        self.lanes: list[asyncio.Task[None]] = []

    def start_sending(self) -> None:
        self.lanes = [asyncio.create_task(self._lane(lane)) for lane in range(LANES)]

    async def _lane(self, lane: int) -> None:
        n = 0
        while True:
            msg_id = f"{self.nick}-{lane}-{n}"
            body = f"{msg_id} says hi"
            self.attempted[msg_id] = body
            ack = await self.member.client.send(body, room=ROOMS[n % len(ROOMS)], id=msg_id)
            self.acked[msg_id] = ack
            n += 1

    async def stop_sending(self) -> None:
        """Give up on what is in flight (it may be stored or not), then send one last message.

        Its ack means everything this client's connection carried before it is committed: the
        server commits a connection's sends in order.
        """
        for task in self.lanes:
            task.cancel()
        for task in self.lanes:
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert task.cancelled() or task.exception() is None, task.exception()
        msg_id = f"{self.nick}-last"
        self.attempted[msg_id] = "last"
        self.acked[msg_id] = await self.member.client.send("last", room=ROOMS[0], id=msg_id)


async def start_senders(server: ServerProc) -> tuple[list[Sender], str]:
    """Twenty members in every room, sending; and a spare token for reading the history."""
    tokens = await mint_tokens(server.db, [f"u{n}" for n in range(CLIENTS)] + ["reader"])
    reader = tokens.pop("reader")
    server.start()
    senders = [Sender(nick, Member(server.url, token)) for nick, token in tokens.items()]
    await asyncio.gather(*(s.member.start(*ROOMS) for s in senders))
    for sender in senders:
        sender.start_sending()
    return senders, reader


def acks_total(senders: list[Sender]) -> int:
    """Acks so far; fails at once when a send failed (a client must never give up)."""
    for sender in senders:
        for lane in sender.lanes:
            if lane.done() and not lane.cancelled():
                raise AssertionError(f"{sender.nick} stopped sending: {lane.exception()!r}")
    return sum(len(s.acked) for s in senders)


async def more_acks(senders: list[Sender], count: int) -> None:
    """Wait until the senders got ``count`` more acks: the server is up and under load."""
    target = acks_total(senders) + count
    await eventually(lambda: acks_total(senders) >= target, f"{count} more acks")


async def check_nothing_acked_lost(
    server: ServerProc, reader: str, senders: list[Sender]
) -> dict[str, list[p.MessageRecord]]:
    """Acked: stored once with its acked seq. Unacked: once or not at all. No gap. Every
    client was shown exactly the stored history."""
    async with asyncio.timeout(60):
        await asyncio.gather(*(s.stop_sending() for s in senders))
    stored = {room: await full_history(server.url, reader, room) for room in ROOMS}
    attempted = {msg_id: body for s in senders for msg_id, body in s.attempted.items()}
    acked = {msg_id: ack for s in senders for msg_id, ack in s.acked.items()}
    by_id: dict[str, p.MessageRecord] = {}
    for messages in stored.values():
        assert_no_gap(messages)
        for message in messages:
            assert message.id not in by_id, f"{message.id} stored twice"
            assert attempted.get(message.id) == message.body, f"{message} was never sent"
            by_id[message.id] = message
    for msg_id, ack in acked.items():
        found = by_id.get(msg_id)
        assert found is not None, f"{msg_id} was acked with seq {ack.seq}, then lost"
        assert (found.room, found.seq) == (ack.room, ack.seq), (found, ack)
    assert len(acked) > 0.5 * len(by_id)  # the load was real, the acks were many

    def caught_up() -> bool:
        return all(s.member.last(room) == len(stored[room]) for s in senders for room in ROOMS)

    await eventually(caught_up, "every client to catch up with the stored history")
    for sender in senders:
        for room in ROOMS:
            shown = [(m.seq, m.id) for m in sender.member.seen[room]]
            assert shown == [(m.seq, m.id) for m in stored[room]], f"{sender.nick} in {room}"
    await asyncio.gather(*(s.member.close() for s in senders))
    return stored


async def test_sigkill_at_random_moments_loses_no_acked_message(
    reliable_server: ServerFactory,
) -> None:
    server = reliable_server()
    senders, reader = await start_senders(server)
    rng = random.Random()
    for _ in range(KILL_CYCLES):
        await more_acks(senders, 1)
        await asyncio.sleep(rng.uniform(0, 0.3))  # a random moment, under load
        await asyncio.to_thread(server.kill)
        await asyncio.to_thread(server.start)
    await check_nothing_acked_lost(server, reader, senders)
    assert server.starts == KILL_CYCLES + 1
    server.assert_no_traceback()


class Watcher:
    """A bare websocket client in the rooms: what close code did the shutdown show it, and
    does it resume where it stopped when it joins again with ``since``?"""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.last: dict[str, int] = dict.fromkeys(ROOMS, 0)
        self.close_codes: list[int | None] = []
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        ws = await connect(self.url, compression=None, max_size=None)
        await ws.send(json.dumps({"type": "hello", "token": self.token}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        for room in ROOMS:
            await ws.send(json.dumps({"type": "join", "room": room, "since": self.last[room]}))
        self._ws = ws
        self._task = asyncio.create_task(self._read(ws))

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for data in ws:
                frame = json.loads(data)
                if frame["type"] == "history":
                    assert not frame["more"], "more than a page missed during a restart"
                    found = frame["messages"]
                else:
                    found = [frame] if frame["type"] == "message" else []
                for message in found:
                    room, seq = message["room"], message["seq"]
                    assert seq == self.last[room] + 1, f"{room}: {seq} after {self.last[room]}"
                    self.last[room] = seq
        self.close_codes.append(ws.protocol.close_rcvd.code if ws.protocol.close_rcvd else None)

    async def closed(self) -> None:
        """Wait until the server has closed the connection (fails on a gap it saw)."""
        assert self._task is not None
        await asyncio.wait_for(self._task, WAIT)

    async def close(self) -> None:
        assert self._ws is not None
        await self._ws.close()
        await self.closed()


async def test_sigterm_under_load_stores_every_acked_message_and_clients_resume(
    reliable_server: ServerFactory,
) -> None:
    server = reliable_server()
    senders, reader = await start_senders(server)
    tokens = await mint_tokens(server.db, [f"w{n}" for n in range(5)])
    watchers = [Watcher(server.url, token) for token in tokens.values()]
    for restart in range(3):
        await asyncio.gather(*(w.connect() for w in watchers))
        await more_acks(senders, 100)
        server.signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait) == 0, server.log_tail()
        await asyncio.gather(*(w.closed() for w in watchers))
        assert [w.close_codes[-1] for w in watchers] == [1001] * len(watchers), restart
        await asyncio.to_thread(server.start)
    await asyncio.gather(*(w.connect() for w in watchers))
    stored = await check_nothing_acked_lost(server, reader, senders)
    # The watchers resumed with since after each restart: no gap, no repeat, and all seen.
    last = {room: len(messages) for room, messages in stored.items()}
    await eventually(lambda: all(w.last == last for w in watchers), "the watchers to catch up")
    await asyncio.gather(*(w.close() for w in watchers))
    server.assert_no_traceback()


async def test_one_commit_holds_sends_of_several_people_in_one_room(tmp_path: Path) -> None:
    """Found by the crash tests: a batch with two authors in one room failed as a whole
    (SQL placeholders counted per author and room, parameters per room), so under load every
    sender got ``internal`` instead of an ack."""
    store = create_store(Settings(db_path=tmp_path / "chat.db"))
    await store.open()
    try:
        users = [await store.create_user(nick, "!") for nick in ("ann", "bob", "cy")]
        room = None
        for user in users:
            room, _ = await store.join(user.id, "lobby", False)
        assert room is not None
        futures = [  # submitted together: one group commit
            store.submit(NewMessage(user.id, user.nick, room.id, f"k{n}", f"hi {n}"))
            for n, user in enumerate(users * 2)
        ]
        stored = await asyncio.gather(*futures)
        assert [s.seq for s in stored] == [1, 2, 3, 4, 5, 6]
        page = await store.history(room, after=0, limit=10)
        assert [(m.nick, m.body) for m in page.messages] == [
            ("ann", "hi 0"), ("bob", "hi 1"), ("cy", "hi 2"),
            ("ann", "hi 3"), ("bob", "hi 4"), ("cy", "hi 5"),
        ]  # fmt: skip
    finally:
        await store.close()


async def test_sigterm_does_not_wait_for_throttled_password_guesses(
    reliable_server: ServerFactory,
) -> None:
    """Found by SIGTERM under a password-guessing load: a login waiting for its turn (the
    growing delay after failed logins for a nick) kept its handler alive after the server
    closed the connection, and the shutdown waited for every queued guess, one delay after
    the other (a minute here; hours with a determined guesser). Guesses no longer wait for a
    turn (past the limits they are refused at once); those waiting in line for a password
    hash must not hold the shutdown either."""
    server = reliable_server("--no-signup", "--hash-concurrency", "1", "--hash-queue", "64")
    server.start()
    guess = json.dumps({"type": "hello", "nick": "alice", "password": "guess"})

    async def guess_once() -> ClientConnection:
        ws = await connect(server.url, compression=None, open_timeout=WAIT)
        await ws.send(guess)
        return ws

    queued = [await guess_once() for _ in range(40)]  # one hashing at a time: seconds of work
    await asyncio.to_thread(server.health)  # answered after the guesses already sent are read
    server.signal(signal.SIGTERM)
    assert await asyncio.to_thread(server.wait, WAIT) == 0, "the shutdown waited for the guesses"
    codes = []
    for ws in queued:
        await asyncio.wait_for(ws.wait_closed(), WAIT)
        assert ws.protocol.close_rcvd is not None
        codes.append(ws.protocol.close_rcvd.code)
    assert set(codes) <= {1001, 1008}  # dropped by the shutdown, or answered auth_failed
    assert codes.count(1001) > 20, codes  # most were still in line: never worked through
    server.assert_no_traceback()


async def test_sigterm_during_a_signup_storm_stops_without_hashing_the_queue(
    reliable_server: ServerFactory,
) -> None:
    """Found by SIGTERM under a signup storm: logins queued for a password-hashing slot
    (argon2, two at a time) kept the shutdown waiting while every one of them was hashed
    and its account created for a client that was already gone (200 took 23 s here)."""
    server = reliable_server()
    server.start()
    count = 300

    async def sign_up(n: int) -> ClientConnection:
        ws = await connect(server.url, compression=None, open_timeout=WAIT)
        await ws.send(json.dumps({"type": "hello", "nick": f"new{n}", "password": "pw"}))
        return ws

    storm = await asyncio.gather(*(sign_up(n) for n in range(count)))
    await asyncio.to_thread(server.health)  # answered after the hellos already sent are read
    server.signal(signal.SIGTERM)
    assert await asyncio.to_thread(server.wait, WAIT) == 0, "the shutdown hashed the queue"
    for ws in storm:  # told to come back later, with the password they chose
        await asyncio.wait_for(ws.wait_closed(), WAIT)
    server.start()
    tokens = await mint_tokens(server.db, ["reader"])
    async with ChatClient(server.url, token=tokens["reader"], reconnect=False) as client:
        rooms = await client.list_rooms()
    assert rooms.rooms == []
    with sqlite3.connect(server.db) as db:
        (created,) = db.execute("SELECT count(*) FROM users").fetchone()
    assert created < count  # the queue was dropped, not worked through
    server.assert_no_traceback()
