"""The ``chat-server stats`` command: the database's figures, and a running server's
connections from its ``/healthz``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from chat_server.cli_options import database_name, database_options, resolve_database
from chat_server.cli_store import run_with_store, table
from chat_server.store.base import StoreFigures

DEFAULT_URL = "http://127.0.0.1:8765"
HEALTH_TIMEOUT = 3.0  # seconds; a server that takes longer is reported as not answering
HEALTH_MAX = 64 * 1024  # bytes of /healthz read at most


def health_url(url: str) -> str:
    """``/healthz`` of the server at ``url`` (http(s)://HOST:PORT, or the ws(s):// URL
    clients use); ValueError for anything else."""
    parts = urlsplit(url.strip())
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(url)
    return f"{scheme}://{parts.netloc}/healthz"


def read_health(url: str) -> dict[str, Any] | None:
    """The server's /healthz, or None when nothing answers it as a chat server does."""
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT) as reply:
            health = json.loads(reply.read(HEALTH_MAX))
    except (OSError, ValueError):  # refused, timed out, HTTP errors, not JSON
        return None
    return health if isinstance(health, dict) and "connections" in health else None


def size(n: int) -> str:
    """Bytes for people: 512 B, 1.5 kB, 12.3 MB, 4.0 GB."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def rows(figures: StoreFigures, where: str) -> list[tuple[str, str]]:
    return [
        ("users", f"{figures.users:,}"),
        ("rooms", f"{figures.rooms:,}"),
        ("direct conversations", f"{figures.conversations:,}"),
        ("messages", f"{figures.messages:,}"),
        ("database", f"{size(figures.size_bytes)} ({where})"),
    ]


@click.command()
@database_options
@click.option(
    "--url",
    default=DEFAULT_URL,
    show_default=True,
    envvar="CHAT_SERVER_STATS_URL",
    help="The running server to ask for its connections (its /healthz).",
)
def stats(db: Path | None, database_url: str | None, url: str) -> None:
    """Users, rooms, messages and the database's size; with a server running at --url,
    its connections too. Works whether or not a server runs.

    Example: chat-server stats --db /var/lib/chat/chat.db
    """
    try:
        healthz = health_url(url)
    except ValueError:
        message = "use http://HOST:PORT or ws://HOST:PORT/ws"
        raise click.BadParameter(message, param_hint="--url") from None
    figures = run_with_store(db, database_url, lambda store: store.figures())
    found = rows(figures, database_name(*resolve_database(db, database_url)))
    health = read_health(healthz)
    if health is None:
        click.echo(table(found))
        click.echo(f"no server answered at {healthz}")
        return
    connections = f"{health['connections']:,}"
    status = health.get("status")
    if status != "ok":
        connections += f" (server {status})"
    click.echo(table([*found, ("connections", connections)]))
