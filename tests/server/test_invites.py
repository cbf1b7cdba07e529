"""Signup by invite code against a real server, on SQLite and PostgreSQL: who gets an account
under ``--signup open|invite|closed``, what a refused newcomer and a bystander see, and a
wrong code counted as a failed login."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect

from chat_server.auth import token_hash
from chat_server.config import Settings
from chat_server.ratelimit import Allowance
from chat_server.server import is_loopback, signup_warning
from tests.conftest import ChatServerUnderTest, ServerFactory
from tests.raw import Frame, recv
from tests.server.each_store import STORES, on_store

TIMEOUT = 10.0
CODE = "k3mzq8abcdefghjkmnpq"


@pytest.fixture(params=STORES)
async def server(
    request: pytest.FixtureRequest, make_server: ServerFactory
) -> AsyncIterator[ChatServerUnderTest]:
    async with on_store(request, make_server, signup="invite") as running:
        yield running


async def invite(
    server: ChatServerUnderTest, code: str = CODE, uses: int = 1, *rooms: str, ttl: float = 3600
) -> None:
    await server.running.store.add_invite_code(
        token_hash(code), code[:6], uses, time.time() + ttl, rooms
    )


async def hello(server: ChatServerUnderTest, source: str = "127.0.0.1", **fields: Any) -> Frame:
    """A hello's reply; for a refusal, with the close code the server sent after it."""
    async with connect(server.url, local_addr=(source, 0)) as ws:
        await ws.send(json.dumps({"type": "hello", "password": "pw-12345", **fields}))
        frame = await recv(ws, TIMEOUT)
        if frame["type"] != "welcome":
            async with asyncio.timeout(TIMEOUT):
                await ws.wait_closed()
            frame["closed"] = ws.close_code
        return frame


async def test_a_newcomer_needs_a_valid_code_and_an_existing_user_does_not(
    server: ChatServerUnderTest,
) -> None:
    await invite(server, CODE, 1, "general", "team")
    needed = await hello(server, nick="newbie", ref="h1")
    assert needed == {
        "type": "error",
        "code": "forbidden",
        "message": "an invite code is needed to sign up here",
        "ref": "h1",
        "closed": 1008,
    }
    wrong = await hello(server, nick="newbie", invite="not-the-code")
    assert (wrong["code"], wrong["closed"]) == ("forbidden", 1008)
    assert "not valid" in wrong["message"]

    welcome = await hello(server, nick="newbie", invite=CODE)
    assert (welcome["type"], welcome["created"]) == ("welcome", True), welcome
    assert [r["room"] for r in welcome["rooms"]] == ["general", "team"]
    used_up = await hello(server, nick="another", invite=CODE)
    assert (used_up["code"], used_up["closed"]) == ("forbidden", 1008)
    assert await server.running.store.user_by_nick("another") is None

    # the new account logs in like any other, with no code, and a code changes nothing
    again = await hello(server, nick="newbie")
    assert (again["type"], again["created"]) == ("welcome", False), again
    again = await hello(server, nick="NEWBIE", invite="whatever")
    assert again["type"] == "welcome", again
    # a wrong password is still a wrong password, told apart from a missing code
    wrong_pw = await hello(server, nick="newbie", password="nope-nope")
    assert (wrong_pw["code"], wrong_pw["closed"]) == ("auth_failed", 1008)


async def test_expired_and_revoked_codes_are_refused(server: ChatServerUnderTest) -> None:
    await invite(server, "expiredcodexxxxxxxxx", 5, ttl=-1)
    await invite(server, "revokedcodexxxxxxxxx", 5)
    await server.running.store.revoke_invite_code(token_hash("revokedcodexxxxxxxxx"))
    for code in ("expiredcodexxxxxxxxx", "revokedcodexxxxxxxxx"):
        refused = await hello(server, nick="late", invite=code)
        assert refused["code"] == "forbidden", refused
    assert await server.running.store.user_by_nick("late") is None


