"""The ``chat-server invites`` commands: invite codes for ``serve --signup invite``."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from chat_server.auth import INVITE_PREFIX, new_invite_code, token_hash
from chat_server.cli_options import database_options, parse_duration
from chat_server.cli_store import run_with_store
from chat_server.protocol import is_valid_room
from chat_server.store import Store

# Where people open the browser client when no --public-url says otherwise: serve's defaults.
DEFAULT_PAGE = "http://127.0.0.1:8765"


def _expiry(ctx: Any, param: Any, value: str) -> float | None:
    """``--expires``: a duration (``7d``, ``12h``), or ``never``."""
    if value.strip().lower() == "never":
        return None
    return parse_duration(ctx, param, value)


def _rooms(_ctx: Any, _param: Any, values: tuple[str, ...]) -> tuple[str, ...]:
    for room in values:
        if room.startswith("dm:") or not is_valid_room(room):
            raise click.BadParameter(f"{room!r}: room names are 1-64 of a-z, 0-9, _ and -")
    return tuple(dict.fromkeys(values))


def _page(_ctx: Any, _param: Any, value: str | None) -> str:
    """The browser client's address, from ``--public-url`` (or serve's own defaults)."""
    if value is None:
        return DEFAULT_PAGE
    if not re.fullmatch(r"(https?|wss?)://[^/\s]+/?", value):
        raise click.BadParameter("use https://HOST[:PORT]")
    # a ws(s):// address names the same server as http(s)://
    return "http" + value.removeprefix("ws").removeprefix("http").rstrip("/")


def invite_link(page: str, code: str) -> str:
    """The link that opens the browser client's signup form with ``code`` filled in."""
    return f"{page}/#invite={code}"


def _when(expires_at: float | None, now: float) -> str:
    if expires_at is None:
        return "never"
    moment = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{moment} (expired)" if expires_at <= now else moment


@click.group()
def invites() -> None:
    """Invite codes: with serve --signup invite, only they create accounts."""


@invites.command("create")
@click.option(
    "--uses",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Accounts the code may create.",
)
@click.option(
    "--expires",
    "expires",
    default="7d",
    show_default=True,
    callback=_expiry,
    help="How long the code works (e.g. 12h, 30d), or never.",
)
@click.option(
    "--room",
    "rooms",
    multiple=True,
    callback=_rooms,
    help="A room the new account joins (repeatable; created when missing).",
)
@click.option(
    "--public-url",
    envvar="CHAT_SERVER_PUBLIC_URL",
    default=None,
    callback=_page,
    help="The address people reach the server at, for the link"
    f" [env CHAT_SERVER_PUBLIC_URL, as serve; default {DEFAULT_PAGE}].",
)
@database_options
def invites_create(
    uses: int,
    expires: float | None,
    rooms: tuple[str, ...],
    public_url: str,
    db: Path | None,
    database_url: str | None,
) -> None:
    """Print a new invite code, then the browser link that signs up with it.

    Example: chat-server invites create --uses 5 --expires 7d --room general
    """
    code = new_invite_code()
    expires_at = None if expires is None else time.time() + expires

    async def action(store: Store) -> None:
        await store.add_invite_code(token_hash(code), code[:INVITE_PREFIX], uses, expires_at, rooms)

    run_with_store(db, database_url, action, create=True)
    click.echo(code)
    click.echo(invite_link(public_url, code))
    joins = f"; joins {' '.join('#' + r for r in rooms)}" if rooms else ""
    uses_text = "1 account" if uses == 1 else f"{uses} accounts"
    click.echo(f"creates {uses_text}; expires {_when(expires_at, time.time())}{joins}", err=True)


@invites.command("list")
@database_options
def invites_list(db: Path | None, database_url: str | None) -> None:
    """List the invite codes (by their first characters), their uses, expiry and rooms.

    Example: chat-server invites list
    """
    found = run_with_store(db, database_url, lambda store: store.invite_codes())
    now = time.time()
    rows = [("CODE", "USED", "EXPIRES", "ROOMS")]
    for invite in found:
        code = invite.prefix + "..."
        used = f"{invite.used}/{invite.uses}"
        rooms = " ".join("#" + r for r in invite.rooms) or "-"
        rows.append((code, used, _when(invite.expires_at, now), rooms))
    click.echo(table(rows) if found else "no invite codes")


@invites.command("revoke")
@click.argument("code")
@database_options
def invites_revoke(code: str, db: Path | None, database_url: str | None) -> None:
    """Revoke an invite code (the whole code, or the first characters `list` shows).

    Example: chat-server invites revoke k3mzq8
    """
    wanted = code.strip().removesuffix("...")

    async def action(store: Store) -> str:
        digest = token_hash(wanted)
        matches = [
            i for i in await store.invite_codes() if i.prefix == wanted or i.code_hash == digest
        ]
        if not matches:
            raise click.ClickException(f"no invite code {wanted}")
        if len(matches) > 1:
            raise click.ClickException(f"{wanted} starts several codes: give the whole code")
        await store.revoke_invite_code(matches[0].code_hash)
        return matches[0].prefix

    prefix = run_with_store(db, database_url, action)
    click.echo(f"revoked {prefix}...")


def table(rows: Sequence[Sequence[str]]) -> str:
    """Rows as columns padded to their widest cell (the last one left ragged)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )
