"""HTTP before the websocket handshake: the origin check, /healthz, /metrics (with
``--metrics``), the web client, 404, and the 503 of a connection cap.

Browsers may open a websocket from the server's own origins (``--public-url``, or without
it loopback names and the listen address: never whatever the Host header says, which a
DNS-rebinding page controls) and from ``--allow-origin`` origins; clients that send no
Origin (terminal clients, scripts) are let through and authenticate with ``hello``. The
browser client (``chat_server/web/``) is served from memory: a fixed set of files, read
once, so no request path ever reaches the filesystem.
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import json
import re
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers, MultipleValuesError
from websockets.http11 import Request, Response

from chat_server.admission import Refusal
from chat_server.metrics import CONTENT_TYPE as METRICS_TYPE

WS_PATH = "/ws"
WEB_DIR = Path(__file__).parent / "web"

# The page's ES modules (no build step): app.js is the entry point, it imports the others.
WEB_MODULES = (
    "actions.js",
    "app.js",
    "blocks.js",
    "changes.js",
    "composer.js",
    "connection.js",
    "dom.js",
    "edit.js",
    "floor.js",
    "invites.js",
    "layout.js",
    "length.js",
    "log.js",
    "login.js",
    "messages.js",
    "nav.js",
    "notify.js",
    "ordering.js",
    "outbox.js",
    "people.js",
    "quotes.js",
    "roles.js",
    "rooms.js",
    "search.js",
    "session.js",
    "settings.js",
    "thread.js",
    "view.js",
)

# URL path -> (file in WEB_DIR, Content-Type). Nothing outside this table is served.
WEB_FILES: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    **{f"/{name}": (name, "text/javascript; charset=utf-8") for name in WEB_MODULES},
}

# A Host header we are willing to name in the page's connect-src (host, IPv4, [IPv6], :port).
_HOST = re.compile(r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


@dataclasses.dataclass(frozen=True, slots=True)
class WebFile:
    """One file of the web client, held in memory with its validator."""

    body: bytes
    content_type: str
    etag: str


def load_web_files(web_dir: Path = WEB_DIR) -> dict[str, WebFile]:
    """Read the web client once; a missing file is left out (its path answers 404)."""
    files: dict[str, WebFile] = {}
    for path, (name, content_type) in WEB_FILES.items():
        try:
            body = (web_dir / name).read_bytes()
        except OSError:
            continue
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        files[path] = WebFile(body, content_type, etag)
    return files


def content_security_policy(host: str | None) -> str:
    """The page may load only its own files and talk only to its own websocket endpoint."""
    connect = "'self'"
    if host and _HOST.fullmatch(host):
        connect += f" ws://{host} wss://{host}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
        "require-trusted-types-for 'script'; trusted-types 'none'"
    )


def web_response(files: dict[str, WebFile], request: Request, path: str) -> Response | None:
    """The answer to a request for the web client, or None when ``path`` is not one of its files.

    Pure (no socket): GET and HEAD only, revalidation with ETag (``no-cache`` everywhere, as the
    file names carry no version), and headers that keep the page from being framed, sniffed or
    made to load anything from elsewhere.
    """
    found = files.get(path)
    if found is None:
        return None
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Cache-Control", "no-cache"),
            ("ETag", found.etag),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Cross-Origin-Resource-Policy", "same-origin"),
        ]
    )
    if request.method not in ("GET", "HEAD"):
        body = b"method not allowed\n"
        headers["Allow"] = "GET, HEAD"
        headers["Content-Type"] = "text/plain; charset=utf-8"
        headers["Content-Length"] = str(len(body))
        return Response(HTTPStatus.METHOD_NOT_ALLOWED, "Method Not Allowed", headers, body)
    # On every file, not only the page: a module opened on its own gets the same policy.
    headers["Content-Security-Policy"] = content_security_policy(request.headers.get("Host"))
    tags = {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}
    if found.etag in tags or "*" in tags:
        return Response(HTTPStatus.NOT_MODIFIED, "Not Modified", headers, b"")
    headers["Content-Type"] = found.content_type
    headers["Content-Length"] = str(len(found.body))
    body = b"" if request.method == "HEAD" else found.body
    return Response(HTTPStatus.OK, "OK", headers, body)


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(scheme: str, host: str, port: int | None) -> str:
    """A browser's ``Origin`` for a page at scheme://host:port (default ports left out)."""
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    if port is None or _DEFAULT_PORTS.get(scheme) == port:
        return f"{scheme}://{host}".lower()
    return f"{scheme}://{host}:{port}".lower()


