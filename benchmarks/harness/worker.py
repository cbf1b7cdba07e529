"""A load-generator process: many raw clients on one event loop, driven over a pipe.

The orchestrator starts one :class:`Worker` per role (subscribers, publishers, senders),
pins it to the load core, and sends it commands; each command is bounded in count and
time, and the process exits on ``close`` or when the pipe breaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from benchmarks.harness import hostile, procs, wire
from benchmarks.harness.bystander import Bystander
from benchmarks.harness.client import RawClient, Refused, Tally, client_class, open_client
from chat_tui.client.ids import new_id
from chat_tui.client.sequencing import Backoff

Spec = dict[str, Any]
ACK_OR_ERROR = (b'{"type":"ack"', b'{"type":"error"')
HISTORY = (b'{"type":"history"', b'{"type":"error"')
RESULTS = (b'{"type":"results"', b'{"type":"error"')


def _json(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame, separators=(",", ":")).encode()


def _reason(exc: Exception) -> str:
    """A failed attempt's reason, the same for every attempt that failed alike."""
    if isinstance(exc, OSError) and exc.errno is not None:  # asyncio's text names the port
        return f"[Errno {exc.errno}] {os.strerror(exc.errno)}"
    return str(exc).split(": ", 1)[-1][:60] or type(exc).__name__


