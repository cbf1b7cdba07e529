"""The ``chat-server serve`` command: every server setting as a flag and an environment variable."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import click

from chat_server.addresses import TrustedProxies
from chat_server.cli_login_options import login_limit_options
from chat_server.cli_options import (
    database_name,
    database_url_option,
    db_option,
    parse_duration,
    resolve_database,
)
from chat_server.config import SIGNUP_MODES, Settings, Signup
from chat_server.logs import LOG_FORMATS, LogFormat
from chat_server.logs import configure as configure_logging
from chat_server.ratelimit import Allowance
from chat_server.runtime import run as _run

# a rate limit's refill (per second) and its burst or count
_RATE = click.FloatRange(min=0, min_open=True)
_BURST = click.IntRange(min=1)


def check_networks(_ctx: Any, _param: Any, values: tuple[str, ...]) -> tuple[str, ...]:
    """``--trusted-proxy``: CIDR networks or addresses (space-separated in the environment)."""
    networks = tuple(n for value in values for n in value.split())
    try:
        TrustedProxies(networks)
    except ValueError as exc:
        raise click.BadParameter(
            f"{exc} (use a CIDR network such as 10.0.0.0/8, or an address)"
        ) from None
    return networks


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="CHAT_SERVER_HOST",
    help="The address to listen on: 0.0.0.0 (or ::) for every interface, which people on the"
    " network can reach.",
)
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    envvar="CHAT_SERVER_PORT",
    help="The TCP port of the websocket (/ws) and the browser client (/); 0 picks a free one.",
)
@db_option
@database_url_option
@click.option(
    "--redis-url",
    envvar="CHAT_SERVER_REDIS_URL",
    help="redis://HOST:PORT/DB: fan-out and presence across several servers.",
)
@click.option(
    "--redis-prefix",
    default="chat",
    show_default=True,
    envvar="CHAT_SERVER_REDIS_PREFIX",
    help="Prefix of the Redis channel and keys (one per chat sharing a Redis).",
)
@click.option(
    "--presence-ttl",
    type=click.FloatRange(min=0.5),
    default=30.0,
    show_default=True,
    envvar="CHAT_SERVER_PRESENCE_TTL",
    help="Seconds after which a dead server's users go offline (with --redis-url).",
)
@click.option(
    "--certfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="CHAT_SERVER_CERTFILE",
    help="TLS certificate (PEM): serve wss://.",
)
@click.option(
    "--keyfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="CHAT_SERVER_KEYFILE",
    help="TLS private key (PEM).",
)
@click.option(
    "--allow-origin",
    "allow_origins",
    multiple=True,
    envvar="CHAT_SERVER_ALLOW_ORIGIN",
    help="A browser origin allowed besides the server's own (repeatable).",
)
@click.option(
    "--public-url",
    envvar="CHAT_SERVER_PUBLIC_URL",
    default=None,
    help="The address people reach the server at (https://chat.example.com): browsers may"
    " connect from it; without it, from loopback names and the listen address only.",
)
@click.option(
    "--signup",
    type=click.Choice(SIGNUP_MODES),
    default=None,
    envvar="CHAT_SERVER_SIGNUP",
    help="Who may create an account by logging in: anyone (open, the default), holders of"
    " an invite code (invite: chat-server invites create), nobody (closed).",
)
@click.option(
    "--no-signup",
    is_flag=True,
    envvar="CHAT_SERVER_NO_SIGNUP",
    help="Only existing accounts (the same as --signup closed).",
)
@click.option(
    "--token-ttl",
    callback=parse_duration,
    envvar="CHAT_SERVER_TOKEN_TTL",
    help="Session tokens expire after this long (e.g. 30d); default never.",
)
@click.option(
    "--edit-window",
    callback=parse_duration,
    envvar="CHAT_SERVER_EDIT_WINDOW",
    help="How long after sending its author may edit a message (e.g. 15m); default always.",
)
@click.option(
    "--retention",
    callback=parse_duration,
    envvar="CHAT_SERVER_RETENTION",
    help="Erase messages and other entries this long after they were made (e.g. 90d);"
    " default keep forever. A room may say otherwise (chat-server rooms retention).",
)
@click.option(
    "--synchronous",
    type=click.Choice(["full", "normal"]),
    default="full",
    show_default=True,
    envvar="CHAT_SERVER_SYNCHRONOUS",
    help="full: an ack survives power loss; normal: faster, survives a process crash.",
)
@click.option(
    "--compression",
    type=click.Choice(["none", "deflate"]),
    default="none",
    show_default=True,
    envvar="CHAT_SERVER_COMPRESSION",
    help="permessage-deflate costs memory per connection and defeats encode-once fan-out.",
)
@click.option(
    "--rate",
    type=_RATE,
    default=20.0,
    show_default=True,
    envvar="CHAT_SERVER_RATE",
    help="Sends per second allowed per user (all of the user's connections together).",
)
@click.option(
    "--burst",
    type=_BURST,
    default=40,
    show_default=True,
    envvar="CHAT_SERVER_BURST",
    help="Sends allowed in a burst per user.",
)
@click.option(
    "--read-rate",
    type=_RATE,
    default=10.0,
    show_default=True,
    envvar="CHAT_SERVER_READ_RATE",
    help="history, search, rooms and join requests per second per connection.",
)
@click.option(
    "--read-burst",
    type=_BURST,
    default=200,
    show_default=True,
    envvar="CHAT_SERVER_READ_BURST",
    help="Read requests allowed in a burst per connection: a reconnect re-joins every room"
    " and asks a history page of each room far behind, at once.",
)
@click.option(
    "--read-bytes-rate",
    type=click.IntRange(min=64 * 1024),
    default=4 * 1024 * 1024,
    show_default=True,
    envvar="CHAT_SERVER_READ_BYTES_RATE",
    help="Bytes of history pages and search results per second per user, all their"
    " connections together; past the burst the next page is refused with rate_limited.",
)
@click.option(
    "--read-bytes-burst",
    type=click.IntRange(min=64 * 1024),
    default=16 * 1024 * 1024,
    show_default=True,
    envvar="CHAT_SERVER_READ_BYTES_BURST",
    help="Bytes of history pages and search results a user may have in a burst.",
)
@click.option(
    "--search-rate",
    type=_RATE,
    default=1.0,
    show_default=True,
    envvar="CHAT_SERVER_SEARCH_RATE",
    help="Searches per second per connection (besides the read budget).",
)
@click.option(
    "--search-burst",
    type=_BURST,
    default=10,
    show_default=True,
    envvar="CHAT_SERVER_SEARCH_BURST",
    help="Searches allowed in a burst per connection.",
)
@click.option(
    "--search-timeout",
    type=_RATE,
    default=2.0,
    show_default=True,
    envvar="CHAT_SERVER_SEARCH_TIMEOUT",
    help="Seconds a search may run in the database before it is stopped (too_large); one"
    " search at a time per user.",
)
@click.option(
    "--room-create-rate",
    type=_BURST,
    default=20,
    show_default=True,
    envvar="CHAT_SERVER_ROOM_CREATE_RATE",
    help="New rooms a user may create (by joining them) in any hour.",
)
@click.option(
    "--max-rooms-per-user",
    type=_BURST,
    default=100,
    show_default=True,
    envvar="CHAT_SERVER_MAX_ROOMS_PER_USER",
    help="Rooms a user may be a member of, direct conversations included.",
)
@click.option(
    "--max-blocks-per-user",
    type=_BURST,
    default=1000,
    show_default=True,
    envvar="CHAT_SERVER_MAX_BLOCKS_PER_USER",
    help="People a user may block (welcome lists them).",
)
@click.option(
    "--max-buffer",
    type=int,
    default=4 * 1024 * 1024,
    show_default=True,
    envvar="CHAT_SERVER_MAX_BUFFER",
    help="Bytes of unsent data after which a slow connection is closed (1013); a history"
    " page is cut to fit.",
)
@click.option(
    "--max-pending-output",
    type=click.IntRange(min=64 * 1024),
    default=64 * 1024 * 1024,
    show_default=True,
    envvar="CHAT_SERVER_MAX_PENDING_OUTPUT",
    help="Bytes of unsent data to all connections together past which big replies (history,"
    " search) are cut, then refused with rate_limited.",
)
@click.option(
    "--ping-interval",
    type=click.FloatRange(min=0.1),
    default=20.0,
    show_default=True,
    envvar="CHAT_SERVER_PING_INTERVAL",
    help="Seconds between keepalive pings to each connection.",
)
@click.option(
    "--ping-timeout",
    type=click.FloatRange(min=0.1),
    default=20.0,
    show_default=True,
    envvar="CHAT_SERVER_PING_TIMEOUT",
    help="A connection silent this long after a ping is dropped (1011), its user offline.",
)
@login_limit_options
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    envvar="CHAT_SERVER_MAX_CONNECTIONS",
    help="Websocket connections at once; lowered at start to fit the open-file limit.",
)
@click.option(
    "--max-connections-per-address",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    envvar="CHAT_SERVER_MAX_CONNECTIONS_PER_ADDRESS",
    help="Websocket connections from one client address (an office behind one NAT is one).",
)
@click.option(
    "--max-pending-per-address",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    envvar="CHAT_SERVER_MAX_PENDING_PER_ADDRESS",
    help="Connections from one address that have not logged in yet (silent sockets included).",
)
@click.option(
    "--max-logging-in",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    envvar="CHAT_SERVER_MAX_LOGGING_IN",
    help="Websocket connections logging in at once, from every address; past it a handshake"
    " is answered 503 with a Retry-After that paces the crowd (a restart's reconnects).",
)
@click.option(
    "--max-connections-per-user",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    envvar="CHAT_SERVER_MAX_CONNECTIONS_PER_USER",
    help="Connections one user may hold at once (devices, tabs, bots sharing the account).",
)
@click.option(
    "--handshake-timeout",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    envvar="CHAT_SERVER_HANDSHAKE_TIMEOUT",
    help="Seconds a new socket has to complete its TLS and websocket handshake.",
)
@click.option(
    "--hello-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    envvar="CHAT_SERVER_HELLO_TIMEOUT",
    help="Seconds a new websocket has to log in (hello) before it is closed (1008).",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    callback=check_networks,
    envvar="CHAT_SERVER_TRUSTED_PROXY",
    help="A reverse proxy (CIDR or address) whose X-Forwarded-For names the client (repeatable).",
)
@click.option(
    "--metrics",
    is_flag=True,
    envvar="CHAT_SERVER_METRICS",
    help="Answer GET /metrics (Prometheus text format) on the same port; anyone who reaches"
    " the port can read it, so keep /metrics behind the proxy.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
    envvar="CHAT_SERVER_LOG_LEVEL",
    help="The least severe log records written to stderr (never a password, token or body).",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    envvar="CHAT_SERVER_LOG_FORMAT",
    help="text: one line per record; json: one JSON object per line (ts, level, event, fields).",
)
def serve(
    host: str,
    port: int,
    db: Path | None,
    database_url: str | None,
    redis_url: str | None,
    redis_prefix: str,
    presence_ttl: float,
    certfile: Path | None,
    keyfile: Path | None,
    allow_origins: tuple[str, ...],
    public_url: str | None,
    signup: Signup | None,
    no_signup: bool,
    token_ttl: float | None,
    edit_window: float | None,
    retention: float | None,
    synchronous: str,
    compression: str,
    rate: float,
    burst: int,
    read_rate: float,
    read_burst: int,
    read_bytes_rate: int,
    read_bytes_burst: int,
    search_rate: float,
    search_burst: int,
    search_timeout: float,
    room_create_rate: int,
    max_rooms_per_user: int,
    max_blocks_per_user: int,
    max_buffer: int,
    max_pending_output: int,
    ping_interval: float,
    ping_timeout: float,
    login_failures: Allowance,
    nick_failures: Allowance,
    signup_rate: Allowance,
    password_tries: Allowance,
    bad_frames: Allowance,
    hash_concurrency: int,
    hashes_per_address: int,
    max_early_returns: int,
    hash_queue: int,
    max_connections: int,
    max_connections_per_address: int,
    max_pending_per_address: int,
    max_logging_in: int,
    max_connections_per_user: int,
    handshake_timeout: float,
    hello_timeout: float,
    trusted_proxies: tuple[str, ...],
    metrics: bool,
    log_level: str,
    log_format: LogFormat,
) -> None:
    """Run the chat server until SIGTERM or Ctrl-C.

    Example: chat-server serve --host 0.0.0.0 --port 8765 --db /var/lib/chat/chat.db
    """
    from chat_server.server import StartupError, serve_forever

    repeats = configure_logging(log_level, log_format)
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise click.BadParameter("use redis://HOST:PORT/DB", param_hint="--redis-url")
    db_path, postgres_url = resolve_database(db, database_url)
    if public_url is not None and not re.fullmatch(r"(https?|wss?)://[^/\s]+/?", public_url):
        raise click.BadParameter("use https://HOST[:PORT]", param_hint="--public-url")
    if (certfile is None) != (keyfile is None):
        raise click.UsageError("--certfile and --keyfile go together")
    if no_signup and signup not in (None, "closed"):
        raise click.UsageError(f"--no-signup and --signup {signup} disagree; give one")
    settings = Settings(
        host=host,
        port=port,
        db_path=db_path,
        database_url=postgres_url,
        redis_url=redis_url or None,
        redis_prefix=redis_prefix,
        presence_ttl=presence_ttl,
        synchronous=synchronous,
        certfile=certfile,
        keyfile=keyfile,
        allow_origins=tuple(o for value in allow_origins for o in value.split()),
        public_url=public_url,
        signup="closed" if no_signup else signup or "open",
        token_ttl=token_ttl,
        edit_window=edit_window,
        retention=retention,
        compression=None if compression == "none" else compression,
        rate_per_second=rate,
        rate_burst=burst,
        read_rate=read_rate,
        read_burst=read_burst,
        read_bytes_rate=read_bytes_rate,
        read_bytes_burst=read_bytes_burst,
        search_rate=search_rate,
        search_burst=search_burst,
        search_timeout=search_timeout,
        room_create_rate=room_create_rate,
        max_rooms_per_user=max_rooms_per_user,
        max_blocks_per_user=max_blocks_per_user,
        max_buffer=max_buffer,
        max_pending_output=max_pending_output,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        login_failures=login_failures,
        nick_failures=nick_failures,
        signup_rate=signup_rate,
        password_tries=password_tries,
        bad_frames=bad_frames,
        hash_concurrency=hash_concurrency,
        hashes_per_address=hashes_per_address,
        max_early_returns=max_early_returns,
        hash_queue=hash_queue,
        max_connections=max_connections,
        max_connections_per_address=max_connections_per_address,
        max_pending_per_address=max_pending_per_address,
        max_logging_in=max_logging_in,
        max_connections_per_user=max_connections_per_user,
        handshake_timeout=handshake_timeout,
        hello_timeout=hello_timeout,
        trusted_proxies=trusted_proxies,
        metrics=metrics,
    )

    where = database_name(db_path, postgres_url)

    def ready(url: str) -> None:
        click.echo(f"listening on {url}")
        # the same address over http(s): where a person points a browser
        page = "http" + url.removeprefix("ws").removesuffix("ws")
        click.echo(f"browser client at {page}")
        click.echo(f"database {where}")
        sys.stdout.flush()

    try:
        _run(serve_forever(settings, ready))
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        for repeat in repeats:
            repeat.flush()
