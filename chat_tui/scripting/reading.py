"""Reading a room for scripts: history pages, and the ``tail`` that follows a room for good.

The async halves of ``chat-tui history`` and ``chat-tui tail``, on ChatClient; ``cli.py`` imports
this module only when one of those commands runs, so ``chat-tui send`` never loads asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from chat_server import protocol as p
from chat_tui.client.client import ChatClient
from chat_tui.client.errors import ServerError
from chat_tui.client.events import Closed
from chat_tui.scripting.output import human_line, json_line, write_cursor


async def history(
    client: ChatClient, room: str, limit: int, before: int | None
) -> list[p.MessageRecord]:
    async with client:
        try:
            return await history_pages(client, room, limit, before)
        except ServerError as exc:
            # A public room that exists is joined, as a person would to read it; a name
            # that matches no room stays an error (a typo must not create a room).
            if exc.code != "not_member" or not await is_public_room(client, room):
                raise
        await client.join(room)
        return await history_pages(client, room, limit, before)


async def is_public_room(client: ChatClient, room: str) -> bool:
    """Whether ``room`` is a public room that exists (without creating it)."""
    async for info in client.all_rooms():
        if info.room == room:
            return True
    return False


async def history_pages(
    client: ChatClient, room: str, limit: int, before: int | None
) -> list[p.MessageRecord]:
    """The newest ``limit`` messages before ``before``, paging back as far as needed."""
    collected: list[p.MessageRecord] = []
    while len(collected) < limit:
        page = await client.history(
            room, before=before, limit=min(p.HISTORY_MAX, limit - len(collected))
        )
        collected[:0] = page.messages
        if not page.more or not page.messages:
            break
        before = page.messages[0].seq
    return collected


class Printer:
    """Writes each message once, flushed, then records its seq in the cursor file."""

    def __init__(self, as_json: bool, cursor: Path | None) -> None:
        self.as_json = as_json
        self.cursor = cursor

    def __call__(self, message: p.MessageRecord) -> None:
        line = json_line(message) if self.as_json else human_line(message)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if self.cursor is not None:
            write_cursor(self.cursor, message.seq)


async def tail(
    client: ChatClient, room: str, since: int | None, printer: Callable[[p.MessageRecord], None]
) -> None:
    async with client:
        joined = await client.join(room, since=since)
        if since is not None:
            for message in joined.messages:
                printer(message)
        async for event in client.events():
            if isinstance(event, p.MessageRecord) and event.room == room:
                printer(event)
            elif isinstance(event, Closed) and event.error is not None:
                raise event.error


async def until_signal(coro: Coroutine[Any, Any, None]) -> None:
    """Run until done, or until SIGINT/SIGTERM or a closed stdout pipe ends it cleanly."""
    task = asyncio.ensure_future(coro)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    watched = _watch_stdout_pipe(loop, task)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        if watched:
            loop.remove_reader(sys.stdout.fileno())
    if task.cancelled() and _stdout_closed:
        raise BrokenPipeError("stdout was closed")


_stdout_closed = False


def _watch_stdout_pipe(loop: asyncio.AbstractEventLoop, task: asyncio.Future[None]) -> bool:
    """Notice at once when the reader of our stdout pipe goes away (``tail | head -1``).

    Without this a quiet room would keep ``tail`` alive until its next line failed to write.
    epoll reports the error on the pipe's write end as readiness, which wakes the reader hook.
    """
    try:
        fd = sys.stdout.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False

        def closed() -> None:
            global _stdout_closed
            _stdout_closed = True
            loop.remove_reader(fd)
            task.cancel()

        loop.add_reader(fd, closed)
    except (OSError, ValueError, NotImplementedError):
        return False
    return True
