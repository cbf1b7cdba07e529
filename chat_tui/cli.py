"""The ``chat-tui`` command: connect (the TUI), and send, edit, delete, react, history, tail,
members, login, logout, block and unblock for scripts.

A thin shell: ``send`` runs the blocking one-shot path (``scripting/oneshot.py``, no
asyncio), ``history`` and ``tail`` run ChatClient (``scripting/reading.py``), as do ``edit``,
``delete`` and ``react`` (defined in ``cli_changes.py``), ``connect`` the Textual app; each is
imported only when its command runs, so a cron job's ``chat-tui send`` starts about as fast as
Python does.

Exit codes: 0 ok, 2 usage (or a damaged credentials file), 3 cannot connect, 4 auth failed,
5 rejected by the server. The option decorators, credentials and error handling every command
shares are in ``cli_shared.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from chat_server.cli_help import show_envvars
from chat_tui import __version__
from chat_tui.cli_changes import delete, edit, react
from chat_tui.cli_members import members
from chat_tui.cli_shared import (
    Fail,
    ask_password,
    auth_options,
    client_errors,
    client_failure,
    env_password,
    invite_option,
    make_client,
    pick_credentials,
    room_name,
    room_names,
    room_or_to,
    run_command,
    server_url,
    stdout_guard,
    text_argument,
    url_option,
)
from chat_tui.client import credentials
from chat_tui.client.errors import AuthError, ClientError, ConnectError

if TYPE_CHECKING:
    from chat_server import protocol as p
    from chat_tui.client.client import ChatClient

MAX_ID = 64


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""\b
Exit codes: 0 done, 2 usage (or an unreadable credentials file),
3 cannot connect (or no ack within --timeout), 4 authentication failed or not logged in,
5 rejected by the server (its code is said).""",
)
@click.version_option(__version__, prog_name="chat-tui")
def main() -> None:
    """Terminal client for chat-server: a full-screen chat, and commands for scripts."""


# --- send ---------------------------------------------------------------------------------


@main.command(short_help="Post a message to a room or a person; exits 0 once acked.")
@url_option
@auth_options
@click.option(
    "--room", callback=room_name, default=None, help="Room to post to (joined if needed)."
)
@click.option("--to", default=None, help="Nick to send a direct message to.")
@click.option("--id", "msg_id", default=None, help="Idempotency key: a retry stores nothing new.")
@click.option(
    "--reply-to", type=click.IntRange(min=1), default=None, help="Answer the message SEQ."
)
@click.option("--lines", is_flag=True, help="Send each line of MESSAGE as its own message.")
@click.option(
    "--create", is_flag=True, help="Make the room if there is none of that name (else exit 5)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the acks as JSON lines.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the acks.")
@click.argument("message")
def send(
    url: str,
    token: str | None,
    nick: str | None,
    room: str | None,
    to: str | None,
    msg_id: str | None,
    reply_to: int | None,
    lines: bool,
    create: bool,
    as_json: bool,
    timeout: float,
    message: str,
) -> None:
    """Post MESSAGE to a room or a person; `-` reads it from stdin. Exits 0 once acked.

    \b
    Examples:
      chat-tui send --room ops "deploy finished"
      df -h | chat-tui send --room ops -
      tail -n 20 app.log | chat-tui send --room ops --lines -
      chat-tui send --to alice --id nightly-2026-11-26 "backup done"
      chat-tui send --room ops --reply-to 41 "on it"
      chat-tui send --room release-42 --create "the release room is open"
    """
    room_or_to(room, to)
    from_stdin = message == "-"
    text = text_argument(message)
    if lines:
        bodies = [line for line in text.splitlines() if line.strip()]
    else:
        body = text.removesuffix("\n")
        bodies = [body] if body.strip() else []
    if not bodies:
        raise click.UsageError(
            "nothing to send: stdin was empty" if from_stdin else "the message is empty"
        )
    from chat_tui.client.ids import new_id
    from chat_tui.scripting import oneshot

    # Without --id, one key for this run: its lines are KEY-1, KEY-2, ..., so the retry that a
    # timeout's message spells out (the same KEY) stores nothing twice.
    key = msg_id or new_id()
    ids = [key] if len(bodies) == 1 else [f"{key}-{n}" for n in range(1, len(bodies) + 1)]
    if not 1 <= len(ids[-1]) <= MAX_ID:
        raise click.UsageError(f"--id must leave room for the line number (at most {MAX_ID})")
    server = server_url(None, url)
    login = oneshot.Login(*pick_credentials(server, token, nick))
    items = [oneshot.Outgoing(body, item_id) for body, item_id in zip(bodies, ids, strict=True)]
    target = oneshot.Target(room, to, reply_to=reply_to, create=create)
    try:
        acks = oneshot.send_all(server, login, target, items, timeout)
    except ClientError as exc:
        raise client_failure(exc) from None
    except oneshot.Deadline:
        acked = sum(item.ack is not None for item in items)
        message = (
            f"no ack within {timeout:g} s from {server} ({acked} of {len(items)} acked): "
            f"the same command with --id {key} stores nothing twice"
        )
        raise Fail(message, ConnectError.exit_code) from None
    finally:
        if login.created:  # a typo in --nick is a new account: never without a word
            click.echo(f"Created the account {nick} (a new nick: was it a typo?)", err=True)
    if as_json:
        for ack in acks:
            click.echo(json.dumps(ack, separators=(",", ":")))


