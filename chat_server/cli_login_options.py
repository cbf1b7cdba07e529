"""The ``serve`` options that limit logins: failed logins, signups, password hashing, and
clients that come back before they were told to (``chat_server/attempts.py``,
``slots.py``, ``penalties.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from chat_server.cli_options import parse_allowance
from chat_server.config import (
    BAD_FRAMES,
    LOGIN_FAILURES,
    NICK_FAILURES,
    PASSWORD_TRIES,
    SIGNUP_RATE,
)

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    click.option(
        "--login-failures",
        callback=parse_allowance,
        metavar="N/PERIOD",
        default=str(LOGIN_FAILURES),
        show_default=True,
        envvar="CHAT_SERVER_LOGIN_FAILURES",
        help="Failed password logins allowed per client address (N/PERIOD); past it the"
        " address is refused (rate_limited) until one is forgiven.",
    ),
    click.option(
        "--nick-failures",
        callback=parse_allowance,
        metavar="N/PERIOD",
        default=str(NICK_FAILURES),
        show_default=True,
        envvar="CHAT_SERVER_NICK_FAILURES",
        help="Failed logins of one nick (N/PERIOD) after which only addresses without a"
        " failure in PERIOD may try it.",
    ),
    click.option(
        "--signup-rate",
        callback=parse_allowance,
        metavar="N/PERIOD",
        default=str(SIGNUP_RATE),
        show_default=True,
        envvar="CHAT_SERVER_SIGNUP_RATE",
        help="New accounts allowed per client address (N/PERIOD).",
    ),
    click.option(
        "--password-tries",
        callback=parse_allowance,
        metavar="N/PERIOD",
        default=str(PASSWORD_TRIES),
        show_default=True,
        envvar="CHAT_SERVER_PASSWORD_TRIES",
        help="Old-password checks of a password change per user (N/PERIOD), all of the user's"
        " connections together; past it: rate_limited.",
    ),
    click.option(
        "--bad-frames",
        callback=parse_allowance,
        metavar="N/PERIOD",
        default=str(BAD_FRAMES),
        show_default=True,
        envvar="CHAT_SERVER_BAD_FRAMES",
        help="Errors (rate_limited aside) a connection may earn (N/PERIOD) before it is"
        " closed (1008).",
    ),
    click.option(
        "--hash-concurrency",
        type=click.IntRange(min=1),
        default=2,
        show_default=True,
        envvar="CHAT_SERVER_HASH_CONCURRENCY",
        help="Password hashes (argon2, ~64 MiB each) computed at once.",
    ),
    click.option(
        "--hashes-per-address",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        envvar="CHAT_SERVER_HASHES_PER_ADDRESS",
        help="Password checks (logins and signups) in progress at once from one address;"
        " another is refused with rate_limited and retry_after 1 s.",
    ),
    click.option(
        "--max-early-returns",
        type=click.IntRange(min=0),
        default=10,
        show_default=True,
        envvar="CHAT_SERVER_MAX_EARLY_RETURNS",
        help="Connections an address may open before the retry_after its refused hello was"
        " told is over; past it, its sockets are closed at accept until then (60 s at most)."
        " 0: never.",
    ),
    click.option(
        "--hash-queue",
        type=click.IntRange(min=0),
        default=32,
        show_default=True,
        envvar="CHAT_SERVER_HASH_QUEUE",
        help="Logins waiting for a password hash (logins before signups); past it: rate_limited.",
    ),
)


def login_limit_options(func: F) -> F:
    """Add the login-limit options to a command, in the order ``--help`` lists them."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func
