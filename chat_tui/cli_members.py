"""``chat-tui members``: every member of a room, a page of ``members`` at a time.

Registered on the ``chat-tui`` group by ``cli.py``; ChatClient is imported only when it runs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from chat_tui.cli_shared import (
    auth_options,
    make_client,
    room_name,
    run_command,
    stdout_guard,
    url_option,
)

if TYPE_CHECKING:
    from chat_tui.client.client import ChatClient


@click.command(short_help="Print every member of a room, online or not.")
@url_option
@auth_options
@click.option(
    "--room", callback=room_name, required=True, help="A room (or dm:a:b) you are a member of."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def members(url: str, token: str | None, nick: str | None, room: str, as_json: bool) -> None:
    """Print every member of ROOM by nick (case-insensitively), one per line, the online
    ones marked; however big the room, page after page. Only a member of a room may list
    it (this does not join it for you).

    \b
    Examples:
      chat-tui members --room general
      chat-tui members --room general --json | jq -r 'select(.online) | .nick'
    """
    client = make_client(url, token, nick, reconnect=False)
    listed = run_command(_every_member(client, room))
    with stdout_guard():
        for who, online in listed:
            if as_json:
                click.echo(json.dumps({"nick": who, "online": online}, separators=(",", ":")))
            else:
                click.echo(f"{who}  (online)" if online else who)


async def _every_member(client: ChatClient, room: str) -> list[tuple[str, bool]]:
    async with client:
        return [member async for member in client.all_members(room)]
