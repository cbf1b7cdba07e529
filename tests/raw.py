"""Bare protocol helpers over a websockets connection, for tests of the real command."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection

TIMEOUT = 10.0
Frame = dict[str, Any]


async def recv(ws: ClientConnection, timeout: float = TIMEOUT) -> Frame:
    async with asyncio.timeout(timeout):
        data = await ws.recv()
    assert isinstance(data, str), "the server must send text frames"
    frame: Frame = json.loads(data)
    return frame


async def expect(ws: ClientConnection, *types: str) -> Frame:
    """The next frame of ``types`` (or an error), skipping live events."""
    while True:
        reply = await recv(ws)
        if reply["type"] in (*types, "error"):
            return reply
        assert reply["type"] in ("presence", "typing", "read", "message"), reply


async def request(ws: ClientConnection, frame: Frame, *types: str) -> Frame:
    """Send a frame and return the first reply of ``types`` (or an error), skipping events."""
    await ws.send(json.dumps(frame))
    return await expect(ws, *types)
