"""The connection caps (chat_server/admission.py) applied to real sockets.

Every accepted socket is counted in ``connection_made``, before websockets has read a byte
of it: one over the per-address before-``hello`` cap (or over the socket ceiling, with no
silent socket to displace) is closed at once, so silent TCP connections cost a descriptor
for no longer than it takes to refuse them, and the others for ``--handshake-timeout``
at most. A websocket handshake over a cap is answered HTTP 503 (chat_server/http.py asks
:meth:`Doorman.admit`); ``/healthz`` is answered without counting. A ``hello`` over the
per-user cap is refused by chat_server/login.py. Each socket leaves every count in
``connection_lost``, however it ends. An address that keeps coming back before the wait its
refused ``hello`` was told is over has its sockets closed at accept (chat_server/penalties.py).
"""

from __future__ import annotations

import asyncio
import logging
import time

from websockets.asyncio.server import ServerConnection

from chat_server.addresses import ProxiedConnection, TrustedProxies, client_address, peer_ip
from chat_server.admission import Admission, Caps, Pace, Refusal
from chat_server.framing import abort
from chat_server.penalties import Penalties
from chat_server.ratelimit import Cooldown

log = logging.getLogger("chat_server")

# A cap reached under attack would log a line per refused socket: one a minute per cap.
WARN_INTERVAL = 60.0


class Doorman:
    """Counts a server's connections and turns away those over a cap."""

    def __init__(self, caps: Caps, trusted: TrustedProxies, strikes: int = 0) -> None:
        self.caps = caps
        self.trusted = trusted
        self.admission: Admission[ServerConnection] = Admission(caps)
        self.penalties = Penalties(strikes)
        self.shut = 0  # sockets closed at accept for coming back too soon
        self.pace = Pace()
        self.busy = 0  # handshakes refused because too many connections were logging in
        self._warned = Cooldown(WARN_INTERVAL)

    def connection_class(self) -> type[ServerConnection]:
        """The class ``serve(create_connection=...)`` makes each accepted socket's
        connection of: it reports to this doorman when the socket opens and closes."""
        doorman = self

        class CountedConnection(ProxiedConnection):
            trusted_proxies = doorman.trusted

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                doorman.accepted(self)

            def connection_lost(self, exc: Exception | None) -> None:
                super().connection_lost(exc)
                doorman.admission.release(self)

        return CountedConnection

    def accepted(self, ws: ServerConnection) -> None:
        """A socket was accepted: count it, or close it at once."""
        # behind a trusted proxy the client is named by the request, not the peer
        address = None if self.trusted.trusts(peer_ip(ws)) else client_address(ws)
        if address is not None and self.penalties.shut(address, time.monotonic()):
            self.shut += 1
            abort(ws)
            self._warn(
                "early",
                "%s keeps coming back before its wait is over: closing its sockets at once",
                address,
            )
            return
        verdict = self.admission.accept(ws, address)
        if verdict.evicted is not None:
            abort(verdict.evicted)
            self._warn(
                "silent",
                "%d sockets open: each new one closes the oldest that has sent nothing",
                self.caps.sockets,
            )
        if verdict.admitted:
            return
        abort(ws)
        if address is not None and self.admission.pending(address) >= self.caps.pending_per_address:
            self._warn(
                "pending",
                "%s holds %d connections that have not logged in"
                " (--max-pending-per-address); closing more at once",
                address,
                self.caps.pending_per_address,
            )
        else:
            self._warn(
                "sockets",
                "%d sockets open, none of them silent: closing new ones at once",
                self.caps.sockets,
            )

    def spoke(self, ws: ServerConnection) -> None:
        """The socket sent an HTTP request (any path): it is no longer silent."""
        self.admission.spoke(ws)

    def told_to_wait(self, ws: ServerConnection, wait: float) -> None:
        """A ``hello`` on ``ws`` was refused with ``retry_after`` ``wait``."""
        self.penalties.told(client_address(ws), wait, time.monotonic())

    def admit(self, ws: ServerConnection) -> Refusal | None:
        """A websocket handshake: None to let it proceed, or why it gets HTTP 503."""
        address = client_address(ws)
        if self.trusted.trusts(peer_ip(ws)) and self.penalties.shut(address, time.monotonic()):
            self.shut += 1  # behind a proxy: the address is known from the request only
            return Refusal.WAIT
        refusal = self.admission.handshake(ws, address)
        if refusal is Refusal.FULL:
            self._warn(
                "full", "%d connections (--max-connections): refusing new ones", self.caps.total
            )
        elif refusal is Refusal.ADDRESS:
            self._warn(
                "address",
                "%s holds %d connections (--max-connections-per-address): refusing new ones",
                address,
                self.caps.per_address,
            )
        elif refusal is Refusal.BUSY:
            self.busy += 1
            self._warn(
                "busy",
                "%d connections logging in (--max-logging-in): refusing new ones with a"
                " Retry-After that paces them",
                self.caps.logging_in,
            )
        elif refusal is Refusal.PENDING:
            self._warn(
                "pending",
                "%s holds %d connections that have not logged in (--max-pending-per-address)",
                address,
                self.caps.pending_per_address,
            )
        return refusal

    def logged_in(self, ws: ServerConnection, user_id: int) -> bool:
        """A ``hello`` succeeded: False when the user is at ``--max-connections-per-user``."""
        if not self.admission.logged_in(ws, user_id):
            return False
        self.pace.logged_in(time.monotonic())
        return True

    def busy_wait(self) -> int:
        """The ``Retry-After`` seconds for a handshake just refused ``BUSY``."""
        return self.pace.refused(time.monotonic())

    def _warn(self, cap: str, message: str, *args: object) -> None:
        if self._warned.allow(cap, time.monotonic()):
            log.warning("connection cap reached: " + message, *args)
