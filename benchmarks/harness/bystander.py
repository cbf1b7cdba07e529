"""The abuse scenario's bystander: one user who times its logins and history pages under an attack.

It runs in a load-generator process (``worker.py``) from 127.0.0.1, the attackers from another
address (``hostile.py``). Every wait has a timeout; a request refused or dropped is counted with
its reason, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection

from benchmarks.harness.wsclient import DROPPED, discard, hello, login, open_ws, reply, why, ws_url


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
