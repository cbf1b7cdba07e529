"""The exception tree of chat_server.

    ChatError                 base of everything this package raises on purpose
    ├── ProtocolError         a client's frame or request cannot be served; carries a
    │   │                     wire error code (``bad_request``, ``not_member``, ...) and
    │   │                     becomes an ``error`` frame in the handler
    │   └── TooManyConnections  a ``hello`` over ``--max-connections-per-user``: its
    │                         ``rate_limited`` frame is followed by close 1013
    ├── Busy                  the server cannot take the request now (the password-hash
    │                         queue is full): ``rate_limited`` with ``retry_after``
    └── StoreError            the storage backend failed (disk full, read-only, gone)
        ├── Conflict          a name or key that must be unique is taken (a nick)
        ├── NotMember         the user is not a member of the room written to
        ├── NotFound          what the operation names does not exist
        ├── Forbidden         the user may not do this to what it names (edit someone
        │                     else's message)
        ├── Inapplicable      the operation makes no sense where it is aimed (a room
        │                     command in a direct conversation): ``bad_request``
        ├── OverLimit         the write would pass a per-user limit (rooms joined, rooms
        │                     created in the last hour); ``retry_after`` when waiting helps
        └── TooCostly         a read ran past its deadline (a search over too much):
                              ``too_large``

A store raises only StoreError and its subclasses, never a driver's exception nor a
ProtocolError: ``chat_server/session.py`` maps them to wire error codes in one place.
Errors become ``error`` frames only there and ``click.ClickException`` only in the ``cli*.py``
modules.
"""

from __future__ import annotations


class ChatError(Exception):
    """Base class of every error chat_server raises on purpose."""


class ProtocolError(ChatError):
    """A request the server refuses, with the wire error code to report."""

    def __init__(
        self, code: str, message: str, ref: str | None = None, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
        self.retry_after = retry_after  # seconds, for ``rate_limited``


class Busy(ChatError):
    """No room for the request now; asking again after ``retry_after`` seconds may work."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"busy: retry after {retry_after:.1f} s")
        self.retry_after = retry_after


class TooManyConnections(ProtocolError):
    """The user already holds as many connections as the server allows one user."""


class StoreError(ChatError):
    """The storage backend could not complete an operation."""


class Conflict(StoreError):
    """A value that must be unique is taken (a nick, a room name)."""


class NotMember(StoreError):
    """The user is not a member of the room the operation writes to."""


class NotFound(StoreError):
    """What the operation names (a user, a room, a message) does not exist."""


class Forbidden(StoreError):
    """The user may not do this to what the operation names (someone else's message)."""


class Inapplicable(StoreError):
    """The operation does not apply to what it names (a room command in a ``dm:`` room)."""


class OverLimit(StoreError):
    """The write would pass a per-user limit kept in the database.

    ``retry_after`` (seconds) says when the same write may succeed (a rate over a window);
    None when only another change helps (a cap: leave a room first).
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooCostly(StoreError):
    """A read ran past the time it was given and was stopped (a search that matches too
    much of a big database); nothing was changed."""


_STORE_CODES: dict[type[ChatError], str] = {
    NotMember: "not_member",
    NotFound: "not_found",
    Forbidden: "forbidden",
    Conflict: "conflict",
    Inapplicable: "bad_request",
    TooCostly: "too_large",
}


def wire_error(exc: ChatError, ref: str | None = None) -> ProtocolError:
    """The error frame a refused or failed request gets: the one place store errors
    become wire error codes. A backend failure is ``internal``, its details left to the
    log."""
    if isinstance(exc, ProtocolError):
        return exc
    if isinstance(exc, Busy):
        return ProtocolError("rate_limited", "the server is busy", ref, retry_after=exc.retry_after)
    if isinstance(exc, OverLimit):
        # a cap is a size limit of the user's room list: waiting does not help, leaving does
        if exc.retry_after is None:
            return ProtocolError("too_large", str(exc), ref)
        return ProtocolError("rate_limited", str(exc), ref, retry_after=exc.retry_after)
    code = _STORE_CODES.get(type(exc))
    if code is None:
        return ProtocolError("internal", "storage unavailable", ref)
    return ProtocolError(code, str(exc), ref)
