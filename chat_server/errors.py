"""The exception tree of chat_server.

    ChatError                 base of everything this package raises on purpose
    ├── ProtocolError         a client's frame or request cannot be served; carries a
    │                         wire error code (``bad_request``, ``not_member``, ...) and
    │                         becomes an ``error`` frame in the handler
    └── StoreError            the storage backend failed (disk full, read-only, gone)

Errors become ``error`` frames only in the connection handler and
``click.ClickException`` only in ``cli.py``.
"""

from __future__ import annotations


class ChatError(Exception):
    """Base class of every error chat_server raises on purpose."""


class ProtocolError(ChatError):
    """A request the server refuses, with the wire error code to report."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


class StoreError(ChatError):
    """The storage backend could not complete an operation."""
