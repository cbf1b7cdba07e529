"""Login limits lenient enough for test servers.

Test servers sign up hundreds of users at once and try wrong passwords, all from 127.0.0.1;
production limits would refuse them (``rate_limited``). The limits themselves are tested
with their own settings (tests/server/test_login_limits.py); a test that wants them sets
the flags again (the last one given wins).
"""

from __future__ import annotations

from typing import Any

LENIENT_LOGIN_FLAGS: tuple[str, ...] = (
    "--login-failures", "1000000/s",
    "--nick-failures", "1000000/s",
    "--signup-rate", "1000000/s",
    "--hash-queue", "100000",
    "--hashes-per-address", "100000",
    "--max-early-returns", "0",
)  # fmt: skip


def lenient_login_settings() -> dict[str, Any]:
    """The same as Settings fields, for servers started in-process."""
    # imported here: the black-box e2e helpers use the flags and never import chat_server
    from chat_server.ratelimit import Allowance

    plenty = Allowance(1_000_000, 1.0)
    return {
        "login_failures": plenty,
        "nick_failures": plenty,
        "signup_rate": plenty,
        "hash_queue": 100_000,
        "hashes_per_address": 100_000,
        "max_early_returns": 0,
    }
