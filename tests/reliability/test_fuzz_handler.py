"""The fuzz harness's second half: the frame decoder on its own, valid frames mutated byte by
byte, and the login phase, with the server's log watched for tracebacks.

tests/server/test_fuzz.py sends arbitrary JSON values, arbitrary text and hostile JSON to a
logged-in connection; this module adds what it does not cover: (1) ``decode_client_frame`` over
arbitrary and mutated input, where any exception but ``ProtocolError`` fails; (2) structured
mutations of real frames (bytes deleted, inserted, replaced, duplicated, truncated) sent to a
live connection, text and binary; (3) the same before ``hello``. The server must answer with a
reply or an ``error`` frame, close only with an allowed code (never 1011), keep serving, and
never log a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from chat_server import protocol as p
from chat_server.errors import ProtocolError
from tests.conftest import ChatServerUnderTest
from tests.conftest import ServerFactory as InProcessFactory
from tests.server.test_fuzz import (  # noqa: F401 (server, session, watcher are fixtures)
    ALLOWED_CLOSE,
    ERROR_CODES,
    ROOM,
    Session,
    Watcher,
    assert_still_serves,
    frames,
    near_valid,
    server,
    session,
    watcher,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

LIVE = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Real frames a client sends, as their bytes on the wire: the seeds of the mutations.
SEEDS = [
    json.dumps(frame).encode()
    for frame in (
        {"type": "hello", "nick": "fuzzer", "password": "fuzz-pw", "client": "fuzz"},
        {"type": "hello", "token": "abcdefgh" * 4},
        {"type": "join", "room": ROOM, "since": 3},
        {"type": "leave", "room": ROOM, "ref": "r1"},
        {"type": "send", "room": ROOM, "body": "hello \u00e9\u4e16 \u2603", "id": "m-1"},
        {"type": "send", "to": "watcher", "body": "psst", "id": "d-1", "ref": "x"},
        {"type": "history", "room": ROOM, "before": 10, "limit": 100},
        {"type": "history", "room": ROOM, "after": 0, "limit": 500},
        {"type": "read", "room": ROOM, "seq": 1},
        {"type": "typing", "room": ROOM},
        {"type": "search", "q": "hello world", "room": ROOM, "limit": 5},
        {"type": "rooms"},
    )
]
JUNK = [b'"', b"\\", b"{", b"}", b"[", b"]", b",", b":", b"\\u", b"\\ud800", b"1e999", b"\x00",
        b"\xff", b"\xc3", b"null", b"-", b"0", b'"type"', b"NaN", b"\xed\xa0\x80"]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real frame with a few byte-level edits: what a buggy or hostile client sends."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        edit = draw(st.sampled_from(["delete", "insert", "replace", "duplicate", "truncate"]))
        if edit == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif edit == "insert":
            piece = draw(st.one_of(st.sampled_from(JUNK), st.binary(min_size=1, max_size=6)))
            data[at:at] = piece
        elif edit == "replace":
            data[at] = draw(st.integers(0, 255))
        elif edit == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 16))]
        else:
            del data[at:]
    return bytes(data)


def _as_text(data: bytes) -> str:
    """What a websocket text frame can carry: valid UTF-8 (invalid bytes are replaced)."""
    return data.decode("utf-8", errors="replace")


# --- (1) the decoder alone ------------------------------------------------------------------


def _decode_or_protocol_error(data: str | bytes) -> None:
    try:
        frame = p.decode_client_frame(data)
    except ProtocolError as exc:
        assert exc.code in ERROR_CODES, exc.code
        assert isinstance(exc.message, str) and exc.message
        assert exc.ref is None or (isinstance(exc.ref, str) and len(exc.ref) <= p.MAX_REF)
        return
    assert isinstance(frame, p.ClientFrame)
    assert type(frame).__name__.lower() in {t.lower() for t in p.CLIENT_TYPES}


@settings(max_examples=400, deadline=None)
@given(data=st.one_of(mutated(), st.binary(max_size=300)))
@example(data=b'{"type": "\x80ello"}')  # found here: UnicodeDecodeError escaped the decoder
def test_the_decoder_raises_only_protocol_errors_on_bytes(data: bytes) -> None:
    _decode_or_protocol_error(data)


@settings(max_examples=400, deadline=None)
@given(
    data=st.one_of(
        mutated().map(_as_text),
        frames.map(lambda v: json.dumps(v, ensure_ascii=False)),
        near_valid.map(json.dumps),
        st.text(max_size=300),
    )
)
def test_the_decoder_raises_only_protocol_errors_on_text(data: str) -> None:
    _decode_or_protocol_error(data)


# --- (2) mutated frames on a live, logged-in connection -------------------------------------


@pytest.fixture
def no_traceback(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The server (in this process) must not log a traceback, whatever it was sent."""
    caplog.set_level(logging.INFO)
    yield
    broken = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not broken, f"the server logged a traceback: {broken[0].getMessage()}"


@LIVE
@given(data=mutated())
async def test_mutated_text_frames(
    session: Session,  # noqa: F811
    watcher: Watcher,  # noqa: F811
    no_traceback: None,
    data: bytes,
) -> None:
    await session.exchange(_as_text(data))
    await watcher.check()


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=mutated())
async def test_binary_frames_close_with_1003_and_the_user_comes_back(
    session: Session,  # noqa: F811
    watcher: Watcher,  # noqa: F811
    no_traceback: None,
    data: bytes,
) -> None:
    client = await session.connect()
    await client.ws.send(data)  # bytes: a Binary frame, which the protocol does not use
    try:
        while True:
            frame = await client.recv()
            assert frame["type"] != "error" or frame["code"] in ERROR_CODES, frame
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        assert code == 1003, f"a binary frame closed the connection with {code}"
        await session.dropped(code)
    await watcher.check()


# --- (3) before hello -------------------------------------------------------------------------


@pytest.fixture
async def anonymous(make_server: InProcessFactory) -> AsyncIterator[ChatServerUnderTest]:
    """A server of its own (lenient login limits): fuzzed passwords fail again and again."""
    fresh: ChatServerUnderTest = await make_server()
    yield fresh
    await assert_still_serves(fresh, "after-anon")


@LIVE
@given(data=st.one_of(mutated(), frames.map(lambda v: json.dumps(v).encode())))
async def test_frames_before_hello(
    anonymous: ChatServerUnderTest, no_traceback: None, data: bytes
) -> None:
    """A fresh connection, one fuzzed frame as its first: ``welcome`` (a valid hello), an
    ``error`` frame, or a policy close (1008); never silence, never 1011."""
    async with anonymous.client() as client:
        await client.ws.send(_as_text(data))
        try:
            reply: dict[str, Any] = await client.recv(timeout=10)
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            assert code in ALLOWED_CLOSE, f"closed with {code} before hello"
            return
        assert reply["type"] in ("welcome", "error"), reply
        if reply["type"] == "error":
            assert reply["code"] in ERROR_CODES and reply["code"] != "internal", reply