# --- history ------------------------------------------------------------------------------


@main.command(short_help="Print a room's latest messages, or a page before SEQ.")
@url_option
@auth_options
@click.option(
    "--room", callback=room_name, required=True, help="Room (or dm:a:b conversation) to read."
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--before", default=None, type=click.IntRange(min=1), help="Only messages before SEQ."
)
@click.option(
    "--thread", default=None, type=click.IntRange(min=1), help="The thread of the message SEQ."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def history(
    url: str,
    token: str | None,
    nick: str | None,
    room: str,
    limit: int,
    before: int | None,
    thread: int | None,
    as_json: bool,
) -> None:
    """Print a room's latest messages (or the LIMIT before SEQ), oldest first, as they are
    now: edited ones marked (edited), deleted ones as "message deleted", replies with ↳
    and what they answer, reactions on the line below.

    \b
    Examples:
      chat-tui history --room general --limit 20
      chat-tui history --room general --before 1200 --json | jq -r .body
      chat-tui history --room general --thread 41
    """
    if thread is not None and before is not None:
        raise click.UsageError("give at most one of --before and --thread")
    from chat_tui.scripting import reading

    client = make_client(url, token, nick, reconnect=False)
    log = run_command(reading.history(client, room, limit, before, thread))
    messages = reading.newest(log, limit, thread)
    with stdout_guard():
        for line in reading.history_lines(log, messages, as_json):
            click.echo(line)


# --- tail ---------------------------------------------------------------------------------


@main.command(short_help="Follow a room: print its entries as they come.")
@url_option
@auth_options
@click.option(
    "--room",
    callback=room_name,
    required=True,
    help="Room to follow (a public one is joined if needed).",
)
@click.option("--since", default=None, type=click.IntRange(min=0), help="Start after SEQ.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option(
    "--cursor",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File holding the last printed seq: read at start (it wins over --since), "
    "rewritten after every line.",
)
def tail(
    url: str,
    token: str | None,
    nick: str | None,
    room: str,
    since: int | None,
    as_json: bool,
    cursor: Path | None,
) -> None:
    """Follow a room: print new messages as they come, reconnecting forever; edits,
    deletes and reactions as short lines ("alice edited #41: ..."), or with --json as objects
    whose "kind" says which ("message", "edit", "delete", "react").

    \b
    Examples:
      chat-tui tail --room alerts
      chat-tui tail --room alerts --json | jq -r 'select(.kind == "message") | .nick + ": " + .body'
      chat-tui tail --room alerts --json --cursor ~/.alerts.seq | ./handler
    """
    from chat_tui.scripting import reading
    from chat_tui.scripting.output import CursorError, read_cursor

    if cursor is not None:
        try:
            stored = read_cursor(cursor)
        except (CursorError, OSError) as exc:
            raise click.UsageError(str(exc)) from None
        if stored is not None:
            since = stored
    client = make_client(url, token, nick, reconnect=True)
    printer = reading.Printer(as_json, cursor)
    with stdout_guard():
        run_command(reading.until_signal(reading.tail(client, room, since, printer)))


main.add_command(edit)
main.add_command(delete)
main.add_command(react)
main.add_command(members)


# --- login / logout -----------------------------------------------------------------------


@main.command(short_help="Log in (or sign up) and store a session token.")
@click.argument("url_arg", metavar="[URL]", required=False)
@url_option
@click.option("--nick", envvar="CHAT_NICK", required=True, help="Your nick.")
@invite_option
def login(url_arg: str | None, url: str, nick: str, invite: str | None) -> None:
    """Log in (or sign up) and store a session token for the server at URL.

    The password comes from CHAT_PASSWORD or a hidden prompt. The token is kept in
    ~/.config/chat-tui/credentials.json (mode 0600) for the other commands.

    \b
    Example:
      chat-tui login ws://chat.example.org:8765/ws --nick alice
      chat-tui login ws://chat.example.org:8765/ws --nick dana --invite k3mzq8tbxh2wafnvc7ep
    """
    server = server_url(url_arg, url)
    with client_errors():  # a damaged file is said before the password is asked for
        credentials.load(server)
    password = env_password() or ask_password("Password")
    from chat_tui.client.client import ChatClient

    client = ChatClient(server, nick=nick, password=password, invite=invite, reconnect=False)
    welcome = run_command(_login(client))
    with client_errors():
        credentials.save_token(server, welcome.nick, welcome.token)
    if welcome.created:
        click.echo(f"Created the account {welcome.nick} on {server} (a new nick: check it).")
    else:
        click.echo(f"Logged in as {welcome.nick} on {server}.")
    click.echo(f"Token stored in {credentials.credentials_path()}.")


async def _login(client: ChatClient) -> p.Welcome:
    async with client:
        assert client.welcome is not None
        return client.welcome


@main.command(short_help="Revoke the stored token and forget it.")
@click.argument("url_arg", metavar="[URL]", required=False)
@url_option
@click.option("--token", envvar="CHAT_TOKEN", default=None, help="Token to revoke.")
@click.option(
    "--all", "everywhere", is_flag=True, help="Revoke every token of the account (everywhere)."
)
def logout(url_arg: str | None, url: str, token: str | None, everywhere: bool) -> None:
    """Revoke the stored token on the server at URL and forget it.

    \b
    Example:
      chat-tui logout ws://chat.example.org:8765/ws
      chat-tui logout --all        # every device and bot of the account
    """
    server = server_url(url_arg, url)
    with client_errors():
        token = token or credentials.load_token(server)
    if token is None:
        click.echo(f"Not logged in to {server}.")
        return
    from chat_tui.client.client import ChatClient

    try:
        run_command(_logout(ChatClient(server, token=token, reconnect=False), everywhere))
    except Fail as exc:
        if exc.exit_code != AuthError.exit_code:
            message = f"{exc.message} (the stored token is kept: try again)"
            raise Fail(message, exc.exit_code) from None
        click.echo("The server no longer knew the token.")
    with client_errors():
        credentials.remove_token(server)
    click.echo(f"Logged out of {server}{' everywhere' if everywhere else ''}.")


async def _logout(client: ChatClient, everywhere: bool) -> None:
    await client.connect()
    await client.logout(everywhere=everywhere)


@main.command(short_help="Change your password; your other sessions are logged out.")
@click.argument("url_arg", metavar="[URL]", required=False)
@url_option
@auth_options
def passwd(url_arg: str | None, url: str, token: str | None, nick: str | None) -> None:
    """Change your password on the server at URL; your other sessions are logged out.

    Asks for the old password (or CHAT_PASSWORD) and the new one twice. Logged in with
    the stored token unless --nick is given.

    \b
    Example:
      chat-tui passwd ws://chat.example.org:8765/ws
    """
    server = server_url(url_arg, url)
    if nick is None:
        with client_errors():
            token = token or credentials.load_token(server)
        if token is None:
            raise click.UsageError(f"not logged in to {server}: give --nick (or chat-tui login)")
    old = env_password() or ask_password("Old password")
    new = ask_password("New password", confirm=True)
    from chat_tui.client.client import ChatClient

    if nick is not None:  # a login with the old password
        client = ChatClient(server, nick=nick, password=old, reconnect=False)
    else:
        client = ChatClient(server, token=token, reconnect=False)
    run_command(_passwd(client, old, new))
    click.echo(f"Password changed on {server}; your other sessions are logged out.")


async def _passwd(client: ChatClient, old: str, new: str) -> None:
    async with client:
        await client.change_password(old, new)


# --- block / unblock ----------------------------------------------------------------------


@main.command(short_help="Refuse NICK's direct messages and hide your presence from them.")
@url_option
@auth_options
@click.argument("who", metavar="NICK")
def block(url: str, token: str | None, nick: str | None, who: str) -> None:
    """Refuse NICK's direct messages and hide from them when you are online.

    They can still read your old conversation with them and see you in public rooms.
    Blocking again does no harm; `chat-tui unblock NICK` undoes it.

    \b
    Example:
      chat-tui block mallory
    """
    client = make_client(url, token, nick, reconnect=False)
    spelled = run_command(_blocking(client, who, block=True))
    click.echo(f"Blocked {spelled}: they cannot message you or see when you are online.")


@main.command(short_help="Undo `chat-tui block NICK`.")
@url_option
@auth_options
@click.argument("who", metavar="NICK")
def unblock(url: str, token: str | None, nick: str | None, who: str) -> None:
    """Undo `chat-tui block NICK`.

    \b
    Example:
      chat-tui unblock mallory
    """
    client = make_client(url, token, nick, reconnect=False)
    spelled = run_command(_blocking(client, who, block=False))
    click.echo(f"Unblocked {spelled}.")


async def _blocking(client: ChatClient, who: str, *, block: bool) -> str:
    async with client:
        return await (client.block(who) if block else client.unblock(who))


# --- connect (the TUI) --------------------------------------------------------------------


@main.command(short_help="Open the full-screen chat.")
@click.argument("url_arg", metavar="[URL]", required=False)
@url_option
@auth_options
@click.option(
    "--room",
    "rooms",
    callback=room_names,
    multiple=True,
    help="Room to join at start (repeatable).",
)
@click.option("--no-bell", is_flag=True, help="Do not ring the terminal bell on mentions.")
@click.option(
    "--no-notify",
    is_flag=True,
    envvar="CHAT_NO_NOTIFY",
    help="No desktop notification through the terminal (OSC 777 / OSC 9).",
)
@click.option(
    "--notify-command",
    metavar="CMD",
    envvar="CHAT_NOTIFY_COMMAND",
    default=None,
    help="Run CMD (no shell) for each notification, the event as JSON on stdin.",
)
@click.option(
    "--highlight",
    "highlights",
    metavar="WORD",
    multiple=True,
    envvar="CHAT_HIGHLIGHT",
    help="Notify for messages with WORD too, as for your nick (repeatable).",
)
@invite_option
def connect(
    url_arg: str | None,
    url: str,
    token: str | None,
    nick: str | None,
    rooms: tuple[str, ...],
    no_bell: bool,
    no_notify: bool,
    notify_command: str | None,
    highlights: tuple[str, ...],
    invite: str | None,
) -> None:
    """Open the full-screen chat.

    While the terminal is not focused, a message that names you (or a --highlight WORD) or
    a direct message shows a desktop notification: through the terminal (OSC 777, or OSC 9
    on iTerm2, kitty and Windows Terminal; it works over SSH), and through --notify-command,
    which gets {"room", "nick", "body", "ts", "kind"} as JSON on stdin. One runs at a time
    (a notification that comes meanwhile is dropped) and for at most 5 seconds.

    \b
    Examples:
      chat-tui connect
      chat-tui connect ws://chat.example.org:8765/ws --nick alice --room general --room ops
      chat-tui connect ws://chat.example.org:8765/ws --nick dana --invite k3mzq8tbxh2wafnvc7ep
      chat-tui connect --highlight deploy --highlight outage
      chat-tui connect --notify-command "sh -c 'jq -j .body | xargs -0 notify-send chat'"
    """
    from chat_tui.tui.app import run  # Textual is imported only here
    from chat_tui.tui.notifications import NotifyCommandError, NotifySettings, parse_command

    try:
        command = None if notify_command is None else parse_command(notify_command)
    except NotifyCommandError as exc:
        raise click.UsageError(str(exc)) from None
    settings = NotifySettings(not no_notify, command, highlights)

    server = server_url(url_arg, url)
    with client_errors():  # a damaged credentials file: one line before the app starts
        code = run(
            server,
            nick=nick,
            rooms=list(rooms),
            token=token,
            password=env_password(),
            bell=not no_bell,
            invite=invite,
            notify=settings,
        )
    sys.exit(code)


show_envvars(main)  # last: every command is added by now
