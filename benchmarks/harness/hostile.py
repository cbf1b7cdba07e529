"""The ``abuse`` scenario's attacks: each a set of loops against the server, and their tallies.

They run in a load-generator process (``worker.py``), on websockets' own client (the attacks
need its close codes and HTTP refusals; their rates are the server's, not the client's). The
attackers connect from :data:`ATTACKER`, another loopback address than the bystander's
127.0.0.1 (``bystander.py``), as they would from another machine: per-address limits can tell
them apart.

Every loop is bounded in time (the attack's deadline, or :meth:`Attack.stop`) and every wait
has a timeout. A defense that refuses the attacker (``rate_limited``, a 1008 or 1013 close, an
HTTP refusal of the handshake) is an expected outcome: it is counted, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from benchmarks.harness.wsclient import (
    ATTACKER,
    DROPPED,
    discard,
    head,
    hello,
    login,
    open_ws,
    refused,
    reply,
    ws_url,
)


class Attack:
    """One attack's tasks and tallies: ``served`` (what the server did for the attacker),
    ``refused`` (rate_limited answers, 1008/1013 closes, refused handshakes), ``failed``
    (anything else that went wrong for it: resets, timeouts)."""

    def __init__(self, host: str, port: int, seconds: float) -> None:
        self.host = host
        self.port = port
        self.url = ws_url(host, port)
        self.deadline = asyncio.get_running_loop().time() + seconds
        self.counts = {"served": 0, "refused": 0, "failed": 0}
        self.tasks: list[asyncio.Task[None]] = []
        self.engaged = asyncio.Event()  # the attack is fully under way
        self.held: list[ClientConnection] = []  # connections kept open, not read
        self.peak = 0  # connections open at once (the ``connections`` attack)

    def left(self) -> float:
        return self.deadline - asyncio.get_running_loop().time()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.create_task(coro))

    def failure(self, exc: BaseException) -> None:
        self.counts["refused" if refused(exc) else "failed"] += 1

    def answer(self, kind: str, code: str | None, wanted: str) -> bool:
        """Count one answer; whether it was the one the attacker wanted."""
        if kind == wanted:
            self.counts["served"] += 1
            return True
        self.counts["refused" if code == "rate_limited" else "failed"] += 1
        return False

    async def session(self, token: str, **options: Any) -> ClientConnection | None:
        """A logged-in connection of the attacker's account, or None (counted) if refused."""
        ws: ClientConnection | None = None
        try:
            async with asyncio.timeout(max(self.left(), 0.1)):
                ws = await open_ws(self.url, source=ATTACKER, **options)
                kind, code = await login(ws, hello(token=token))
        except (TimeoutError, *DROPPED) as exc:
            discard(ws)
            self.failure(exc)
            return None
        if kind != "welcome":
            discard(ws)
            self.counts["refused" if code == "rate_limited" else "failed"] += 1
            return None
        return ws

    async def loop(self, body: Callable[[], Awaitable[None]], pause: float = 0.01) -> None:
        """Run ``body`` until the deadline; what it raises is counted, then it runs again
        (after ``pause``: a refusal answered at once must not spin the load core)."""
        while self.left() > 0:
            try:
                async with asyncio.timeout(max(self.left(), 0.01)):
                    await body()
            except TimeoutError:
                return
            except DROPPED as exc:
                self.failure(exc)
                await asyncio.sleep(pause)
            except Exception:  # anything else costs one attempt, never the run
                self.counts["failed"] += 1
                await asyncio.sleep(pause)

    async def wait_engaged(self, timeout: float) -> dict[str, Any]:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.engaged.wait()
        return {"engaged": self.engaged.is_set(), **self.counts}

    async def stop(self, drain: float = 2.0) -> dict[str, Any]:
        """Cancel the loops, read what the held connections were sent for ``drain`` seconds
        (their refusals), drop everything; the tallies."""
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=10)
        if self.held:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain):
                    await asyncio.gather(*(self._drain(ws) for ws in self.held))
            for ws in self.held:
                discard(ws)
        return {**self.counts, "peak": self.peak}

    async def _drain(self, ws: ClientConnection) -> None:
        ws.transport.resume_reading()
        try:
            while True:
                data = await ws.recv(decode=False)
                _, _, code = head(data if isinstance(data, bytes) else data.encode())
                if code == "rate_limited":
                    self.counts["refused"] += 1
        except ConnectionClosed as exc:
            if refused(exc):
                self.counts["refused"] += 1


