"""The ``abuse`` scenario's clients: a bystander who times its requests, and the attacks.

Both run in load-generator processes (``worker.py``), on websockets' own client (the attacks
need its close codes and HTTP refusals; their rates are the server's, not the client's). The
attackers connect from :data:`ATTACKER`, another loopback address than the bystander's
127.0.0.1, as they would from another machine: per-address limits can tell them apart.

Every loop is bounded in time (the attack's deadline, or :meth:`Attack.stop`) and every wait
has a timeout. A defense that refuses the attacker (``rate_limited``, a 1008 or 1013 close, an
HTTP refusal of the handshake) is an expected outcome: it is counted, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

ATTACKER = "127.0.0.2"
REFUSING_CLOSES = (1008, 1013)  # policy (abuse, failed login, over a cap), try again later
# what a client library raises when the server refuses or drops a connection
DROPPED = (ConnectionClosed, InvalidHandshake, OSError)
_TYPE = re.compile(rb'^\{"type":"(\w+)"')
_REF = re.compile(rb'"ref":(?:"([^"]*)"|null)\}$')


def ws_url(host: str, port: int) -> str:
    return f"ws://{host}:{port}/ws"


def head(data: bytes) -> tuple[str, str | None, str | None]:
    """(type, ref, error code) of a server frame. A big one (a 9 MB room list, a history
    page) is read from its ends only: msgspec writes ``type`` first and ``ref`` last."""
    if len(data) < 65536:
        frame = json.loads(data)
        return frame.get("type", ""), frame.get("ref"), frame.get("code")
    kind = _TYPE.match(data)
    ref = _REF.search(data[-300:])
    return (
        kind[1].decode() if kind else "",
        ref[1].decode() if ref and ref[1] is not None else None,
        None,
    )


def why(exc: BaseException) -> str:
    """A dropped connection in a few words: ``HTTP 503``, ``close 1013``, ``OSError``."""
    if isinstance(exc, InvalidStatus):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, ConnectionClosed):
        return f"close {exc.rcvd.code}" if exc.rcvd is not None else "dropped"
    return type(exc).__name__


def refused(exc: BaseException) -> bool:
    """Whether a client error is the server refusing (HTTP status, a 1008/1013 close)."""
    if isinstance(exc, InvalidStatus):
        return True
    if isinstance(exc, ConnectionClosed):
        return exc.rcvd is not None and exc.rcvd.code in REFUSING_CLOSES
    return False


async def open_ws(
    url: str, *, source: str | None = None, rcvbuf: int | None = None
) -> ClientConnection:
    """A websocket connection (no compression, no keepalive, frames of any size), from the
    ``source`` address, with a small receive buffer when ``rcvbuf`` is given."""
    options: dict[str, Any] = {}
    if rcvbuf is not None:
        host, port = url.split("/")[2].rsplit(":", 1)
        sock = socket.socket()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.bind((source or "127.0.0.1", 0))
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        except BaseException:
            sock.close()
            raise
        options["sock"] = sock
    elif source is not None:
        options["local_addr"] = (source, 0)
    return await connect(
        url,
        compression=None,
        open_timeout=None,  # the caller's timeout governs
        ping_interval=None,
        close_timeout=1,
        max_size=None,
        **options,
    )


async def reply(ws: ClientConnection, ref: str) -> tuple[str, str | None]:
    """Frames until the one answering ``ref``: its (type, error code)."""
    while True:
        data = await ws.recv(decode=False)
        kind, got, code = head(data if isinstance(data, bytes) else data.encode())
        if got == ref:
            return kind, code


async def login(ws: ClientConnection, hello: str) -> tuple[str, str | None]:
    """Send a hello (its ref is ``login``) and return the answer's (type, error code)."""
    await ws.send(hello)
    return await reply(ws, "login")


def hello(*, token: str = "", nick: str = "", password: str = "") -> str:
    if token:
        return f'{{"type":"hello","token":"{token}","client":"bench","ref":"login"}}'
    return (
        f'{{"type":"hello","nick":"{nick}","password":"{password}","client":"bench","ref":"login"}}'
    )


def discard(ws: ClientConnection | None) -> None:
    """Drop a connection at once (no closing handshake to wait for)."""
    if ws is not None:
        ws.transport.abort()


# --- the bystander ---------------------------------------------------------------------


