"""The option decorators and value parsers that several ``chat-server`` commands share."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from chat_server.config import default_db_path
from chat_server.ratelimit import Allowance
from chat_server.store import is_postgres_url

F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="CHAT_SERVER_DB",
        default=None,
        help="SQLite database file (default: chat.db in the user data dir).",
    )(func)


def db_path_or_default(db: Path | None) -> Path:
    return db if db is not None else default_db_path()


def database_url_option(func: F) -> F:
    return click.option(
        "--database-url",
        envvar="CHAT_SERVER_DATABASE_URL",
        help="sqlite:///PATH (the long form of --db) or postgresql://USER@HOST/DB.",
    )(func)


def database_name(db_path: Path, postgres_url: str | None) -> str:
    """The database as a person may be shown it: the file, or the URL without its password."""
    if postgres_url is None:
        return str(db_path)
    from chat_server.store.postgres.store import redact

    return redact(postgres_url)


def resolve_database(db: Path | None, database_url: str | None) -> tuple[Path, str | None]:
    """The SQLite path, and the PostgreSQL URL when the database is PostgreSQL."""
    if not database_url:
        return db_path_or_default(db), None
    if db is not None:
        raise click.UsageError("--db and --database-url name the database twice; give one")
    if database_url.startswith("sqlite:///"):
        return Path(database_url.removeprefix("sqlite://")), None
    if is_postgres_url(database_url):
        return db_path_or_default(None), database_url
    raise click.BadParameter(
        "use sqlite:///PATH or postgresql://USER@HOST/DB", param_hint="--database-url"
    )


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


def database_options(func: F) -> F:
    """``--db`` and ``--database-url``: the database an administration command works on."""
    return db_option(database_url_option(func))
