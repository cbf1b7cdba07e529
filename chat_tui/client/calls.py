"""Requests in flight: each goes out with a fresh ``ref``; the reply echoing it settles it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from msgspec.structs import replace
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from chat_server import protocol as p
from chat_tui.client.errors import ServerError


class Lost(Exception):
    """The connection dropped while a request was in flight; it is retried after reconnect."""


@dataclass
class Call:
    future: asyncio.Future[Any]
    frame: p.AnyClientFrame
    joined: p.Joined | None = None  # a join's first reply, waiting for its history page
    auto: bool = False  # a re-join made by the client after a reconnect


class Calls:
    """The requests waiting for their reply, by ref; refs are unique for the whole session."""

    def __init__(self) -> None:
        self._calls: dict[str, Call] = {}
        self._refs = 0

    def next_ref(self) -> str:
        self._refs += 1
        return f"c{self._refs}"

    async def call(self, ws: ClientConnection, frame: p.AnyClientFrame, auto: bool = False) -> Any:
        """Send a request and wait for its reply; Lost if the connection drops first."""
        ref = self.next_ref()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[ref] = Call(future, frame, auto=auto)
        try:
            await ws.send(p.encode(replace(frame, ref=ref)), text=True)
        except ConnectionClosed as exc:
            self._calls.pop(ref, None)
            raise Lost() from exc
        return await future

    def joined(self, joined: p.Joined) -> None:
        """Keep a join's ``joined`` with its call until the ``history`` that completes it."""
        call = self._calls.get(joined.ref or "")
        if call is not None:
            call.joined = joined

    def take(self, ref: str | None) -> Call | None:
        """The call a reply answers, now settled by the caller; None if none still waits."""
        call = self._calls.pop(ref or "", None)
        if call is None or call.future.done():
            return None
        return call

    def refused(self, error: p.Error) -> bool:
        """Fail the call an error frame answers; False if it answers none of them."""
        call = self._calls.pop(error.ref or "", None)
        if call is None:
            return False
        if not call.future.done():
            call.future.set_exception(ServerError(error.code, error.message, error.retry_after))
        return True

    def lose_all(self) -> None:
        """The connection dropped: every call in flight is retried on the next one."""
        for call in self._settle_all():
            call.future.set_exception(Lost())

    def fail_all(self, error: BaseException) -> None:
        """The client stopped: every call in flight fails with ``error``."""
        for call in self._settle_all():
            call.future.set_exception(error)

    def _settle_all(self) -> list[Call]:
        waiting = [call for call in self._calls.values() if not call.future.done()]
        self._calls.clear()
        return waiting