class Bystander:
    """One user: password logins on fresh connections, history pages on a joined one."""

    def __init__(self, host: str, port: int, nick: str, password: str, room: str) -> None:
        self.url = ws_url(host, port)
        self.hello = hello(nick=nick, password=password)
        self.room = room
        self.conn: ClientConnection | None = None
        self.closing: set[asyncio.Task[None]] = set()
        self.pages = 0

    async def setup(self, warmup: int = 2, timeout: float = 60.0) -> dict[str, Any]:
        """Log in and join the room (it must work: the server is idle), then warm up."""
        async with asyncio.timeout(timeout):
            self.conn = await self._joined()
            for _ in range(warmup):
                await self.login(timeout)
                await self.history(timeout)
        return {}

    async def _joined(self) -> ClientConnection:
        ws = await open_ws(self.url)
        try:
            kind, code = await login(ws, self.hello)
            if kind != "welcome":
                raise ConnectionError(f"bystander login refused: {code}")
            await ws.send(f'{{"type":"join","room":"{self.room}","ref":"join"}}')
            # the backlog (type history) is the join's last reply
            while (await reply(ws, "join"))[0] == "joined":
                pass
        except BaseException:
            discard(ws)
            raise
        return ws

    async def login(self, budget: float) -> tuple[float, str]:
        """One password login on a new connection: (ms, "ok", "timeout" or why it failed)."""
        start = time.perf_counter()
        ws: ClientConnection | None = None
        try:
            async with asyncio.timeout(budget):
                ws = await open_ws(self.url)
                kind, code = await login(ws, self.hello)
            outcome = "ok" if kind == "welcome" else f"{kind} {code}"
        except TimeoutError:
            outcome = "timeout"
        except DROPPED as exc:
            outcome = why(exc)
        elapsed = (time.perf_counter() - start) * 1000
        if ws is not None:  # closed as a client does, off the clock
            task = asyncio.create_task(self._close(ws))
            self.closing.add(task)
            task.add_done_callback(self.closing.discard)
        return elapsed, outcome

    async def _close(self, ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await ws.close()

    async def history(self, budget: float) -> tuple[float, str]:
        """One ``history`` page of 100 on the joined connection (rejoined if it was lost)."""
        start = time.perf_counter()
        try:
            async with asyncio.timeout(budget):
                if self.conn is None:
                    self.conn = await self._joined()
                self.pages += 1
                ref = f"h{self.pages}"
                await self.conn.send(
                    f'{{"type":"history","room":"{self.room}","limit":100,"ref":"{ref}"}}'
                )
                kind, code = await reply(self.conn, ref)
            outcome = "ok" if kind == "history" else f"{kind} {code}"
        except TimeoutError:
            outcome = "timeout"
        except DROPPED as exc:
            outcome = why(exc)
            discard(self.conn)
            self.conn = None
        return (time.perf_counter() - start) * 1000, outcome

    async def run(self, count: int, seconds: float, grace: float) -> dict[str, Any]:
        """Logins back to back, and history pages one every ``seconds / count`` (spread over
        the phase), side by side, each up to ``count`` for ``seconds``: a login stuck behind
        an attack does not stop the pages being measured. The request under way at the end
        gets ``grace`` more; a timed-out one is kept as a sample (its time is a lower
        bound), a failed one (refused, dropped, an error) is not."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        times: dict[str, list[float]] = {"login": [], "history": []}
        tally = {"failed": 0, "timeouts": 0}
        reasons: dict[str, int] = {}  # of the failures: "history error rate_limited": 3

        async def repeat(
            name: str, op: Callable[[float], Awaitable[tuple[float, str]]], every: float
        ) -> None:
            due = loop.time()
            for _ in range(count):
                left = deadline - loop.time()
                if left <= 0:
                    return
                ms, outcome = await op(left + grace)
                if outcome in ("ok", "timeout"):
                    times[name].append(ms)
                    tally["timeouts"] += outcome == "timeout"
                else:
                    tally["failed"] += 1
                    reasons[f"{name} {outcome}"] = reasons.get(f"{name} {outcome}", 0) + 1
                due += every
                if due > loop.time():
                    await asyncio.sleep(min(due, deadline) - loop.time())

        await asyncio.gather(
            repeat("login", self.login, 0.0), repeat("history", self.history, seconds / count)
        )
        return {
            "login_ms": times["login"],
            "history_ms": times["history"],
            "reasons": reasons,
            **tally,
        }

    async def close(self) -> None:
        discard(self.conn)
        self.conn = None
        if self.closing:
            await asyncio.wait(self.closing, timeout=3)


# --- the attacks -----------------------------------------------------------------------


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
        "lockout": lockout,
        "signup": signup,
        "rooms": rooms,
        "search": search,
        "connections": connections,
    }
    launch[kind](attack, **args)
    return attack
