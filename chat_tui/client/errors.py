"""The exception tree of chat_tui.

    ClientError             base of everything this package raises on purpose
    ├── ConnectError        the server cannot be reached (exit code 3)
    ├── AuthError           the server refused the credentials: ``auth_failed`` (exit code 4)
    ├── ServerError         the server answered a request with an ``error`` frame (exit code 5)
    └── ClosedError         the client was closed (or logged out) before the request finished

Errors become ``click.ClickException`` (one line, the right exit code) only in ``cli.py``.
"""

from __future__ import annotations


class ClientError(Exception):
    """Base class of every error chat_tui raises on purpose."""

    exit_code = 1


class ConnectError(ClientError):
    """The server could not be reached, or the connection could not be set up."""

    exit_code = 3


class AuthError(ClientError):
    """The server refused the token or the nick and password."""

    exit_code = 4


class ServerError(ClientError):
    """The server rejected a request; ``code`` is the wire error code, ``retry_after`` (seconds)
    says when a ``rate_limited`` request may be made again."""

    exit_code = 5

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after


class ClosedError(ClientError):
    """The client was closed before the request could finish."""
