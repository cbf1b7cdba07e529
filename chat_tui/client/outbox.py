"""The outbox: sends not yet acknowledged, in the order they go out (again, after a reconnect).

"Sends" are every request answered by an ``ack`` and made idempotent by its ``id``: ``send``,
protocol 2's ``edit``, ``delete`` and ``react``, which spend the same rate tokens, and its
room commands (``create``, ``invite``, ``kick``, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from msgspec.structs import replace
from websockets.exceptions import ConnectionClosed

from chat_server import protocol as p
from chat_tui.client.errors import ClientError, ServerError

if TYPE_CHECKING:
    from chat_tui.client.handshake import Connection


Submission = p.Send | p.Edit | p.Delete | p.React | p.Create | p.RoomCommandFrame


@dataclass
class Outgoing:
    frame: Submission
    future: asyncio.Future[p.Ack]
    ref: str | None = None  # the ref of the attempt in flight, which an error frame answers


class Outbox:
    """Every unacknowledged send by id, and the queue of those still to be written.

    A send stays here until the server acks it, refuses it, or its caller gives up; whatever has
    not been acked when the connection drops is queued again, with the same id, by ``rewind``.
    """

    def __init__(self) -> None:
        self._entries: dict[str, Outgoing] = {}
        self._unsent: deque[str] = deque()
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, msg_id: str) -> Outgoing | None:
        return self._entries.get(msg_id)

    def add(self, msg_id: str, frame: Submission) -> asyncio.Future[p.Ack]:
        """Queue a send; the future resolves with its ack."""
        future: asyncio.Future[p.Ack] = asyncio.get_running_loop().create_future()
        self._entries[msg_id] = Outgoing(frame, future)
        self._unsent.append(msg_id)
        self._changed.set()
        return future

    def drop(self, msg_id: str) -> None:
        """Forget a send: it is not written (again)."""
        self._entries.pop(msg_id, None)
        with contextlib.suppress(ValueError):
            self._unsent.remove(msg_id)

    async def wait(self) -> None:
        """Return once a send is waiting to be written."""
        while not self._unsent:
            self._changed.clear()
            await self._changed.wait()

    def take(self) -> Outgoing | None:
        """The next send to write, or None if it was settled (or the queue emptied) while it
        waited: the writer then goes back to ``wait``."""
        if not self._unsent:  # dropped during the writer's rate pause
            return None
        entry = self._entries.get(self._unsent.popleft())
        if entry is None or entry.future.done():
            return None
        return entry

    async def write(self, conn: Connection, next_ref: Callable[[], str]) -> None:
        """Be the connection's only writer of sends: in order, paced by the server's rate limit.

        Starts once the connection is resumed; returns when it closes.
        """
        await conn.ready.wait()
        rate = conn.welcome.limits.rate.per_second
        while True:
            await self.wait()
            while not conn.bucket.take(time.monotonic()):  # noqa: ASYNC110 - pacing, not polling
                await asyncio.sleep(1 / rate)
            entry = self.take()
            if entry is None:
                continue
            entry.ref = next_ref()
            try:
                await conn.ws.send(p.encode(replace(entry.frame, ref=entry.ref)), text=True)
            except ConnectionClosed:
                return

    def rewind(self) -> None:
        """The connection dropped: everything unacked goes out again, in order."""
        self._unsent = deque(self._entries)

    def acked(self, ack: p.Ack) -> None:
        """Settle the request an ack answers: by its id, or by its ref (a delete of a deleted
        message is answered with the first delete's ack, whose id is another's)."""
        entry = self._entries.pop(ack.id, None)
        if entry is None and ack.ref is not None:
            for msg_id, waiting in self._entries.items():
                if waiting.ref == ack.ref:
                    entry = self._entries.pop(msg_id)
                    break
        if entry is not None and not entry.future.done():
            entry.future.set_result(ack)

    def refused(self, error: p.Error) -> bool:
        """Settle the send an error frame answers; False if it answers none of them.

        A ``rate_limited`` send goes back to the front of the queue, with the same id; any other
        error fails it.
        """
        ref = error.ref or ""
        for msg_id, entry in self._entries.items():
            if entry.ref is not None and entry.ref == ref:
                if error.code == "rate_limited":  # the same id again, a little later
                    entry.ref = None
                    self._unsent.appendleft(msg_id)
                    self._changed.set()
                else:
                    self.drop(msg_id)
                    entry.future.set_exception(ServerError(error.code, error.message))
                return True
        return False

    def fail(self, error: ClientError) -> None:
        """The client stopped: every send still pending fails with ``error``."""
        for entry in self._entries.values():
            if not entry.future.done():
                entry.future.set_exception(error)