async def test_two_signups_at_once_cannot_overuse_a_one_use_code(
    server: ChatServerUnderTest,
) -> None:
    await invite(server, CODE, 1, "general")
    first, second = await asyncio.gather(
        hello(server, "127.0.0.5", nick="racer1", invite=CODE),
        hello(server, "127.0.0.6", nick="racer2", invite=CODE),
    )
    assert sorted([first["type"], second["type"]]) == ["error", "welcome"], (first, second)
    lost = first if first["type"] == "error" else second
    assert (lost["code"], lost["closed"]) == ("forbidden", 1008)
    room = await server.running.store.room_by_name("general")
    assert room is not None
    assert len(await server.running.store.members(room.id)) == 1


async def test_a_bystander_in_the_codes_room_sees_the_newcomer_join(
    server: ChatServerUnderTest,
) -> None:
    await invite(server, CODE, 1, "general")
    async with server.client() as client:
        await invite(server, "ownercodexxxxxxxxxxx", 1, "general")
        hi = await client.request(
            {
                "type": "hello",
                "nick": "alice",
                "password": "pw-12345",
                "invite": "ownercodexxxxxxxxxxx",
            },
            "welcome",
        )
        assert hi["type"] == "welcome", hi
        joined, _ = await client.join("general")
        assert joined["members"] == ["alice"]
        assert (await hello(server, nick="spammer"))["code"] == "forbidden"
        assert (await hello(server, nick="bob", invite=CODE))["type"] == "welcome"
        page = await client.request({"type": "join", "room": "general"}, "joined")
        assert page["members"] == ["alice", "bob"]  # the refused one never joined


async def test_open_signup_takes_a_code_for_its_rooms_and_closed_takes_none(
    make_server: ServerFactory, tmp_path: Any
) -> None:
    server = await make_server(signup="open")
    await invite(server, CODE, 1, "general")
    plain = await hello(server, nick="walkin")
    assert (plain["type"], plain["rooms"]) == ("welcome", [])
    invited = await hello(server, nick="invited", invite=CODE)
    assert [r["room"] for r in invited["rooms"]] == ["general"]
    bad = await hello(server, nick="typo", invite="wrong")
    assert bad["code"] == "forbidden"  # a code given is checked, whatever the mode
    await server.running.stop()

    closed = await make_server(signup="closed", db_path=tmp_path / "closed.db")
    await invite(closed, CODE, 1, "general")
    refused = await hello(closed, nick="newbie", invite=CODE)
    assert (refused["code"], refused["closed"]) == ("auth_failed", 1008)
    assert await closed.running.store.user_by_nick("newbie") is None


async def test_a_wrong_code_is_a_failed_login(make_server: ServerFactory) -> None:
    server = await make_server(signup="invite", login_failures=Allowance(2, 60.0))
    verifies = server.running.ctx.passwords.verifies
    for code in ("guess-1", "guess-2"):
        assert (await hello(server, "127.0.0.7", nick="guesser", invite=code))["code"] == (
            "forbidden"
        )
    limited = await hello(server, "127.0.0.7", nick="guesser", invite="guess-3")
    assert (limited["code"], limited["closed"]) == ("rate_limited", 1008)
    assert limited["retry_after"] > 0
    assert server.running.ctx.passwords.verifies == verifies  # no hash spent on a guess
    other = await hello(server, "127.0.0.8", nick="guesser2", invite="guess-4")
    assert other["code"] == "forbidden"  # another address is not held up


def test_open_signup_beyond_loopback_is_warned_of_in_one_line() -> None:
    warning = signup_warning(Settings(host="0.0.0.0", signup="open"))
    assert warning is not None and "\n" not in warning
    assert warning.startswith("listening on 0.0.0.0 with open signup")
    assert "--signup invite" in warning
    for quiet in (
        Settings(host="127.0.0.1", signup="open"),
        Settings(host="0.0.0.0", signup="invite"),
        Settings(host="0.0.0.0", signup="closed"),
    ):
        assert signup_warning(quiet) is None


async def test_a_loopback_server_with_open_signup_says_nothing_of_it(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chat_server")
    await make_server(signup="open")
    said = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("open files:") for line in said), said  # the start was heard
    assert not [line for line in said if "open signup" in line]


def test_loopback_hosts() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.10", "chat.example.com", ""):
        assert not is_loopback(host), host