class _Process:
    """The worker's side: clients, a tally, and the command dispatcher."""

    def __init__(self, system: str, host: str, port: int) -> None:
        self.dialect = wire.DIALECTS[system]
        self.host = host
        self.port = port
        self.tally = Tally()
        self.clients: list[RawClient] = []
        self.bystander: Bystander | None = None  # the abuse scenario's
        self.attack: hostile.Attack | None = None
        self.probing = False  # the delete-erase scenario's probe
        self.probe: asyncio.Future[dict[str, Any]] | None = None
        self.specs: list[Spec] = []  # each client's spec, to connect it again (rejoin)
        self.rejoins: list[asyncio.Future[None]] = []
        self.back = 0
        self.back_ns = 0

    async def connect(self, clients: list[Spec], concurrency: int = 100) -> dict[str, Any]:
        start = time.monotonic()
        gate = asyncio.Semaphore(concurrency)

        async def one(spec: Spec) -> RawClient:
            # a spec may name its own port (clients of one worker spread over several nodes)
            spec = {"host": self.host, "port": self.port, **spec}
            async with gate:
                client = client_class(self.dialect)(self.dialect, self.tally, **spec)
                return await open_client(client)

        self.clients += await asyncio.gather(*(one(spec) for spec in clients))
        self.specs += clients
        ports = sorted({c.port for c in self.clients})
        return {"connected": len(self.clients), "seconds": time.monotonic() - start, "ports": ports}

    async def join_all(self, room: str, concurrency: int = 100) -> dict[str, Any]:
        """Every client that notes arrivals (``latest``) joins ``room``, ``concurrency`` at a
        time, each until its ``history``; a later reconnect (``rejoin``) joins it again."""
        gate = asyncio.Semaphore(concurrency)
        frame = _json({"type": "join", "room": room})

        async def one(index: int) -> None:
            async with gate:
                await self.clients[index].request(frame, HISTORY, 120)
            self.specs[index] = {**self.specs[index], "room": room}

        start = time.monotonic()
        chosen = [i for i, c in enumerate(self.clients) if c.latest]
        await asyncio.gather(*(one(i) for i in chosen))
        return {"joined": len(chosen), "seconds": time.monotonic() - start}

    def rejoin_start(self) -> dict[str, Any]:
        """From now on every client that loses its connection connects again (and logs in
        and joins again) with chat's own clients' backoff (``Backoff``: attempt n waits half
        to all of 0.5 s x 2^n, at most 3 s; after a 503 with a Retry-After, that plus up to a
        second), until it is back; ``rejoin_status`` tells."""
        self.back = 0
        self.back_ns = 0
        self.refusals: dict[str, int] = {}  # why reconnect attempts failed, and how often
        self.unclosed = len(self.clients)  # a client whose connection never ends never tries
        self.rejoins = [asyncio.ensure_future(self._rejoin(i)) for i in range(len(self.clients))]
        return {}

    async def _rejoin(self, index: int) -> None:
        await self.clients[index].closed
        self.unclosed -= 1
        backoff = Backoff()
        spec = {"host": self.host, "port": self.port, **self.specs[index]}
        # as chat's client: connect and log in within 10 s, then join its room again (chat:
        # a join after the login; the ceiling's room is its path)
        room = spec["room"] if self.dialect is wire.CHAT else ""
        login = {**spec, "room": ""} if room else spec
        attempt = 0
        # a stopping server's 1001, then a busy one's Retry-After, as chat's clients take them
        told = self.clients[index].told
        while True:
            await asyncio.sleep(backoff.after(attempt, told))
            told = None
            attempt += 1
            client = client_class(self.dialect)(self.dialect, self.tally, **login)
            try:
                self.clients[index] = await open_client(client, 10.0)
                if room:
                    await client.request(_json({"type": "join", "room": room}), HISTORY, 120)
            except Exception as exc:  # as chat's client: whatever failed, try again later
                told = exc.retry_after if isinstance(exc, Refused) else client.told
                client.close()
                reason = _reason(exc)
                self.refusals[reason] = self.refusals.get(reason, 0) + 1
                continue
            self.back += 1
            self.back_ns = max(self.back_ns, time.monotonic_ns())
            return

    def rejoin_status(self) -> dict[str, Any]:
        return {"back": self.back, "last_ns": self.back_ns, "refusals": self.refusals,
                "unclosed": self.unclosed}  # fmt: skip

    def take_latest(self) -> dict[str, Any]:
        """Each message's send time and when the last ``latest`` client here got it."""
        latest, self.tally.latest = self.tally.latest, {}
        return {"latest": latest}

    def mark(self) -> dict[str, Any]:
        return {
            "ns": time.monotonic_ns(),
            "delivered": self.tally.delivered,
            "acked": self.tally.acked,
        }

    async def loop(self, window: int, duration: float, max_sends: int) -> dict[str, Any]:
        """Every client keeps ``window`` sends in flight for ``duration`` seconds."""
        self.tally.take()
        acked0, errors0 = self.tally.acked, self.tally.errors
        start = time.monotonic_ns()
        for client in self.clients:
            client.start_loop(window, duration, max_sends)
        limit = time.monotonic() + duration + 15.0
        busy = self.clients
        while any(c.sending or c.inflight for c in busy) and time.monotonic() < limit:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        elapsed = (time.monotonic_ns() - start) / 1e9
        _, acks = self.tally.take()
        stuck = sum(len(c.inflight) for c in self.clients)
        for client in self.clients:
            client.sending = False
            client.inflight.clear()
            client.kinds.clear()
        return {
            "acked": self.tally.acked - acked0,
            "seconds": elapsed,
            "ack_ms": [a / 1e6 for a in acks],
            "unacked": stuck,
            "errors": self.tally.errors - errors0,
        }

    async def rate(self, per_second: float, count: int) -> dict[str, Any]:
        """The first client publishes ``count`` messages at an even ``per_second`` pace."""
        client = self.clients[0]
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(count):
            due = start + i / per_second
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            client.send_one()
        offered = count / max(loop.time() - start, 1e-9)
        limit = loop.time() + 15.0
        while client.inflight and loop.time() < limit:  # noqa: ASYNC110 (bounded poll)
            await asyncio.sleep(0.01)
        unacked = len(client.inflight)
        client.inflight.clear()
        client.kinds.clear()
        return {"sent": count, "unacked": unacked, "offered_per_s": offered}

    def take(self) -> dict[str, Any]:
        deliveries, acks = self.tally.take()
        return {"delivery_ms": [d / 1e6 for d in deliveries], "ack_ms": [a / 1e6 for a in acks]}

    async def pings(self, count: int) -> dict[str, Any]:
        client = self.clients[0]
        return {"ms": [await client.ping() / 1e6 for _ in range(count)]}

    async def history(self, room: str, top: int, count: int, seed: int) -> dict[str, Any]:
        """Random ``history before`` pages of 100 over seqs 1..top, one at a time."""
        client = self.clients[0]
        rng = random.Random(seed)
        times = []
        for i in range(count):
            before = rng.randint(101, top + 1)
            frame = (
                f'{{"type":"history","room":"{room}","before":{before},"limit":100,"ref":"h{i}"}}'
            ).encode()
            times.append(await client.request(frame, b'{"type":"history"') / 1e6)
        return {"ms": times}

    async def search(self, queries: list[str], room: str = "") -> dict[str, Any]:
        """Each query a ``search`` (in ``room``, or in every room of the user), one at a
        time, timed until its ``results``; and how many messages each found."""
        client = self.clients[0]
        times, hits = [], []
        for i, words in enumerate(queries):
            frame: dict[str, Any] = {"type": "search", "q": words, "ref": f"s{i}"}
            if room:
                frame["room"] = room
            took, reply = await client.exchange(_json(frame), RESULTS, 30)
            times.append(took / 1e6)
            hits.append(len(json.loads(reply)["messages"]))
        return {"ms": times, "hits": hits}

    async def erase(self, room: str, targets: list[int]) -> dict[str, Any]:
        """One at a time, a ``send`` to ``room`` then a ``delete`` of each target (ours),
        each timed until its ack: the delete-erase scenario's phase."""
        client = self.clients[0]
        sends, deletes = [], []
        for target in targets:
            send = {"type": "send", "room": room, "body": "a reference send", "id": new_id()}
            delete = {"type": "delete", "room": room, "target": target, "id": new_id()}
            sends.append(await client.request(_json(send), ACK_OR_ERROR, 30) / 1e6)
            deletes.append(await client.request(_json(delete), ACK_OR_ERROR, 30) / 1e6)
        return {"send_ms": sends, "delete_ms": deletes}

    async def probe_start(
        self, room: str, top: int, seed: int, seconds: float, every: float
    ) -> dict[str, Any]:
        """Start three loops, at most ``seconds``: random ``history before`` pages of 100 on
        the first client, sends on the second, websocket pings on the third (when there is
        one), each one request at a time and one every
        ``every`` seconds at most, each request's start and time noted (until
        ``probe_stop``): who waits while the server purges its search index."""
        self.probing = True
        self.probe = asyncio.ensure_future(self._probe(room, top, seed, seconds, every))
        return {}

    async def _probe(
        self, room: str, top: int, seed: int, seconds: float, every: float
    ) -> dict[str, Any]:
        rng = random.Random(seed)
        deadline = time.monotonic() + seconds

        async def paced(start_ns: int) -> None:
            rest = every - (time.monotonic_ns() - start_ns) / 1e9
            if rest > 0:
                await asyncio.sleep(rest)

        async def pages() -> list[tuple[int, float]]:
            out = []
            while self.probing and time.monotonic() < deadline:
                frame = {"type": "history", "room": room, "before": rng.randint(101, top + 1),
                         "limit": 100}  # fmt: skip
                start = time.monotonic_ns()
                took = await self.clients[0].request(_json(frame), HISTORY, 30)
                out.append((start, took / 1e6))
                await paced(start)
            return out

        async def sends() -> list[tuple[int, float]]:
            out = []
            while self.probing and time.monotonic() < deadline:
                frame = {"type": "send", "room": room, "body": "a probe", "id": new_id()}
                start = time.monotonic_ns()
                took = await self.clients[1].request(_json(frame), ACK_OR_ERROR, 30)
                out.append((start, took / 1e6))
                await paced(start)
            return out

        async def pings() -> list[tuple[int, float]]:
            out = []
            while self.probing and time.monotonic() < deadline and len(self.clients) > 2:
                start = time.monotonic_ns()
                out.append((start, await self.clients[2].ping(30) / 1e6))
                await paced(start)
            return out

        history, sent, pinged = await asyncio.gather(pages(), sends(), pings())
        return {"history": history, "send": sent, "ping": pinged}

    async def probe_stop(self) -> dict[str, Any]:
        self.probing = False
        assert self.probe is not None
        async with asyncio.timeout(30):
            return await self.probe

    async def bystander_setup(self, nick: str, password: str, room: str) -> dict[str, Any]:
        """Log the abuse scenario's bystander in (it joins ``room``) and warm it up."""
        self.bystander = Bystander(self.host, self.port, nick, password, room)
        return await self.bystander.setup()

    async def bystander_run(self, count: int, seconds: float, grace: float) -> dict[str, Any]:
        assert self.bystander is not None
        return await self.bystander.run(count, seconds, grace)

    async def attack_start(
        self, kind: str, seconds: float, engage_s: float, **args: Any
    ) -> dict[str, Any]:
        """Start an attack (``hostile.start``), at a lower priority than the bystander on
        the same core; returns once it is under way (or after ``engage_s``)."""
        os.nice(10)
        self.attack = hostile.start(kind, self.host, self.port, seconds, **args)
        return await self.attack.wait_engaged(engage_s)

    async def attack_stop(self) -> dict[str, Any]:
        assert self.attack is not None
        attack, self.attack = self.attack, None
        return await attack.stop()

    async def close(self) -> None:
        for task in self.rejoins:
            task.cancel()
        if self.attack is not None:
            await self.attack.stop(drain=0)
        if self.bystander is not None:
            await self.bystander.close()
        for client in self.clients:
            client.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                for client in self.clients:
                    await client.closed
        self.clients.clear()


