"""What every ``chat-tui`` command shares: option decorators, credentials and exit codes.

A client error becomes one line on stderr and the exit code that says what went wrong:
0 ok, 2 usage (or a credentials file that cannot be read or written), 3 cannot connect,
4 auth failed, 5 rejected by the server.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import click

from chat_tui.client import credentials
from chat_tui.client.credentials import DEFAULT_URL
from chat_tui.client.errors import (
    AuthError,
    ClientError,
    ConnectError,
    InviteNeeded,
    RateLimited,
    ServerError,
)

if TYPE_CHECKING:
    from chat_tui.client.client import ChatClient

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class Fail(click.ClickException):
    """A runtime error: one line on stderr and the exit code that says what went wrong."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        # click declares exit_code on the class; this error's code is per instance
        vars(self)["exit_code"] = exit_code


def client_failure(exc: ClientError) -> Fail:
    if isinstance(exc, RateLimited):  # "Too many attempts; try again in 42 s"
        return Fail(str(exc), exc.exit_code)
    if isinstance(exc, ServerError):
        return Fail(f"rejected by the server: {exc.code}: {exc.message}", exc.exit_code)
    if isinstance(exc, InviteNeeded):
        return Fail(f"sign-up refused: {exc} (chat-tui login --invite CODE)", exc.exit_code)
    if isinstance(exc, AuthError):
        return Fail(f"authentication failed: {exc}", exc.exit_code)
    return Fail(str(exc), exc.exit_code)


def run_command(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; client errors become one line and their exit code."""
    import asyncio

    with client_errors():
        return asyncio.run(coro)


@contextlib.contextmanager
def client_errors() -> Iterator[None]:
    """Client errors raised in the block become one line and their exit code: the server's
    address, the credentials file, a command's coroutine."""
    try:
        yield
    except ClientError as exc:
        raise client_failure(exc) from None


def url_option(func: F) -> F:
    return click.option(
        "--url",
        envvar="CHAT_URL",
        default=DEFAULT_URL,
        show_default=True,
        help="Server websocket URL (host:port works too).",
    )(func)


def room_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--room '#ops'`` is ``ops``, as the TUI and IRC write it (a click callback)."""
    return None if value is None else value.removeprefix("#")


def room_names(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    """:func:`room_name` for a repeatable ``--room``."""
    return tuple(room.removeprefix("#") for room in value)


def auth_options(func: F) -> F:
    func = click.option(
        "--token",
        envvar="CHAT_TOKEN",
        default=None,
        help="Session or bot token (default: the one `login` stored).",
    )(func)
    return click.option(
        "--nick",
        envvar="CHAT_NICK",
        default=None,
        help="Log in with this nick and the password in CHAT_PASSWORD.",
    )(func)


def invite_option(func: F) -> F:
    return click.option(
        "--invite",
        metavar="CODE",
        default=None,
        help="An invite code (from the server's admin), to sign up a new nick on a server"
        " that needs one; an existing account ignores it.",
    )(func)


def env_password() -> str | None:
    return os.environ.get("CHAT_PASSWORD") or None


def ask_password(prompt: str, *, confirm: bool = False) -> str:
    """A hidden prompt; without a terminal to ask on, a usage error (exit 2) that says so.

    The first password a command needs can come from CHAT_PASSWORD instead; a new one
    (``passwd``, ``confirm``) only from a person at a terminal.
    """
    if not sys.stdin.isatty():
        instead = "" if confirm else ": set CHAT_PASSWORD"
        raise click.UsageError(f"no terminal to ask for the {prompt.lower()} on{instead}")
    answer: str = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return answer


Credentials = tuple[str | None, str | None, str | None]  # token, nick, password


def pick_credentials(url: str, token: str | None, nick: str | None) -> Credentials:
    """The best credentials at hand: --token, then --nick with CHAT_PASSWORD, then the token
    `chat-tui login` stored for this server."""
    if token:
        return token, None, None
    password = env_password()
    if nick and password:
        return None, nick, password
    with client_errors():  # a damaged file: one line, exit 2
        stored = credentials.load(url)
    if stored is not None:
        return stored[1], None, None
    unreachable = _unreachable(url)
    if unreachable is not None:  # a typo in the address, not a missing login
        raise Fail(f"cannot connect to {url}: {unreachable}", ConnectError.exit_code)
    raise Fail(
        f"not logged in to {url}: run `chat-tui login {url} --nick NICK`, "
        "or set CHAT_TOKEN (or --nick with CHAT_PASSWORD)",
        AuthError.exit_code,
    )


def _unreachable(url: str, timeout: float = 3.0) -> str | None:
    """Why nothing answers at ``url``'s host and port, or None when something does."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    return None


def make_client(url: str, token: str | None, nick: str | None, **kwargs: Any) -> ChatClient:
    from chat_tui.client.client import ChatClient

    url = server_url(None, url)
    token, nick, password = pick_credentials(url, token, nick)
    return ChatClient(url, token=token, nick=nick, password=password, **kwargs)


def text_argument(text: str) -> str:
    """A message's TEXT argument, or all of stdin for ``-`` (newlines as in text mode).

    Bytes that are not UTF-8 (in stdin, or in an argument, which Python keeps as lone
    surrogates) are a usage error, said at once: sent, the server would refuse them on
    every retry until the timeout.
    """
    if text != "-":
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise click.UsageError("the message is not valid UTF-8") from None
        return text
    data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise click.UsageError("stdin is not valid UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def room_or_to(room: str | None, to: str | None) -> None:
    if (room is None) == (to is None):
        raise click.UsageError("give exactly one of --room and --to")


@contextlib.contextmanager
def stdout_guard() -> Iterator[None]:
    """A closed stdout (``| head``) ends the command quietly with 0, like cat does."""
    try:
        yield
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)


def server_url(url_arg: str | None, url: str) -> str:
    """The server's canonical URL; an address that cannot be one is exit 3, in one line."""
    with client_errors():
        return credentials.normalize_url(url_arg or url)