def own_origins(public_url: str | None, host: str, port: int) -> frozenset[str]:
    """The origins of the server's own pages. With ``--public-url``, that address alone;
    without it, loopback names and the listen address on the listening port: never the
    request's Host header, which a DNS-rebinding page controls."""
    if public_url is not None:
        parts = urlsplit(public_url)
        return frozenset({origin(parts.scheme, parts.hostname or "", parts.port)})
    names = {*LOOPBACK_NAMES}
    if host not in ("", "0.0.0.0", "::"):
        names.add(host)
    return frozenset(origin(scheme, name, port) for scheme in ("http", "https") for name in names)


def origin_allowed(origin: str, own: frozenset[str], allowed: tuple[str, ...]) -> bool:
    """Whether a browser at ``origin`` may open a websocket to this server."""
    origin = origin.rstrip("/").lower()
    return origin in own or origin in {a.rstrip("/").lower() for a in allowed}


def _figures(
    connection: ServerConnection, request: Request, body: bytes, content_type: str
) -> Response:
    """A GET or HEAD of figures that change all the time (/healthz, /metrics)."""
    if request.method not in ("GET", "HEAD"):
        response = connection.respond(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed\n")
        response.headers["Allow"] = "GET, HEAD"
        return response
    response = connection.respond(HTTPStatus.OK, "")
    response.body = body
    del response.headers["Content-Type"]  # Headers is a multidict: replace, not add
    del response.headers["Content-Length"]
    response.headers["Content-Type"] = content_type
    response.headers["Content-Length"] = str(len(body))
    response.headers["Cache-Control"] = "no-store"
    if request.method == "HEAD":
        response.body = b""  # Content-Length stays the length of GET's body
    return response


class Admitter(Protocol):
    """The connection caps, as the gate consults them (chat_server/doorman.py)."""

    def spoke(self, ws: ServerConnection) -> None: ...

    def admit(self, ws: ServerConnection) -> Refusal | None: ...

    def busy_wait(self) -> int: ...


class RequestGate:
    """The ``process_request`` hook: answers plain HTTP, lets valid upgrades through
    (HTTP 503 when a connection cap refuses them; ``/healthz`` is answered before any)."""

    def __init__(
        self,
        allowed_origins: tuple[str, ...],
        health: Callable[[], dict[str, Any]],
        web_dir: Path = WEB_DIR,
        admitter: Admitter | None = None,
        *,
        own: frozenset[str] = frozenset(),
        metrics: Callable[[], bytes] | None = None,
    ):
        """``metrics``: the text of ``GET /metrics``; without it, /metrics is 404."""
        self.allowed_origins = allowed_origins
        self.metrics = metrics
        self.own = own  # set by the server once it listens (own_origins: the port is known)
        self.health = health
        self.web_files = load_web_files(web_dir)
        self.admitter = admitter

    def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.admitter is not None:
            self.admitter.spoke(connection)
        headers = request.headers
        # HTTP/1.1 needs exactly one Host (RFC 9112 3.2), and a browser sends one Origin: two
        # are someone probing which one each layer reads
        if not headers.get_all("Host"):
            return connection.respond(HTTPStatus.BAD_REQUEST, "bad request: no Host header\n")
        for name in ("Host", "Origin"):
            if len(headers.get_all(name)) > 1:
                return connection.respond(
                    HTTPStatus.BAD_REQUEST, f"bad request: more than one {name} header\n"
                )
        try:
            return self._answer(connection, request)
        except MultipleValuesError as exc:  # any other header read as one value, sent twice
            name = exc.args[0] if exc.args else "such"
            return connection.respond(
                HTTPStatus.BAD_REQUEST, f"bad request: more than one {name} header\n"
            )

    def _answer(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        web = web_response(self.web_files, request, path)
        if web is not None:
            return web
        if path == "/healthz":
            body = (json.dumps(self.health()) + "\n").encode()
            return _figures(connection, request, body, "application/json")
        if path == "/metrics" and self.metrics is not None:
            return _figures(connection, request, self.metrics(), METRICS_TYPE)
        if path != WS_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "not found; the chat is at /\n")
        origin = request.headers.get("Origin")
        if origin is not None and not origin_allowed(origin, self.own, self.allowed_origins):
            return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        if self.admitter is not None:
            refusal = self.admitter.admit(connection)
            if refusal is Refusal.WAIT:
                return connection.respond(HTTPStatus.TOO_MANY_REQUESTS, refusal.value)
            if refusal is Refusal.BUSY:
                response = connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, refusal.value)
                response.headers["Retry-After"] = str(self.admitter.busy_wait())
                return response
            if refusal is not None:
                return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, refusal.value)
        return None
