"""The one-shot send builds its frames as plain dicts (for start-up speed, without the typed
frames of ``chat_server.protocol``): every kind it sends must decode as the server decodes it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.sync.client import connect as real_connect

from chat_server import protocol as p
from chat_tui.scripting import oneshot
from chat_tui.scripting.oneshot import Login, Outgoing, Target
from tests.conftest import ChatServerUnderTest


def recording_sends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the one-shot send writes on its websockets, from now on."""
    sent: list[str] = []

    def connect(*args: Any, **kwargs: Any) -> Any:
        ws = real_connect(*args, **kwargs)
        real_send = ws.send

        def send(message: Any, *more: Any, **options: Any) -> None:
            sent.append(message)
            real_send(message, *more, **options)

        setattr(ws, "send", send)  # noqa: B010 - this connection only, not the class
        return ws

    monkeypatch.setattr(oneshot, "connect", connect)
    return sent


async def test_every_frame_the_one_shot_send_writes_decodes_on_the_server(
    server: ChatServerUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = recording_sends(monkeypatch)

    def send_all(login: Login, target: Target, *bodies: str) -> list[dict[str, Any]]:
        items = [Outgoing(body, f"{body}-id") for body in bodies]
        return oneshot.send_all(server.url, login, target, items, timeout=10.0)

    # bob exists; alice signs up with a password, sends to a room she has not joined (refused
    # not_member, so a join, then the send again), then with her token to bob directly
    await asyncio.to_thread(
        send_all, Login(nick="bob", password="bob-pw"), Target("lobby", create=True), "b1"
    )
    alice = Login(nick="alice", password="alice-pw")
    acks = await asyncio.to_thread(send_all, alice, Target("lobby", create=True), "a1", "a2")
    assert [ack["id"] for ack in acks] == ["a1-id", "a2-id"]
    by_token = Login(token=alice.token)
    acks = await asyncio.to_thread(send_all, by_token, Target(to="bob"), "to-bob")
    assert [ack["id"] for ack in acks] == ["to-bob-id"]

    for text in sent:
        p.decode_client_frame(text)  # raises ProtocolError, with what is wrong, if it does not
    kinds = {
        (frame["type"], *sorted(set(frame) & {"token", "password", "room", "to"}))
        for frame in map(json.loads, sent)
    }
    assert kinds == {
        ("hello", "password"),
        ("hello", "token"),
        ("join", "room"),
        ("send", "room"),
        ("send", "to"),
    }