def memory(a: Attack, token: str, room: str, conns: int) -> None:
    """``conns`` connections of one account each ``join since:0`` a room of long messages
    and ask three 500-message pages, never reading (a 4 kB receive buffer, reading
    paused); they stay open until the attack stops."""
    gate = asyncio.Semaphore(20)
    done = 0

    async def one() -> None:
        nonlocal done
        try:
            async with gate:
                ws = await a.session(token, rcvbuf=4096)
                if ws is None:
                    return
                ws.transport.pause_reading()
                try:
                    await ws.send(f'{{"type":"join","room":"{room}","since":0,"ref":"j"}}')
                    for n in range(3):
                        await ws.send(
                            f'{{"type":"history","room":"{room}","after":0,"limit":500,'
                            f'"ref":"h{n}"}}'
                        )
                except DROPPED as exc:
                    discard(ws)
                    a.failure(exc)
                    return
                a.held.append(ws)
                a.counts["served"] += 1
        finally:
            done += 1
            if done == conns:
                a.engaged.set()

    for _ in range(conns):
        a.spawn(one())


def pages(a: Attack, token: str, room: str, conns: int, window: int) -> None:
    """``conns`` connections of one account, each keeping ``window`` 500-message history
    pages of a room of long messages in flight and reading them as fast as they come: the
    server must not serve one connection's pipelined burst while everyone else waits."""
    ready = 0

    async def pager(k: int) -> None:
        n = 0

        async def paging() -> None:
            nonlocal n, ready
            ws = await a.session(token)
            if ws is None:
                await asyncio.sleep(0.05)
                return
            slots = asyncio.Semaphore(window)

            async def send() -> None:
                nonlocal n
                with contextlib.suppress(*DROPPED):  # the receiving side counts the close
                    while True:
                        await slots.acquire()
                        n += 1
                        await ws.send(
                            f'{{"type":"history","room":"{room}","limit":500,"ref":"p{k}-{n}"}}'
                        )

            try:
                await ws.send(f'{{"type":"join","room":"{room}","ref":"j"}}')
                while (await reply(ws, "j"))[0] == "joined":
                    pass
                ready += 1
                if ready >= conns:
                    a.engaged.set()
                sender = asyncio.create_task(send())
                try:
                    while True:
                        data = await ws.recv(decode=False)
                        kind, ref, code = head(data if isinstance(data, bytes) else data.encode())
                        if ref and ref.startswith("p"):
                            a.answer(kind, code, "history")
                            slots.release()
                finally:
                    sender.cancel()
            finally:
                discard(ws)

        await a.loop(paging)

    for k in range(conns):
        a.spawn(pager(k))


def lockout(a: Attack, nick: str, conns: int) -> None:
    """``conns`` loops of wrong passwords for ``nick``, a new connection per guess."""
    started = 0

    async def guesser(k: int) -> None:
        nonlocal started
        n = 0

        async def guess() -> None:
            nonlocal n, started
            n += 1
            ws = await open_ws(a.url, source=ATTACKER)
            try:
                await ws.send(hello(nick=nick, password=f"wrong-{k}-{n}"))
                if n == 1:
                    started += 1
                    if started == conns:
                        a.engaged.set()
                kind, code = await reply(ws, "login")
                if code == "auth_failed":  # the guess was tried
                    a.counts["served"] += 1
                else:
                    a.answer(kind, code, "auth_failed")
            finally:
                discard(ws)

        await a.loop(guess)

    for k in range(conns):
        a.spawn(guesser(k))


def signup(a: Attack, conns: int) -> None:
    """One client (one address) creating accounts over ``conns`` connections at a time."""
    tag = os.getpid() % 10_000

    async def creator(k: int) -> None:
        n = 0

        async def create() -> None:
            nonlocal n
            n += 1
            ws = await open_ws(a.url, source=ATTACKER)
            try:
                a.engaged.set()
                kind, code = await login(ws, hello(nick=f"sg{tag}x{k}x{n}", password="pw-123456"))
                a.answer(kind, code, "welcome")
            finally:
                discard(ws)

        await a.loop(create)

    for k in range(conns):
        a.spawn(creator(k))


