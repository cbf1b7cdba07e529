"""The ``chat-server`` command group, and its account, token and database commands."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TypeVar

import click

from chat_server import __version__
from chat_server.auth import Passwords, new_token, token_hash
from chat_server.cli_export import export
from chat_server.cli_help import show_envvars
from chat_server.cli_invites import invites
from chat_server.cli_options import (
    database_name,
    database_url_option,
    db_option,
    db_path_or_default,
    parse_duration,
    resolve_database,
)
from chat_server.cli_rooms import rooms
from chat_server.cli_serve import serve
from chat_server.cli_stats import stats
from chat_server.cli_store import with_store
from chat_server.config import Settings
from chat_server.errors import ChatError
from chat_server.protocol import is_valid_nick
from chat_server.runtime import run as _run
from chat_server.store import Store, User, create_store
from chat_server.store.sqlite.backup import backup as sqlite_backup

__all__ = ["main", "serve"]

T = TypeVar("T")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chat-server")
def main() -> None:
    """A lightweight websocket chat server.

    Example: chat-server serve --port 8765
    """


main.add_command(serve)
main.add_command(invites)
main.add_command(rooms)
main.add_command(stats)
main.add_command(export)


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
@click.password_option(
    envvar="CHAT_PASSWORD",
    help="The password; asked for when not given. On the command line it shows in `ps` and"
    " the shell's history: prefer the prompt or CHAT_PASSWORD.",
)
@click.option("--admin", is_flag=True, help="Make the account a server admin.")
def users_add(
    nick: str, db: Path | None, database_url: str | None, password: str, admin: bool
) -> None:
    """Create an account (and the database, before the server's first start).

    Example: chat-server users add alice
    """
    given = click.get_current_context().get_parameter_source("password")
    if given is click.core.ParameterSource.COMMANDLINE:
        click.echo(
            "warning: a password given with --password shows in ps and the shell's history;"
            " leave it out to be asked, or set CHAT_PASSWORD",
            err=True,
        )

    async def action(store: Store) -> None:
        if await store.user_by_nick(nick) is not None:
            raise click.ClickException(f"the nick {nick} is taken")
        user = await store.create_user(nick, await Passwords().hash(password))
        if admin:
            await store.set_admin(user.id, True)

    _run(with_store(db, database_url, action, create=True))
    click.echo(f"created {nick}{', a server admin' if admin else ''}")


@users.command("list")
@db_option
@database_url_option
def users_list(db: Path | None, database_url: str | None) -> None:
    """List accounts.

    Example: chat-server users list
    """

    async def action(store: Store) -> list[User]:
        return await store.list_users()

    for user in _run(with_store(db, database_url, action)):
        if user.removed:
            click.echo(f"{user.nick}\tremoved")
        else:
            click.echo(f"{user.nick}\tactive\tadmin" if user.admin else f"{user.nick}\tactive")


@users.command("admin")
@click.argument("nick")
@click.option("--revoke", is_flag=True, help="Take the admin rights away instead.")
@db_option
@database_url_option
def users_admin(nick: str, revoke: bool, db: Path | None, database_url: str | None) -> None:
    """Make an account a server admin (who may delete anyone's message in a room they are
    in), or with --revoke no longer one; a connected admin's next delete follows it.

    Example: chat-server users admin alice
    """

    async def action(store: Store) -> tuple[str, bool]:
        user = await _existing_user(store, nick)
        return user.nick, await store.set_admin(user.id, not revoke)

    name, changed = _run(with_store(db, database_url, action))
    if revoke:
        click.echo(f"{name} is no longer a server admin" if changed else f"{name} was no admin")
    else:
        click.echo(f"{name} is a server admin now" if changed else f"{name} was an admin already")


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

    _run(with_store(db, database_url, action))
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

    click.echo(_run(with_store(db, database_url, action)))


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

    count = _run(with_store(db, database_url, action))
    click.echo(f"revoked {count} token(s) of {nick}")


@main.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@db_option
def backup_command(path: Path, db: Path | None) -> None:
    """Copy the live database to PATH (SQLite online backup; safe while serving).

    Example: chat-server backup /var/backups/chat-$(date +%F).db
    """
    try:
        sqlite_backup(db_path_or_default(db), path)
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
    db_path, postgres_url = resolve_database(db, database_url)

    async def action() -> None:
        try:
            store = create_store(Settings(db_path=db_path, database_url=postgres_url))
            await store.open()
        except ChatError as exc:
            raise click.ClickException(str(exc)) from None
        await store.close()

    _run(action())
    click.echo(f"the schema of {database_name(db_path, postgres_url)} is up to date")


show_envvars(main)  # last: every command is added by now
