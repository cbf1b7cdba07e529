"""An ack means the message is on disk: SIGKILL the real server process and look again.

DESIGN.md (Storage): "A message is acked only after its transaction commits; a server killed
with SIGKILL loses no acked message." Seqs stay contiguous and the client's idempotency key
still returns the original ack after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Callable

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ServerProcess
from tests.raw import Frame, expect, recv, request

pytestmark = pytest.mark.slow  # chat-server subprocesses, killed and started again

ROOM = "durable"
NICK = "writer"
PASSWORD = "durable-pw"
TIMEOUT = 10.0
# The default rate limit (20/s, burst 40) would refuse a pipelined burst of hundreds.
FAST = ("--rate", "100000", "--burst", "100000")

Spawn = Callable[..., ServerProcess]


async def hello(ws: ClientConnection, frame: Frame) -> Frame:
    welcome = await request(ws, {"type": "hello", **frame}, "welcome")
    assert welcome["type"] == "welcome", welcome
    return welcome


async def join(ws: ClientConnection, room: str) -> None:
    joined = await request(ws, {"type": "join", "room": room}, "joined")
    assert joined["type"] == "joined", joined
    history = await expect(ws, "history")
    assert history["type"] == "history", history


def body_of(i: int) -> str:
    return f"durable message {i} ✓"


def id_of(i: int) -> str:
    return f"m-{i:04d}"


async def send_all(ws: ClientConnection, count: int) -> None:
    for i in range(count):
        frame = {"type": "send", "room": ROOM, "body": body_of(i), "id": id_of(i)}
        await ws.send(json.dumps(frame))


async def collect_acks(ws: ClientConnection, count: int) -> dict[str, int]:
    """Read until ``count`` acks (no error allowed); returns id -> seq."""
    acks: dict[str, int] = {}
    while len(acks) < count:
        frame = await recv(ws)
        assert frame["type"] != "error", frame
        if frame["type"] == "ack":
            assert frame["room"] == ROOM, frame
            assert frame["id"] not in acks, f"two acks for {frame['id']}"
            acks[frame["id"]] = frame["seq"]
    return acks


async def all_history(ws: ClientConnection, room: str) -> list[Frame]:
    """Every message of the room, paging forward with ``history after``."""
    messages: list[Frame] = []
    last = 0
    for _ in range(100):
        page = await request(
            ws, {"type": "history", "room": room, "after": last, "limit": 64}, "history"
        )
        assert page["type"] == "history", page
        batch: list[Frame] = page["messages"]
        messages.extend(batch)
        if batch:
            last = batch[-1]["seq"]
        if not page["more"]:
            return messages
        assert batch, f"an empty page says more: {page}"
    raise AssertionError("history paging did not end")


def kill(process: ServerProcess) -> None:
    process.proc.send_signal(signal.SIGKILL)
    assert process.proc.wait(TIMEOUT) == -signal.SIGKILL


def assert_contiguous(messages: list[Frame]) -> None:
    seqs = [m["seq"] for m in messages]
    assert seqs == list(range(1, len(messages) + 1)), f"history has gaps or repeats: {seqs}"


async def test_acked_messages_survive_sigkill(server_process: Spawn) -> None:
    count = 200
    first = server_process(*FAST)
    async with connect(first.url, open_timeout=TIMEOUT) as ws:
        welcome = await hello(ws, {"nick": NICK, "password": PASSWORD})
        await join(ws, ROOM)
        await send_all(ws, count)
        acks = await collect_acks(ws, count)
        assert sorted(acks.values()) == list(range(1, count + 1)), "acked seqs not 1..N"
        kill(first)
    second = server_process(*FAST)
    async with connect(second.url, open_timeout=TIMEOUT) as ws:
        await hello(ws, {"token": welcome["token"]})
        messages = await all_history(ws, ROOM)
    assert len(messages) == count
    assert_contiguous(messages)
    for message in messages:
        i = int(message["id"].removeprefix("m-"))
        assert acks[message["id"]] == message["seq"], message
        assert message["body"] == body_of(i), message
        assert message["nick"] == NICK, message


async def test_sigkill_with_sends_in_flight(server_process: Spawn) -> None:
    count, kill_after = 300, 50
    first = server_process(*FAST)
    acks: dict[str, int] = {}
    async with connect(first.url, open_timeout=TIMEOUT) as ws:
        welcome = await hello(ws, {"nick": NICK, "password": PASSWORD})
        await join(ws, ROOM)
        sender = asyncio.create_task(send_all(ws, count))
        acks.update(await collect_acks(ws, kill_after))
        kill(first)
        # Acks already on the wire before the kill count as acks too.
        try:
            while True:
                frame = await recv(ws, timeout=2.0)
                if frame["type"] == "ack":
                    acks[frame["id"]] = frame["seq"]
        except (ConnectionClosed, TimeoutError):
            pass
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await sender
    assert len(acks) >= kill_after

    second = server_process(*FAST)
    async with connect(second.url, open_timeout=TIMEOUT) as ws:
        await hello(ws, {"token": welcome["token"]})
        survived = await all_history(ws, ROOM)
        assert_contiguous(survived)
        ids = [m["id"] for m in survived]
        assert len(ids) == len(set(ids)), "a message was stored twice"
        by_id = {m["id"]: m for m in survived}
        for msg_id, seq in acks.items():
            assert msg_id in by_id, f"acked message {msg_id} (seq {seq}) was lost"
            assert by_id[msg_id]["seq"] == seq, (msg_id, seq, by_id[msg_id])
        for message in survived:
            i = int(message["id"].removeprefix("m-"))
            assert 0 <= i < count and message["body"] == body_of(i), message

        # Resend everything with the same ids: the stored ones keep their seq.
        await send_all(ws, count)
        again = await collect_acks(ws, count)
        for msg_id, seq in acks.items():
            assert again[msg_id] == seq, f"{msg_id} was acked {seq}, now {again[msg_id]}"
        for message in survived:
            assert again[message["id"]] == message["seq"], message
        final = await all_history(ws, ROOM)
    assert len(final) == count
    assert_contiguous(final)
    assert {m["id"] for m in final} == {id_of(i) for i in range(count)}
    for message in final:
        assert again[message["id"]] == message["seq"], message
        assert message["body"] == body_of(int(message["id"].removeprefix("m-"))), message
