"""Benchmark of the terminal client: the real app, headless under Pilot, against a real server.

``python -m benchmarks.scenarios.tui [--messages 10000] [--rate 50] [--keys 40]`` starts chat-server
in-process on port 0 (a temporary SQLite file, no send rate limit), fills a room with
``--messages`` messages, and measures for that room and for an empty room (the baseline, same
run): the time to show the room after start, the time to page up to its first message, and
keystroke latency (a key event from the terminal until the composer holds the character)
while ``--rate`` messages per second stream into the room.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from textual import events
from websockets.asyncio.client import ClientConnection, connect

from benchmarks.harness.stats import percentile
from chat_server.config import Settings
from chat_server.server import start
from chat_tui.tui.app import ChatApp, create_app


@dataclass
class Result:
    room: str
    messages: int
    show_ms: float
    page_to_top_ms: float | None
    key_p50_ms: float
    key_p95_ms: float
    streamed: int


async def _login(url: str, nick: str) -> tuple[ClientConnection, str]:
    ws = await connect(url, max_size=None, max_queue=None, compression=None)
    await ws.send(json.dumps({"type": "hello", "nick": nick, "password": f"{nick}-password"}))
    welcome = json.loads(await ws.recv())
    return ws, str(welcome["token"])


async def _fill(ws: ClientConnection, room: str, count: int) -> None:
    """Post ``count`` messages of varied length to ``room``, pipelined, and wait for the acks."""
    await ws.send(json.dumps({"type": "join", "room": room}))
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"]
    for chunk in range(0, count, 250):  # in chunks: a client that never reads gets cut off
        size = min(250, count - chunk)
        for n in range(chunk, chunk + size):
            body = f"message {n + 1} " + " ".join(words[: n % 9] * (1 + n % 4))
            frame = {"type": "send", "room": room, "body": body, "id": f"f{n}"}
            await ws.send(json.dumps(frame))
        acked = 0
        while acked < size:
            acked += json.loads(await ws.recv())["type"] == "ack"


async def _stream(ws: ClientConnection, room: str, rate: float, stop: asyncio.Event) -> int:
    """Send ``rate`` messages per second to ``room`` until ``stop``; returns how many."""
    sent = 0
    started = time.perf_counter()
    while not stop.is_set():
        await ws.send(
            json.dumps({"type": "send", "room": room, "body": f"live {sent}", "id": f"l{sent}"})
        )
        sent += 1
        delay = started + sent / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    return sent


async def _wait(app: ChatApp, condition: Any, timeout: float = 120.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the app did not get there in time")
        await asyncio.sleep(0.005)


async def measure(
    url: str, token: str, room: str, messages: int, rate: float, keys: int, paging: bool = True
) -> Result:
    app = create_app(url, token=token, rooms=[room])
    started = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        await _wait(app, lambda: app.ready)
        await pilot.pause()
        show_ms = (time.perf_counter() - started) * 1000
        history = app.chat.history
        timeline = history.timeline(room)
        page_ms = None
        if paging:
            started = time.perf_counter()
            while timeline.more_before:
                history.scroll_to(y=0, animate=False, immediate=True)
                await pilot.pause()
                await _wait(app, lambda: not timeline.loading)
            page_ms = round((time.perf_counter() - started) * 1000, 1)
            history.scroll_end(animate=False, immediate=True, x_axis=False)
        streamer, _ = await _login(url, "streamer")
        await streamer.send(json.dumps({"type": "join", "room": room}))
        stop = asyncio.Event()
        stream = asyncio.create_task(_stream(streamer, room, rate, stop))
        await asyncio.sleep(1.0)  # the stream is flowing
        latencies = []
        for n in range(keys):
            # as the terminal driver does (Pilot.press would also wait for the app to idle,
            # which a busy room never does)
            before = time.perf_counter()
            app.post_message(events.Key("x", "x"))
            await _wait(app, lambda n=n: len(app.chat.composer.value) == n + 1)
            latencies.append((time.perf_counter() - before) * 1000)
            await asyncio.sleep(0.05)
        stop.set()
        streamed = await stream
        await streamer.close()
    return Result(
        room,
        messages,
        round(show_ms, 1),
        page_ms,
        round(statistics.median(latencies), 1),
        round(percentile(latencies, 95), 1),
        streamed,
    )


async def run(messages: int, rate: float, keys: int, paging: bool = True) -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            host="127.0.0.1",
            port=0,
            db_path=Path(tmp) / "bench.db",
            rate_per_second=1e9,
            rate_burst=10**9,
            read_rate=1e9,  # the TUI's paging, measured, not limited
            read_burst=10**9,
            synchronous="normal",
        )
        server = await start(settings)
        try:
            seeder, _ = await _login(server.url, "seeder")
            await _fill(seeder, "big", messages)
            await seeder.close()
            reader, token = await _login(server.url, "reader")
            await reader.close()
            return [
                await measure(server.url, token, "empty", 0, rate, keys, paging),
                await measure(server.url, token, "big", messages, rate, keys, paging),
            ]
        finally:
            await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=50.0, help="incoming messages per second")
    parser.add_argument("--keys", type=int, default=40, help="keystrokes measured")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--no-paging", action="store_true", help="skip paging up to the top")
    args = parser.parse_args()
    results = asyncio.run(run(args.messages, args.rate, args.keys, not args.no_paging))
    header = (
        f"{'room':<6} {'messages':>8} {'show ms':>8} {'to top ms':>10} {'key p50':>8} {'p95':>7}"
    )
    print(header)
    for r in results:
        print(
            f"{r.room:<6} {r.messages:>8} {r.show_ms:>8.1f} {r.page_to_top_ms or 0:>10.1f} "
            f"{r.key_p50_ms:>8.1f} {r.key_p95_ms:>7.1f}   ({r.streamed} messages streamed)"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")


if __name__ == "__main__":
    main()
