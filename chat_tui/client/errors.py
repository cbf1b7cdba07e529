"""The exception tree of chat_tui.

    ClientError             base of everything this package raises on purpose
    ├── ConnectError        the server cannot be reached (exit code 3)
    ├── AuthError           the server refused the credentials: ``auth_failed`` (exit code 4)
    │   └── InviteNeeded    a new nick, refused ``forbidden``: signing up needs an invite code
    ├── ServerError         the server answered a request with an ``error`` frame (exit code 5)
    │   └── RateLimited     ``rate_limited``: ask again after ``retry_after`` seconds (exit code 5)
    │       └── Busy        a websocket handshake refused for now (HTTP 503/429, ``Retry-After``)
    └── ClosedError         the client was closed (or logged out) before the request finished

Errors become ``click.ClickException`` (one line, the right exit code) only in the command
line (``cli_shared.py``, for ``cli.py``'s commands).
"""

from __future__ import annotations

import math

from websockets.exceptions import InvalidStatus

from chat_server import protocol as p


class ClientError(Exception):
    """Base class of every error chat_tui raises on purpose."""

    exit_code = 1


class ConnectError(ClientError):
    """The server could not be reached, or the connection could not be set up."""

    exit_code = 3


class AuthError(ClientError):
    """The server refused the token or the nick and password."""

    exit_code = 4


class InviteNeeded(AuthError):
    """The nick is free, but the server signs up only with a valid invite code: none was
    given, or the one given is unknown, used up, expired or revoked (the server's message
    says which)."""


class ServerError(ClientError):
    """The server rejected a request; ``code`` is the wire error code, ``retry_after`` (seconds)
    says when a ``rate_limited`` request may be made again."""

    exit_code = 5

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after


class RateLimited(ServerError):
    """The server refused for now (too many attempts, or busy); its text says how long to wait:
    ``Too many attempts; try again in 42 s``."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__("rate_limited", message)
        self.retry_after = retry_after

    def __str__(self) -> str:
        text = self.message.strip().rstrip(".") or "too many attempts"
        return f"{text[0].upper()}{text[1:]}; try again {_in(self.retry_after)}"


def _in(seconds: float | None) -> str:
    if seconds is None:
        return "later"
    whole = max(1, math.ceil(seconds))
    return f"in {whole} s" if whole < 120 else f"in {math.ceil(whole / 60)} min"


def refusal(code: str, message: str, retry_after: float | None = None) -> ClientError:
    """The error for an ``error`` frame answering a ``hello``."""
    if code == "auth_failed":
        return AuthError(message)
    if code == "forbidden":  # the only refusal of a hello that names no limit
        return InviteNeeded(message)
    if code == "rate_limited":
        return RateLimited(message, retry_after)
    return ServerError(code, message)


class Busy(RateLimited):
    """The server refused the websocket handshake for now and said when to come back."""


def handshake_refusal(exc: BaseException) -> Busy | None:
    """A websocket handshake the server refused for now, saying when to come back (HTTP 503 or
    429 with a ``Retry-After`` in seconds: a server busy logging a crowd in, an address told
    to wait); None for any other failure. The page's own text is not shown: behind a proxy it
    may be anything (an HTML error page)."""
    if not isinstance(exc, InvalidStatus) or exc.response.status_code not in (429, 503):
        return None
    try:
        seconds = float(exc.response.headers.get("Retry-After", ""))
    except ValueError:  # absent, or an HTTP date (never chat-server's)
        return None
    if not 0 <= seconds <= RETRY_AFTER_MAX:
        return None
    if exc.response.status_code == 503:
        return Busy("the server is busy logging others in", seconds)
    return Busy("the server asked this address to wait", seconds)


# A Retry-After longer than this is not taken as a time to come back (a day, a typo): the
# same hour as a stopping server's 1001.
RETRY_AFTER_MAX = p.GOING_AWAY_MAX


class ClosedError(ClientError):
    """The client was closed before the request could finish."""
