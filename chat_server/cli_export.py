"""``chat-server export``: messages as they are now, as JSON lines, for archives, audits and
a person's own data."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import msgspec

from chat_server.cli_options import database_options
from chat_server.cli_store import run_with_store
from chat_server.protocol import MessageRecord
from chat_server.store import Store
from chat_server.store.base import ExportFilter
from chat_server.text import format_ts

# Messages read (and written out) at a time: the memory an export of any size needs.
EXPORT_PAGE = 500

_LINE = msgspec.json.Encoder()


def export_line(record: MessageRecord) -> bytes:
    """One message as a line: ``kind`` "message", then the protocol's message object."""
    return _LINE.encode({"kind": "message", **msgspec.to_builtins(record)}) + b"\n"


def _since(_ctx: object, _param: object, value: str | None) -> str | None:
    """A date (``2026-12-01``) or time (``2026-12-01T09:30``; UTC unless it says) as a wire
    time."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter("use a date such as 2026-12-01 or 2026-12-01T09:30") from None
    return format_ts(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


async def _export(store: Store, room: str | None, nick: str | None, since: str | None) -> int:
    user_id = None
    if nick is not None:
        user = await store.user_by_nick(nick)
        if user is None:
            raise click.ClickException(f"no user {nick}")
        user_id = user.id
    if room is not None and await store.room_by_name(room) is None:
        raise click.ClickException(f"no room {room}")
    which = ExportFilter(room=room, user_id=user_id, since=since)
    out = sys.stdout.buffer
    written, after = 0, 0
    while True:
        records, after = await store.export_page(which, after, EXPORT_PAGE)
        out.write(b"".join(export_line(record) for record in records))
        written += len(records)
        if after == 0:
            out.flush()
            return written


@click.command("export")
@click.option("--room", help="Only this room's messages (a dm:a:b conversation too).")
@click.option("--user", "nick", metavar="NICK", help="Only the messages NICK sent.")
@click.option(
    "--since", callback=_since, metavar="DATE", help="Only messages sent at DATE or later (UTC)."
)
@database_options
def export(
    room: str | None, nick: str | None, since: str | None, db: Path | None, database_url: str | None
) -> None:
    """Write messages to stdout as JSON lines, as they are now: the edited text, the
    reactions; deleted (and expired) ones left out. Every room, private ones and direct
    conversations included: it is an administrator's tool.

    Example: chat-server export --user alice --since 2026-01-01 > alice.jsonl
    """
    room = room.removeprefix("#") if room is not None else None
    run_with_store(db, database_url, lambda store: _export(store, room, nick, since))