def rooms(a: Attack, token: str, window: int, listers: int) -> None:
    """Joins of new room names, ``window`` in flight on one connection, and ``listers``
    connections asking for the list of rooms in a loop."""
    tag = os.getpid() % 10_000
    made = 0

    async def joiner() -> None:
        async def pipelined() -> None:
            nonlocal made
            ws = await a.session(token)
            if ws is None:
                await asyncio.sleep(0.05)
                return
            slots = asyncio.Semaphore(window)

            async def send() -> None:
                nonlocal made
                with contextlib.suppress(*DROPPED):  # the receiving side counts the close
                    while True:
                        await slots.acquire()
                        made += 1
                        await ws.send(f'{{"type":"join","room":"r{tag}-{made}","ref":"j{made}"}}')

            sender = asyncio.create_task(send())
            a.engaged.set()
            try:
                while True:
                    data = await ws.recv(decode=False)
                    kind, ref, code = head(data if isinstance(data, bytes) else data.encode())
                    if ref and ref.startswith("j") and kind in ("history", "error"):
                        a.answer(kind, code, "history")
                        slots.release()
            finally:
                sender.cancel()
                discard(ws)

        await a.loop(pipelined)

    async def lister(k: int) -> None:
        n = 0

        async def listing() -> None:
            nonlocal n
            ws = await a.session(token)
            if ws is None:
                await asyncio.sleep(0.05)
                return
            try:
                while True:
                    n += 1
                    await ws.send(f'{{"type":"rooms","ref":"l{k}-{n}"}}')
                    kind, code = await reply(ws, f"l{k}-{n}")
                    a.answer(kind, code, "rooms")
            finally:
                discard(ws)

        await a.loop(listing)

    a.spawn(joiner())
    for k in range(listers):
        a.spawn(lister(k))


def search(a: Attack, token: str, query: str, conns: int) -> None:
    """``conns`` connections each asking the same search in a loop, one at a time."""

    async def searcher(k: int) -> None:
        n = 0

        async def searching() -> None:
            nonlocal n
            ws = await a.session(token)
            if ws is None:
                await asyncio.sleep(0.05)
                return
            a.engaged.set()
            try:
                while True:
                    n += 1
                    await ws.send(f'{{"type":"search","q":"{query}","ref":"s{k}-{n}"}}')
                    kind, code = await reply(ws, f"s{k}-{n}")
                    a.answer(kind, code, "results")
            finally:
                discard(ws)

        await a.loop(searching)

    for k in range(conns):
        a.spawn(searcher(k))


def connections(a: Attack, conns: int) -> None:
    """``conns`` TCP connections that never say anything; one the server closes (or
    refuses) is opened again. ``peak``: how many were open at once."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    conns = min(conns, soft - 200)  # this process's own descriptors (the worker raised it)
    opened = 0
    now_open = 0

    async def holder() -> None:
        nonlocal opened

        async def hold() -> None:
            nonlocal opened, now_open
            try:
                reader, writer = await asyncio.open_connection(
                    a.host, a.port, local_addr=(ATTACKER, 0)
                )
            finally:
                opened += 1
                if opened == conns:
                    a.engaged.set()
            now_open += 1
            a.peak = max(a.peak, now_open)
            a.counts["served"] = a.peak
            try:
                with contextlib.suppress(OSError):
                    await reader.read(1)  # b"" (or a reset): the server closed it
                a.counts["refused"] += 1
            finally:
                now_open -= 1
                writer.transport.abort()
            await asyncio.sleep(0.05)

        await a.loop(hold, pause=0.05)

    for _ in range(conns):
        a.spawn(holder())


def start(kind: str, host: str, port: int, seconds: float, **args: Any) -> Attack:
    """Start the attack ``kind`` (its arguments as in the functions above)."""
    attack = Attack(host, port, seconds)
    launch: dict[str, Callable[..., None]] = {
        "memory": memory,
        "pages": pages,
        "lockout": lockout,
        "signup": signup,
        "rooms": rooms,
        "search": search,
        "connections": connections,
    }
    launch[kind](attack, **args)
    return attack
