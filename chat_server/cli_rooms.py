"""The ``chat-server rooms`` commands: the rooms of the chat, how long one keeps its
messages, and erasing one."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from chat_server.cli_options import database_options, parse_duration
from chat_server.cli_store import run_with_store, table


def _minute(ts: str) -> str:
    """A wire time (``2026-12-03T10:45:00.123Z``) to the minute, for people."""
    return datetime.fromisoformat(ts).strftime("%Y-%m-%d %H:%M UTC")


@click.group()
def rooms() -> None:
    """The chat's rooms (direct conversations aside)."""


@rooms.command("list")
@database_options
def rooms_list(db: Path | None, database_url: str | None) -> None:
    """List every room: public or private, members, and when something last happened in it.

    Example: chat-server rooms list
    """
    found = run_with_store(db, database_url, lambda store: store.room_summaries())
    rows = [("ROOM", "KIND", "MEMBERS", "LAST ACTIVITY")]
    for room in found:
        kind = "private" if room.private else "public"
        rows.append((room.name, kind, str(room.members), _minute(room.last_activity)))
    click.echo(table(rows) if found else "no rooms")


@rooms.command("remove")
@click.argument("name")
@click.confirmation_option(prompt="Erase the room, its messages and its memberships for good?")
@database_options
def rooms_remove(name: str, db: Path | None, database_url: str | None) -> None:
    """Erase a room: its messages (as a delete erases them: text, edits, reactions, search
    words), members, bans and invitations; its name is free again. It works on the
    database: members connected to a running server keep the room on screen, where a send
    is refused (not_member), until their client reconnects and drops it.

    Example: chat-server rooms remove spam-2026 --yes
    """
    name = name.removeprefix("#")
    if not run_with_store(db, database_url, lambda store: store.remove_room(name)):
        raise click.ClickException(f"no room {name}")
    click.echo(f"removed #{name}")


def _retention(value: str) -> int | None:
    """``forever`` (0), ``default`` (None: the server's --retention), or a duration."""
    if value == "forever":
        return 0
    if value == "default":
        return None
    try:
        seconds = parse_duration(None, None, value)
    except click.BadParameter:
        raise click.BadParameter(
            "use e.g. 30d, 12h, forever or default", param_hint="LIMIT"
        ) from None
    assert seconds is not None
    return max(1, round(seconds))


@rooms.command("retention")
@click.argument("name")
@click.argument("limit", metavar="LIMIT")
@database_options
def rooms_retention(name: str, limit: str, db: Path | None, database_url: str | None) -> None:
    """How long a room keeps its messages: LIMIT is a duration (30d, 12h), forever, or
    default (what serve --retention says). Older entries are erased, as a delete erases
    them, by the running server within a minute; clients show where they were.

    Example: chat-server rooms retention general 30d
    """
    name = name.removeprefix("#")
    seconds = _retention(limit.strip().lower())
    if not run_with_store(db, database_url, lambda store: store.set_retention(name, seconds)):
        raise click.ClickException(f"no room {name}")
    said = {0: "forever", None: "as the server says (serve --retention)"}
    click.echo(f"#{name} keeps its messages {said.get(seconds, f'for {limit}')}")
