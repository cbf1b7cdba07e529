"""Running the server: open storage, listen, serve until SIGTERM/SIGINT, shut down cleanly.

Once listening, :func:`start` applies the runtime policy (``runtime.quiet_gc``), so tests
that start a server in-process run what production runs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import signal
import ssl
from collections.abc import Callable

from websockets.asyncio.server import Server, serve

from chat_server import protocol as p
from chat_server.addresses import TrustedProxies
from chat_server.admission import HTTP_RESERVE, RESERVED_FDS, Caps, other_fds
from chat_server.broker import Broker, create_broker
from chat_server.config import Settings
from chat_server.context import Context
from chat_server.errors import ChatError
from chat_server.http import LOOPBACK_NAMES, WS_PATH, RequestGate, own_origins
from chat_server.presence import Presence
from chat_server.retention import Pruner
from chat_server.runtime import quiet_gc, raise_fd_limit
from chat_server.session import Connections
from chat_server.store import Store, create_store

log = logging.getLogger("chat_server")
# Connections the kernel may hold accepted-but-not-yet-taken (capped by net.core.somaxconn):
# asyncio's default of 100 overflows when thousands of clients come back at once after a
# restart, and each dropped SYN costs its client a retry a second or more later.
LISTEN_BACKLOG = 4096


class StartupError(ChatError):
    """The server cannot start (port taken, database unusable, bad TLS files)."""


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.certfile is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(settings.certfile, settings.keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(f"cannot load TLS certificate {settings.certfile}: {exc}") from exc
    return context


class Running:
    """A started server: its address, and how to stop it."""

    def __init__(
        self,
        ctx: Context,
        presence: Presence,
        connections: Connections,
        server: Server,
        url: str,
    ) -> None:
        self.ctx = ctx
        self.presence = presence
        self.connections = connections
        self.server = server
        self.store: Store = ctx.store
        self.url = url
        self.spread: Callable[[], float] = random.random  # a point of the return window
        settings = ctx.settings
        self.pruner = Pruner(
            ctx.store,
            settings.retention,
            interval=settings.retention_interval,
            pause=settings.retention_pause,
        )

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close every connection with 1001, let the writer finish, close storage.

        Each 1001 says when to come back (``retry_after=S``): a random point of the time
        logging them all in again takes at the measured login rate, so a restart's crowd
        returns at the pace the next server logs it in, not all in the first second."""
        self.server.server.close()  # no new sockets while the open ones are told
        self.connections.abandon_logins()  # nobody will get their welcome now
        connections = self.server.connections
        window = self.ctx.doorman.pace.window(len(connections))
        told = [
            ws.close(p.CLOSE_GOING_AWAY, p.going_away_reason(window * self.spread()))
            for ws in connections
        ]
        if told:
            await asyncio.wait([asyncio.ensure_future(close) for close in told])
        self.server.close(close_connections=True)
        await self.server.wait_closed()
        await self.pruner.close()
        await self.presence.close()
        await self.store.close()
        self.ctx.passwords.close()


FdLimits = tuple[int | None, int | None]  # (soft, hard) open-file limits; None: unlimited


def _connection_caps(settings: Settings) -> tuple[Caps, FdLimits]:
    """Raise the open-file limit and fit ``--max-connections`` under it."""
    try:
        TrustedProxies(settings.trusted_proxies)
    except ValueError as exc:
        raise StartupError(f"--trusted-proxy: {exc}") from exc
    soft, hard = raise_fd_limit()
    return Caps.of(settings, soft), (soft, hard)


