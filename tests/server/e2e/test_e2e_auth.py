"""Login: hello/welcome, tokens, failures, --no-signup, logout, the hello deadline."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.server.e2e.e2e_support import (
    DEFAULT_LIMITS,
    REPO,
    WELCOME_KEYS,
    Chat,
    Frame,
    ServerFactory,
    ServerProc,
    assert_error,
    assert_keys,
    server_command,
    uniq,
)


def test_listening_line_is_exactly_one_stdout_line(server: ServerProc) -> None:
    assert server.stdout_lines[:1] == [f"listening on ws://127.0.0.1:{server.port}/ws"]


def test_password_hello_creates_account(chat: Chat) -> None:
    client = chat.connect()
    nick = uniq("Al_")
    welcome = client.hello(nick, "correct horse", client="e2e-tests/1.0")
    assert_keys(welcome, WELCOME_KEYS)
    assert welcome["nick"] == nick
    assert welcome["created"] is True
    assert welcome["protocol"] == 2
    assert isinstance(welcome["server"], str)
    assert re.fullmatch(r"chat-server/\S+", welcome["server"]), welcome["server"]
    assert welcome["limits"] == DEFAULT_LIMITS
    assert welcome["rooms"] == []
    assert isinstance(welcome["token"], str) and len(welcome["token"]) >= 32


def test_second_password_hello_is_not_created_and_mints_new_token(chat: Chat) -> None:
    first = chat.signup("Bo_")
    assert first.user is not None
    again = chat.connect().hello(first.nick, first.user.password)
    assert_keys(again, WELCOME_KEYS)
    assert again["created"] is False
    assert again["nick"] == first.nick
    assert again["token"] != first.user.token
    # Both tokens are valid sessions.
    for token in (first.user.token, again["token"]):
        welcome = chat.connect().hello(token=token)
        assert welcome["token"] == token
        assert welcome["created"] is False
        assert welcome["nick"] == first.nick


def test_token_hello_reuses_the_token(chat: Chat) -> None:
    user = chat.signup("Tk_").user
    assert user is not None
    welcome = chat.connect().hello(token=user.token, ref="tok-1")
    assert_keys(welcome, WELCOME_KEYS, ref="tok-1")
    assert welcome["token"] == user.token
    assert welcome["created"] is False
    assert welcome["nick"] == user.nick
    assert welcome["protocol"] == 2


def test_hello_ref_is_echoed_on_welcome(chat: Chat) -> None:
    welcome = chat.connect().hello(uniq("Rf_"), "pw-1234", ref="hello-ref")
    assert_keys(welcome, WELCOME_KEYS, ref="hello-ref")


def test_nick_is_case_insensitive(chat: Chat) -> None:
    nick = uniq("CaSe_")
    owner = chat.signup(nick=nick)
    assert owner.user is not None
    same = chat.connect().hello(nick.lower(), owner.user.password)
    assert same["created"] is False
    assert same["nick"].lower() == nick.lower()
    # A taken nick (in another case) with another password is a wrong password.
    thief = chat.connect()
    thief.send({"type": "hello", "nick": nick.upper(), "password": "not-the-password"})
    assert_error(thief.recv(), "auth_failed")
    assert thief.expect_close() == 1008


def test_wrong_password_is_auth_failed_then_1008(chat: Chat) -> None:
    user = chat.signup("Wp_").user
    assert user is not None
    client = chat.connect()
    client.send({"type": "hello", "nick": user.nick, "password": "wrong!", "ref": "w1"})
    assert_error(client.recv(timeout=10), "auth_failed", ref="w1")
    assert client.expect_close() == 1008


def test_unknown_token_is_auth_failed_then_1008(chat: Chat) -> None:
    client = chat.connect()
    client.send({"type": "hello", "token": "x" * 43})
    assert_error(client.recv(timeout=10), "auth_failed")
    assert client.expect_close() == 1008


def test_non_hello_before_welcome_is_auth_required_and_stays_open(chat: Chat) -> None:
    client = chat.connect()
    room = uniq("r")
    client.send({"type": "join", "room": room, "ref": "early"})
    assert_error(client.recv(), "auth_required", ref="early")
    client.send({"type": "rooms"})
    assert_error(client.recv(), "auth_required")
    welcome = client.hello(uniq("Ar_"), "pw-pw-pw")
    assert welcome["created"] is True
    joined, _ = client.join(room)
    assert joined["room"] == room


def test_invalid_nick_is_invalid_name_and_retryable(chat: Chat) -> None:
    client = chat.connect()
    for i, nick in enumerate(["", "bad nick", "a" * 33, "émile", "semi;colon", "dm:x"]):
        client.send({"type": "hello", "nick": nick, "password": "pw-1234", "ref": f"n{i}"})
        assert_error(client.recv(), "invalid_name", ref=f"n{i}")
    longest = uniq("N") + "x" * 19  # 32 characters, the maximum
    assert len(longest) == 32
    welcome = client.hello(longest, "pw-1234")
    assert welcome["created"] is True
    assert welcome["nick"] == longest


def test_malformed_hello_is_bad_request_and_retryable(chat: Chat) -> None:
    client = chat.connect()
    client.send({"type": "hello", "nick": uniq("Mf_"), "password": 1234, "ref": "m1"})
    assert_error(client.recv(), "bad_request", ref="m1")
    client.send({"type": "hello", "nick": uniq("Mf_"), "ref": "m2"})
    assert_error(client.recv(), "bad_request", ref="m2")
    client.send({"type": "hello", "token": 5, "ref": "m3"})
    assert_error(client.recv(), "bad_request", ref="m3")
    assert client.hello(uniq("Mf_"), "pw-1234")["created"] is True


def test_logout_closes_1000_and_revokes_only_that_token(chat: Chat) -> None:
    client = chat.signup("Lo_")
    user = client.user
    assert user is not None
    other_token = chat.connect().hello(user.nick, user.password)["token"]
    client.send({"type": "logout"})
    assert client.expect_close() == 1000
    stale = chat.connect()
    stale.send({"type": "hello", "token": user.token})
    assert_error(stale.recv(timeout=10), "auth_failed")
    assert stale.expect_close() == 1008
    # The user's other session is untouched.
    assert chat.connect().hello(token=other_token)["nick"] == user.nick


def test_no_signup_refuses_new_nicks_only(server_factory: ServerFactory) -> None:
    first = server_factory()
    chat = Chat(first)
    try:
        user = chat.signup("Ns_").user
        assert user is not None
    finally:
        chat.close_all()
    assert first.stop() == 0
    second = server_factory("--no-signup", db=first.db)
    chat = Chat(second)
    try:
        welcome = chat.connect().hello(user.nick, user.password)
        assert welcome["created"] is False
        assert chat.connect().hello(token=user.token)["nick"] == user.nick
        newcomer = chat.connect()
        newcomer.send({"type": "hello", "nick": uniq("New_"), "password": "pw-1234"})
        assert_error(newcomer.recv(timeout=10), "auth_failed")
        assert newcomer.expect_close() == 1008
    finally:
        chat.close_all()


@pytest.mark.slow
def test_no_hello_within_10s_closes_1008(chat: Chat) -> None:
    client = chat.connect()
    start = time.monotonic()
    code = client.expect_close(timeout=15)
    elapsed = time.monotonic() - start
    assert code == 1008
    assert 9.0 <= elapsed <= 13.0, f"closed after {elapsed:.1f}s, expected about 10s"


def wrong_password(chat: Chat, nick: str, source: str) -> Frame:
    """A wrong password for ``nick`` from ``source``: the error frame (the server closes 1008)."""
    client = chat.connect(source=source)
    client.send({"type": "hello", "nick": nick, "password": "guess"})
    error = client.recv(timeout=30)
    assert error["type"] == "error", error
    assert client.expect_close() == 1008
    return error


@pytest.mark.slow
def test_failed_logins_are_refused_per_address_not_for_the_owner(
    server_factory: ServerFactory,
) -> None:
    """Was a growing delay per nick, which let guessers lock the owner out; now a guesser is
    refused at once past its allowance, and the owner (from another address) gets in."""
    server = server_factory("--login-failures", "3/h", "--nick-failures", "2/h")
    chat = Chat(server)
    try:
        victim, bystander = chat.signups(2, "Th_")
        assert victim.user is not None and bystander.user is not None
        guesser = "127.0.0.2"
        for _ in range(2):
            assert_error(wrong_password(chat, victim.nick, guesser), "auth_failed")
        # the nick is closed to the address that guessed it: refused at once, no hash spent
        refused = wrong_password(chat, victim.nick, guesser)
        assert_error(refused, "rate_limited")
        assert refused["message"] == "too many attempts"
        assert 0 < refused["retry_after"] <= 3600
        # the owner, from an address without failures, gets in; so does everyone else
        welcome = chat.connect(source="127.0.0.3").hello(victim.nick, victim.user.password)
        assert welcome["created"] is False
        chat.connect().hello(bystander.nick, bystander.user.password)
        # the guesser may fail once more, on another nick, then its address is spent
        assert_error(wrong_password(chat, bystander.nick, guesser), "auth_failed")
        assert_error(wrong_password(chat, uniq("Th_"), guesser), "rate_limited")
    finally:
        chat.close_all()


def test_removed_nick_stays_reserved(chat: Chat) -> None:
    mallory, bob = chat.signups(2, "Rm_")
    user = mallory.user
    assert user is not None
    mallory.send_msg(None, "hi bob", to=bob.nick)
    mallory.close()
    result = subprocess.run(
        [*server_command(), "users", "remove", "--db", str(chat.server.db), user.nick],
        cwd=REPO,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for hello in (
        {"type": "hello", "token": user.token},
        {"type": "hello", "nick": user.nick, "password": user.password},
        {"type": "hello", "nick": user.nick.lower(), "password": "a-new-password"},
    ):
        client = chat.connect()
        client.send(hello)
        assert_error(client.recv(timeout=10), "auth_failed")
        assert client.expect_close() == 1008
