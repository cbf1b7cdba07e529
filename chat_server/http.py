"""HTTP before the websocket handshake: the origin check, /healthz, and 404 elsewhere.

websockets' own ``origins`` list cannot name the request's own Host, so the check lives
here: browsers may connect from the server's own origin and from ``--allow-origin``
origins; clients that send no Origin (terminal clients, scripts) are let through and
authenticate with ``hello``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

WS_PATH = "/ws"


def origin_allowed(origin: str, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a browser at ``origin`` may open a websocket to this server."""
    origin = origin.rstrip("/").lower()
    if host and origin in (f"http://{host.lower()}", f"https://{host.lower()}"):
        return True
    return origin in {a.rstrip("/").lower() for a in allowed}


class RequestGate:
    """The ``process_request`` hook: answers plain HTTP, lets valid upgrades through."""

    def __init__(self, allowed_origins: tuple[str, ...], health: Callable[[], dict[str, Any]]):
        self.allowed_origins = allowed_origins
        self.health = health

    def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            body = json.dumps(self.health()) + "\n"
            response = connection.respond(HTTPStatus.OK, body)
            del response.headers["Content-Type"]  # Headers is a multidict: replace, not add
            response.headers["Content-Type"] = "application/json"
            response.headers["Cache-Control"] = "no-store"
            return response
        if path != WS_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "not found; the chat is at /ws\n")
        origin = request.headers.get("Origin")
        if origin is not None and not origin_allowed(
            origin, request.headers.get("Host"), self.allowed_origins
        ):
            return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        return None
