"""The request table: each request family registers its handlers for its frame types.

The session loop looks a decoded frame's type up here: adding a request is one frame in
``protocol.py`` (its reply in ``server_frames.py``), one handler here, and what the store
needs for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from chat_server import protocol as p
from chat_server.context import Context
from chat_server.hub import Session

F = TypeVar("F", bound=p.ClientFrame)
Handler = Callable[[Context, Session, F], Awaitable[None]]

HANDLERS: dict[type[p.ClientFrame], Handler[Any]] = {}


class Hangup(Exception):
    """Raised by a handler that has closed its connection (``logout``): the loop ends."""


def handles(*types: type[F]) -> Callable[[Handler[F]], Handler[F]]:
    """Register the decorated coroutine as the handler of ``types``."""

    def register(handler: Handler[F]) -> Handler[F]:
        for frame_type in types:
            if frame_type in HANDLERS:
                raise RuntimeError(f"{frame_type.__name__} has a handler already")
            HANDLERS[frame_type] = handler
        return handler

    return register
