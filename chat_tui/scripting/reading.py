"""Reading a room for scripts: history pages, and the ``tail`` that follows a room for good.

The async halves of ``chat-tui history`` and ``chat-tui tail`` (and of ``edit``, ``delete`` and
``react``, which need ChatClient's outbox), on ChatClient; ``cli.py`` imports
this module only when one of those commands runs, so ``chat-tui send`` never loads asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from chat_server import protocol as p
from chat_tui.client.client import ChatClient
from chat_tui.client.entries import RoomLog
from chat_tui.client.errors import ServerError
from chat_tui.client.events import Closed, JoinResult
from chat_tui.scripting.output import (
    Entry,
    entry_line,
    human_line,
    json_line,
    quote_of,
    reactions_line,
    write_cursor,
)


async def history(
    client: ChatClient, room: str, limit: int, before: int | None, thread: int | None = None
) -> RoomLog:
    """The room's newest ``limit`` messages before ``before`` (or the first ``limit`` of the
    thread of ``thread``), as they are now, with what they reply to when the page holds it."""
    async with client:
        try:
            return await history_pages(client, room, limit, before, thread)
        except ServerError as exc:
            await _joinable(client, room, exc)
        await client.join(room)
        return await history_pages(client, room, limit, before, thread)


async def join_to_read(client: ChatClient, room: str, since: int | None) -> JoinResult:
    """Join ``room`` to follow it, where :func:`history` would read it: a room one is in, or
    a public room that exists. Any other name is history's ``not_member``: a join would make
    a room of it, and a typo must not create a room."""
    try:
        await client.history(room, limit=1)
    except ServerError as exc:
        await _joinable(client, room, exc)
    return await client.join(room, since=since)


async def _joinable(client: ChatClient, room: str, refused: ServerError) -> None:
    """Return when ``refused`` (an attempt to read ``room``) only says one is not in a public
    room that exists, which a person would join to read; else raise it."""
    if refused.code != "not_member" or not await is_public_room(client, room):
        raise refused


async def is_public_room(client: ChatClient, room: str) -> bool:
    """Whether ``room`` is a public room that exists (without creating it)."""
    async for info in client.all_rooms():
        if info.room == room:
            return True
    return False


async def history_pages(
    client: ChatClient, room: str, limit: int, before: int | None, thread: int | None = None
) -> RoomLog:
    """Pages back from ``before`` (forward through a thread) until ``limit`` messages are held;
    the pages' change entries are applied (section 9), so each message reads as it is now."""
    log = RoomLog()
    after: int | None = None
    while len(log.messages) < limit:
        want = min(p.HISTORY_MAX, limit - len(log.messages))
        page = await client.history(room, before=before, after=after, limit=want, thread=thread)
        for entry in page.messages:
            log.apply(entry)
        if not page.more or not page.messages:
            break
        if thread is None:
            before = page.messages[0].seq
        else:
            after = page.messages[-1].seq
    return log


def newest(log: RoomLog, limit: int, thread: int | None = None) -> list[p.MessageRecord]:
    """The messages to print, oldest first: the newest ``limit`` (a thread's first)."""
    messages = sorted(log.messages.values(), key=lambda m: m.seq)
    return messages[:limit] if thread is not None else messages[-limit:]


def history_lines(log: RoomLog, messages: list[p.MessageRecord], as_json: bool) -> list[str]:
    """What ``chat-tui history`` prints: a line per message (and its reactions below it)."""
    if as_json:
        return [json_line(message) for message in messages]
    lines: list[str] = []
    for message in messages:
        target = log.get(message.reply_to) if message.reply_to is not None else None
        lines.append(human_line(message, quote_of(target) if target is not None else None))
        reactions = reactions_line(message)
        if reactions is not None:
            lines.append(reactions)
    return lines


class Printer:
    """Writes each entry once, flushed, then records its seq in the cursor file."""

    def __init__(self, as_json: bool, cursor: Path | None) -> None:
        self.as_json = as_json
        self.cursor = cursor

    def __call__(self, entry: Entry) -> None:
        line = json_line(entry) if self.as_json else entry_line(entry)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if self.cursor is not None:
            write_cursor(self.cursor, entry.seq)


async def tail(
    client: ChatClient, room: str, since: int | None, printer: Callable[[Entry], None]
) -> None:
    """Print every entry of ``room`` from ``since`` on (new ones only without it): messages,
    and the edits, deletes and reactions of protocol 2."""
    async with client:
        joined = await join_to_read(client, room, since)
        if since is not None:
            backlog: list[Entry] = [*joined.messages, *joined.changes]
            for entry in sorted(backlog, key=lambda e: e.seq):
                printer(entry)
        async for event in client.events():
            if isinstance(event, ENTRIES) and event.room == room:
                printer(event)
            elif isinstance(event, Closed) and event.error is not None:
                raise event.error


ENTRIES = (p.MessageRecord, p.EditEvent, p.DeleteEvent, p.ReactEvent)


async def submit(
    client: ChatClient, request: Callable[[ChatClient], Awaitable[p.Ack]], timeout: float
) -> p.Ack | None:
    """Make one acked request (edit, delete, react); None when no ack came within ``timeout``
    (the client tried again on every reconnect meanwhile, with the same id)."""
    async with client:
        try:
            async with asyncio.timeout(timeout):
                return await request(client)
        except TimeoutError:
            return None


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