def _log_caps(settings: Settings, caps: Caps, limits: FdLimits) -> None:
    """The figures, once at start (after listening: a failed start says one line only)."""
    soft, hard = ("unlimited" if n is None else str(n) for n in limits)
    if caps.total < settings.max_connections:
        log.warning(
            "--max-connections %d lowered to %d: the open-file limit is %s"
            " (%d kept for the database and logs, %d for /healthz and refusals);"
            " %d would allow them all (ulimit -n, or LimitNOFILE= in a systemd unit)",
            settings.max_connections,
            caps.total,
            soft,
            RESERVED_FDS + other_fds(settings),
            HTTP_RESERVE,
            settings.max_connections + RESERVED_FDS + other_fds(settings) + HTTP_RESERVE,
        )
    log.info(
        "open files: %s (hard limit %s); connections: %d, per address %d"
        " (%d before hello), per user %d; logging in at once %d",
        soft,
        hard,
        caps.total,
        caps.per_address,
        caps.pending_per_address,
        caps.per_user,
        caps.logging_in,
    )


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps the server to this machine."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def signup_warning(settings: Settings) -> str | None:
    """The one line ``serve`` logs when anyone who reaches it can make an account."""
    if settings.signup != "open" or is_loopback(settings.host):
        return None
    return (
        f"listening on {settings.host or 'every interface'} with open signup: anyone who"
        " reaches the port can make an account; use --signup invite (chat-server invites"
        " create) or --signup closed"
    )


async def start(settings: Settings) -> Running:
    """Open storage and listen; raises StartupError with one clear line."""
    context = _ssl_context(settings)
    caps, fd_limits = _connection_caps(settings)
    try:
        store = create_store(settings)
        await store.open()
    except ChatError as exc:
        raise StartupError(str(exc)) from exc
    try:
        broker: Broker = create_broker(settings)
    except ValueError as exc:  # a malformed --redis-url
        await store.close()
        raise StartupError(f"cannot use the Redis URL: {exc}") from exc
    ctx = Context(settings, store, broker, caps)
    if ctx.metrics.enabled:
        store.observe_batches(ctx.metrics.batch)
    presence = Presence(ctx)
    await presence.start()
    connections = Connections(ctx, presence)
    # websockets waits ping_timeout for a pong, then close_timeout for the closing handshake
    # with the peer it gives up on: half each, so a dead peer (a sleeping laptop, a lost NAT)
    # is dropped and goes offline within ping_interval + ping_timeout of its last pong.
    half_timeout = settings.ping_timeout / 2
    gate = RequestGate(
        settings.allow_origins,
        ctx.health,
        admitter=ctx.doorman,
        metrics=ctx.metrics.page if ctx.metrics.enabled else None,
    )
    try:
        server = await serve(
            connections.handle,
            settings.host,
            settings.port,
            process_request=gate,
            create_connection=ctx.doorman.connection_class(),
            # a socket that has not completed its handshake (TLS included) by then is closed
            open_timeout=settings.handshake_timeout,
            compression=settings.compression,
            max_size=p.MAX_FRAME,
            ping_interval=settings.ping_interval,
            ping_timeout=half_timeout,
            close_timeout=half_timeout,
            ssl=context,
            server_header=settings.server_name,
            backlog=LISTEN_BACKLOG,
        )
    except OSError as exc:
        await presence.close()
        await store.close()
        reason = exc.strerror or str(exc)
        raise StartupError(f"cannot listen on {settings.host}:{settings.port}: {reason}") from exc
    port = int(server.sockets[0].getsockname()[1])
    gate.own = own_origins(settings.public_url, settings.host, port)
    if settings.public_url is None and settings.host not in LOOPBACK_NAMES:
        log.warning(
            "listening on %s: browsers may connect from %s only; set --public-url to the"
            " address people use",
            settings.host,
            ", ".join(sorted(o for o in gate.own if o.startswith("http:"))),
        )
    warning = signup_warning(settings)
    if warning is not None:
        log.warning("%s", warning)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    scheme = "wss" if context else "ws"
    _log_caps(settings, caps, fd_limits)
    quiet_gc()
    running = Running(ctx, presence, connections, server, f"{scheme}://{host}:{port}{WS_PATH}")
    running.pruner.start()
    return running


async def serve_forever(settings: Settings, ready: Callable[[str], None]) -> None:
    """Run until SIGTERM or SIGINT; ``ready`` is called with the URL once listening."""
    running = await start(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    ready(running.url)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await running.stop()
