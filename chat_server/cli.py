"""The ``chat-server`` command: serve, users, tokens, backup. A thin shell over the library."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from chat_server import __version__
from chat_server.addresses import TrustedProxies
from chat_server.auth import Passwords, new_token, token_hash
from chat_server.config import (
    LOGIN_FAILURES,
    NICK_FAILURES,
    SIGNUP_RATE,
    Settings,
    default_db_path,
)
from chat_server.errors import ChatError
from chat_server.logs import install_repeat_filter
from chat_server.protocol import is_valid_nick
from chat_server.ratelimit import Allowance
from chat_server.runtime import run as _run
from chat_server.store import Store, User, create_store, is_postgres_url
from chat_server.store.sqlite.backup import backup as sqlite_backup

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="CHAT_SERVER_DB",
        default=None,
        help="SQLite database file [env CHAT_SERVER_DB; default: chat.db in the user data dir].",
    )(func)


def _db_path(db: Path | None) -> Path:
    return db if db is not None else default_db_path()


def database_url_option(func: F) -> F:
    return click.option(
        "--database-url",
        envvar="CHAT_SERVER_DATABASE_URL",
        help="sqlite:///PATH (the long form of --db) or postgresql://USER@HOST/DB"
        " [env CHAT_SERVER_DATABASE_URL].",
    )(func)


def _database(db: Path | None, database_url: str | None) -> tuple[Path, str | None]:
    """The SQLite path, and the PostgreSQL URL when the database is PostgreSQL."""
    if not database_url:
        return _db_path(db), None
    if db is not None:
        raise click.UsageError("--db and --database-url name the database twice; give one")
    if database_url.startswith("sqlite:///"):
        return Path(database_url.removeprefix("sqlite://")), None
    if is_postgres_url(database_url):
        return _db_path(None), database_url
    raise click.BadParameter(
        "use sqlite:///PATH or postgresql://USER@HOST/DB", param_hint="--database-url"
    )


# a rate limit's refill (per second) and its burst or count
_RATE = click.FloatRange(min=0, min_open=True)
_BURST = click.IntRange(min=1)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(_ctx: Any, _param: Any, value: str | None) -> float | None:
    """``90``, ``15m``, ``12h``, ``30d``: seconds, or None for no expiry."""
    if value is None:
        return None
    match = _DURATION.fullmatch(value.strip().lower())
    if not match or float(match[1]) <= 0:
        raise click.BadParameter("use a number of seconds or e.g. 15m, 12h, 30d")
    return float(match[1]) * _UNITS[match[2]]


def parse_allowance(_ctx: Any, _param: Any, value: str) -> Allowance:
    """``5/h``, ``10/15m``: N per PERIOD, all at once if need be."""
    try:
        return Allowance.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chat-server")
def main() -> None:
    """A lightweight websocket chat server.

    Example: chat-server serve --port 8765
    """


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="CHAT_SERVER_HOST")
@click.option("--port", default=8765, show_default=True, type=int, envvar="CHAT_SERVER_PORT")
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
    "--no-signup", is_flag=True, envvar="CHAT_SERVER_NO_SIGNUP", help="Only existing accounts."
)
@click.option(
    "--token-ttl",
    callback=parse_duration,
    envvar="CHAT_SERVER_TOKEN_TTL",
    help="Session tokens expire after this long (e.g. 30d); default never.",
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
@click.option(
    "--login-failures",
    callback=parse_allowance,
    metavar="N/PERIOD",
    default=str(LOGIN_FAILURES),
    show_default=True,
    envvar="CHAT_SERVER_LOGIN_FAILURES",
    help="Failed password logins allowed per client address (N/PERIOD); past it the"
    " address is refused (rate_limited) until one is forgiven.",
)
@click.option(
    "--nick-failures",
    callback=parse_allowance,
    metavar="N/PERIOD",
    default=str(NICK_FAILURES),
    show_default=True,
    envvar="CHAT_SERVER_NICK_FAILURES",
    help="Failed logins of one nick (N/PERIOD) after which only addresses without a"
    " failure in PERIOD may try it.",
)
@click.option(
    "--signup-rate",
    callback=parse_allowance,
    metavar="N/PERIOD",
    default=str(SIGNUP_RATE),
    show_default=True,
    envvar="CHAT_SERVER_SIGNUP_RATE",
    help="New accounts allowed per client address (N/PERIOD).",
)
@click.option(
    "--hash-concurrency",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    envvar="CHAT_SERVER_HASH_CONCURRENCY",
    help="Password hashes (argon2, ~64 MiB each) computed at once.",
)
@click.option(
    "--hash-queue",
    type=click.IntRange(min=0),
    default=32,
    show_default=True,
    envvar="CHAT_SERVER_HASH_QUEUE",
    help="Logins waiting for a password hash (logins before signups); past it: rate_limited.",
)
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
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
    envvar="CHAT_SERVER_LOG_LEVEL",
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
    no_signup: bool,
    token_ttl: float | None,
    synchronous: str,
    compression: str,
    rate: float,
    burst: int,
    read_rate: float,
    read_burst: int,
    search_rate: float,
    search_burst: int,
    room_create_rate: int,
    max_rooms_per_user: int,
    max_buffer: int,
    max_pending_output: int,
    ping_interval: float,
    ping_timeout: float,
    login_failures: Allowance,
    nick_failures: Allowance,
    signup_rate: Allowance,
    hash_concurrency: int,
    hash_queue: int,
    max_connections: int,
    max_connections_per_address: int,
    max_pending_per_address: int,
    max_connections_per_user: int,
    handshake_timeout: float,
    hello_timeout: float,
    trusted_proxies: tuple[str, ...],
    log_level: str,
) -> None:
    """Run the chat server until SIGTERM or Ctrl-C.

    Example: chat-server serve --host 0.0.0.0 --port 8765 --db /var/lib/chat/chat.db
    """
    from chat_server.server import StartupError, serve_forever

    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("websockets").setLevel(logging.WARNING)
    repeats = [install_repeat_filter(handler) for handler in logging.getLogger().handlers]
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise click.BadParameter("use redis://HOST:PORT/DB", param_hint="--redis-url")
    db_path, postgres_url = _database(db, database_url)
    if public_url is not None and not re.fullmatch(r"(https?|wss?)://[^/\s]+/?", public_url):
        raise click.BadParameter("use https://HOST[:PORT]", param_hint="--public-url")
    if (certfile is None) != (keyfile is None):
        raise click.UsageError("--certfile and --keyfile go together")
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
        signup=not no_signup,
        token_ttl=token_ttl,
        compression=None if compression == "none" else compression,
        rate_per_second=rate,
        rate_burst=burst,
        read_rate=read_rate,
        read_burst=read_burst,
        search_rate=search_rate,
        search_burst=search_burst,
        room_create_rate=room_create_rate,
        max_rooms_per_user=max_rooms_per_user,
        max_buffer=max_buffer,
        max_pending_output=max_pending_output,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        login_failures=login_failures,
        nick_failures=nick_failures,
        signup_rate=signup_rate,
        hash_concurrency=hash_concurrency,
        hash_queue=hash_queue,
        max_connections=max_connections,
        max_connections_per_address=max_connections_per_address,
        max_pending_per_address=max_pending_per_address,
        max_connections_per_user=max_connections_per_user,
        handshake_timeout=handshake_timeout,
        hello_timeout=hello_timeout,
        trusted_proxies=trusted_proxies,
    )

    def ready(url: str) -> None:
        click.echo(f"listening on {url}")
        # the same address over http(s): where a person points a browser
        page = "http" + url.removeprefix("ws").removesuffix("ws")
        click.echo(f"browser client at {page}")
        sys.stdout.flush()

    try:
        _run(serve_forever(settings, ready))
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        for repeat in repeats:
            repeat.flush()


async def _with_store(
    db: Path | None,
    database_url: str | None,
    action: Callable[[Store], Awaitable[T]],
    *,
    create: bool = False,
) -> T:
    path, postgres_url = _database(db, database_url)
    if postgres_url is None and not create and not path.exists():
        raise click.ClickException(f"no database at {path} (start the server once, or use --db)")
    try:
        store = create_store(Settings(db_path=path, database_url=postgres_url))
        await store.open()
    except ChatError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        return await action(store)
    finally:
        await store.close()


async def _existing_user(store: Store, nick: str) -> User:
    user = await store.user_by_nick(nick)
    if user is None or user.removed:
        raise click.ClickException(f"no user {nick}")
    return user


def _check_nick(_ctx: Any, _param: Any, value: str) -> str:
    if not is_valid_nick(value):
        raise click.BadParameter("nicks are 1-32 of A-Z, a-z, 0-9, _ and -")
    return value


@main.group()
def users() -> None:
    """Manage accounts."""


@users.command("add")
@click.argument("nick", callback=_check_nick)
@db_option
@database_url_option
@click.password_option(envvar="CHAT_PASSWORD", help="The password [env CHAT_PASSWORD].")
def users_add(nick: str, db: Path | None, database_url: str | None, password: str) -> None:
    """Create an account (and the database, before the server's first start).

    Example: chat-server users add alice
    """

    async def action(store: Store) -> None:
        if await store.user_by_nick(nick) is not None:
            raise click.ClickException(f"the nick {nick} is taken")
        await store.create_user(nick, await Passwords().hash(password))

    _run(_with_store(db, database_url, action, create=True))
    click.echo(f"created {nick}")


@users.command("list")
@db_option
@database_url_option
def users_list(db: Path | None, database_url: str | None) -> None:
    """List accounts.

    Example: chat-server users list
    """

    async def action(store: Store) -> list[User]:
        return await store.list_users()

    for user in _run(_with_store(db, database_url, action)):
        click.echo(f"{user.nick}\t{'removed' if user.removed else 'active'}")


@users.command("remove")
@click.argument("nick")
@db_option
@database_url_option
def users_remove(nick: str, db: Path | None, database_url: str | None) -> None:
    """Remove an account: its tokens stop working, its nick stays reserved.

    Example: chat-server users remove mallory
    """

    async def action(store: Store) -> None:
        user = await _existing_user(store, nick)
        await store.remove_user(user.id)

    _run(_with_store(db, database_url, action))
    click.echo(f"removed {nick}")


@main.group()
def tokens() -> None:
    """Manage access tokens (for bots and scripts)."""


@tokens.command("create")
@click.argument("nick")
@db_option
@database_url_option
@click.option("--ttl", callback=parse_duration, help="Expire after this long (e.g. 90d).")
def tokens_create(nick: str, db: Path | None, database_url: str | None, ttl: float | None) -> None:
    """Print a new token for NICK (for a bot: CHAT_TOKEN=... chat-tui send ...).

    Example: chat-server tokens create deploy-bot
    """

    async def action(store: Store) -> str:
        user = await _existing_user(store, nick)
        token = new_token()
        await store.add_token(user.id, token_hash(token), time.time() + ttl if ttl else None)
        return token

    click.echo(_run(_with_store(db, database_url, action)))


@tokens.command("revoke")
@click.argument("nick")
@db_option
@database_url_option
def tokens_revoke(nick: str, db: Path | None, database_url: str | None) -> None:
    """Revoke every token of NICK; a running server closes their connections.

    Example: chat-server tokens revoke deploy-bot
    """

    async def action(store: Store) -> int:
        user = await _existing_user(store, nick)
        return await store.revoke_user_tokens(user.id)

    count = _run(_with_store(db, database_url, action))
    click.echo(f"revoked {count} token(s) of {nick}")


@main.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@db_option
def backup_command(path: Path, db: Path | None) -> None:
    """Copy the live database to PATH (SQLite online backup; safe while serving).

    Example: chat-server backup /var/backups/chat-$(date +%F).db
    """
    try:
        sqlite_backup(_db_path(db), path)
    except ChatError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up to {path}")


@main.group("db")
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("migrate")
@db_option
@database_url_option
def db_migrate(db: Path | None, database_url: str | None) -> None:
    """Bring the database schema up to date (the server also does it when it starts).

    Example: chat-server db migrate --database-url postgresql://chat@db.example/chat
    """
    db_path, postgres_url = _database(db, database_url)

    async def action() -> None:
        try:
            store = create_store(Settings(db_path=db_path, database_url=postgres_url))
            await store.open()
        except ChatError as exc:
            raise click.ClickException(str(exc)) from None
        await store.close()

    _run(action())
    where = str(db_path)
    if postgres_url is not None:
        from chat_server.store.postgres.store import redact

        where = redact(postgres_url)
    click.echo(f"the schema of {where} is up to date")
