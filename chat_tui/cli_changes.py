"""``chat-tui edit``, ``delete`` and ``react``: change a message already sent (protocol 2).

Each is one acked request made through ChatClient's outbox, so a dropped connection is retried
with the same ``--id`` until ``--timeout``; ``--json`` prints the ack as ``send --json`` does.
Registered on the ``chat-tui`` group by ``cli.py``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import click

from chat_tui.cli_shared import (
    Fail,
    auth_options,
    make_client,
    room_name,
    run_command,
    text_argument,
    url_option,
)
from chat_tui.client.errors import ConnectError

if TYPE_CHECKING:
    from chat_server import protocol as p
    from chat_tui.client.client import ChatClient

Request = Callable[["ChatClient"], Awaitable["p.Ack"]]


def _common(func: Callable[..., None]) -> Callable[..., None]:
    """The options every change command takes, besides the URL and the credentials."""
    func = click.option(
        "--timeout", default=60.0, show_default=True, help="Seconds to wait for the ack."
    )(func)
    func = click.option("--json", "as_json", is_flag=True, help="Print the ack as JSON.")(func)
    func = click.option(
        "--id", "msg_id", default=None, help="Idempotency key: a retry changes nothing new."
    )(func)
    func = click.option("--room", callback=room_name, required=True, help="The message's room.")(
        func
    )
    return auth_options(url_option(func))


def _run(
    url: str,
    token: str | None,
    nick: str | None,
    request: Request,
    as_json: bool,
    timeout: float,
) -> None:
    from chat_tui.scripting import reading

    client = make_client(url, token, nick, reconnect=True)
    ack = run_command(reading.submit(client, request, timeout))
    if ack is None:
        message = (
            f"no ack within {timeout:g} s from {client.url} (a retry with the same --id is safe)"
        )
        raise Fail(message, ConnectError.exit_code)
    if as_json:
        record = {"id": ack.id, "room": ack.room, "seq": ack.seq, "ts": ack.ts}
        click.echo(json.dumps(record, separators=(",", ":")))


@click.command(short_help="Replace the text of your message SEQ.")
@_common
@click.argument("seq", type=click.IntRange(min=1))
@click.argument("text")
def edit(
    url: str,
    token: str | None,
    nick: str | None,
    room: str,
    msg_id: str | None,
    as_json: bool,
    timeout: float,
    seq: int,
    text: str,
) -> None:
    """Replace the text of your message SEQ with TEXT; `-` reads it from stdin.

    \b
    Examples:
      seq=$(chat-tui send --room ops --json "deploy 40%" | jq .seq)
      chat-tui edit --room ops "$seq" "deploy done"
      ./status.sh | chat-tui edit --room ops "$seq" -
    """
    body = text_argument(text)
    body = body.removesuffix("\n")
    if not body.strip():
        raise click.UsageError("the new text is empty (to remove a message: chat-tui delete)")
    _run(url, token, nick, lambda c: c.edit(room, seq, body, id=msg_id), as_json, timeout)


@click.command(short_help="Delete the message SEQ: its text is erased for everyone.")
@_common
@click.option("--reason", default=None, help="Why, for the room to see (one line).")
@click.argument("seq", type=click.IntRange(min=1))
def delete(
    url: str,
    token: str | None,
    nick: str | None,
    room: str,
    msg_id: str | None,
    as_json: bool,
    timeout: float,
    reason: str | None,
    seq: int,
) -> None:
    """Delete the message SEQ: its text is erased for everyone, for good.

    \b
    Example:
      chat-tui delete --room ops 41 --reason "wrong room"
    """
    _run(url, token, nick, lambda c: c.delete(room, seq, reason, id=msg_id), as_json, timeout)


@click.command(short_help="React to the message SEQ with EMOJI.")
@_common
@click.option("--remove", is_flag=True, help="Take your reaction back.")
@click.argument("seq", type=click.IntRange(min=1))
@click.argument("emoji")
def react(
    url: str,
    token: str | None,
    nick: str | None,
    room: str,
    msg_id: str | None,
    as_json: bool,
    timeout: float,
    remove: bool,
    seq: int,
    emoji: str,
) -> None:
    """React to the message SEQ with EMOJI (`--remove` takes it back).

    \b
    Examples:
      chat-tui react --room ops 41 👍
      chat-tui react --room ops 41 👍 --remove
    """
    _run(url, token, nick, lambda c: c.react(room, seq, emoji, remove, id=msg_id), as_json, timeout)
