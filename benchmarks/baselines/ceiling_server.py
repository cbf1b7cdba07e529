"""The ceiling: a bare websockets broadcast server (no auth, no validation, no storage).

Every text frame a connection sends goes, unchanged, to every connection on the same
path (the path is the room), the sender included, with ``websockets.broadcast()``.
permessage-deflate is off, as in chat's default.
Run: ``python -m benchmarks.baselines.ceiling_server``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from websockets.asyncio.server import ServerConnection, broadcast, serve


async def main(host: str, port: int) -> None:
    rooms: dict[str, set[ServerConnection]] = {}

    async def handler(ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else "/"
        members = rooms.setdefault(path, set())
        members.add(ws)
        try:
            async for message in ws:
                broadcast(members, message)
        finally:
            members.discard(ws)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # the listen queue chat-server has (LISTEN_BACKLOG), so a storm of connects is compared alike
    async with serve(handler, host, port, compression=None, max_size=2**16, backlog=4096) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"listening on ws://{host}:{bound}/", flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(args.host, args.port))
    except ImportError:  # pragma: no cover
        asyncio.run(main(args.host, args.port))