async def _serve(conn: Connection, system: str, host: str, port: int) -> None:
    proc = _Process(system, host, port)
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[Any] = asyncio.Queue()

    def reader() -> None:  # a thread: the pipe stays blocking (add_reader would not)
        while True:
            try:
                command = conn.recv()
            except (EOFError, OSError):
                command = ("close", {})
            loop.call_soon_threadsafe(commands.put_nowait, command)
            if command[0] == "close":
                return

    threading.Thread(target=reader, name="commands", daemon=True).start()
    while True:
        name, args = await commands.get()
        try:
            if name == "close":
                await proc.close()
                conn.send(("ok", {}))
                return
            handler = getattr(proc, name)
            result = handler(**args)
            if asyncio.iscoroutine(result):
                result = await result
            conn.send(("ok", result))
        except Exception as exc:  # reported to the orchestrator, which fails the scenario
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _main(conn: Connection, system: str, host: str, port: int, core: int | None) -> None:
    if core is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {core})
    procs.raise_nofile()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover
        runner = asyncio.Runner()
    with runner:
        runner.run(_serve(conn, system, host, port))


class Worker:
    """The orchestrator's handle on one load-generator process."""

    def __init__(
        self, role: str, system: str, host: str, port: int, core: int | None = None
    ) -> None:
        self.role = role
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_main,
            args=(child, system, host, port, core),
            name=f"bench-{role}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.core = core

    @property
    def pid(self) -> int:
        return int(self.process.pid or 0)

    def call(self, name: str, timeout: float = 120.0, **args: Any) -> Any:
        """Run one command in the worker and return its result (raises on its error)."""
        self.begin(name, **args)
        return self.finish(name, timeout)

    def begin(self, name: str, **args: Any) -> None:
        """Start a command (several workers can then run theirs at once); ``finish`` it."""
        self.conn.send((name, args))

    def finish(self, name: str, timeout: float = 120.0) -> Any:
        if not self.conn.poll(timeout):
            raise TimeoutError(f"{self.role}: {name} took more than {timeout} s")
        status, result = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"{self.role}: {name}: {result}")
        return result

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self.process.is_alive():
                self.call("close", timeout=10)
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()
