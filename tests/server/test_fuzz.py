"""Property tests against a live connection: whatever a client sends, the server answers with
a well-formed reply or a DESIGN.md error, or closes with an allowed code, and keeps serving.

One server per test, one logged-in connection reused across hypothesis examples; when the
server closes it (1008 after a burst of bad frames, 1000 after a fuzzed ``logout``), the
helper logs in again.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from chat_server import protocol as p
from tests.conftest import ChatServerUnderTest, Client

ERROR_CODES = frozenset(
    {
        "bad_request",
        "unknown_type",
        "auth_required",
        "auth_failed",
        "forbidden",
        "not_member",
        "not_found",
        "invalid_name",
        "too_large",
        "rate_limited",
        "internal",
    }
)
# A logged-in client may get these (direct replies and live events); never `welcome` again.
REPLY_TYPES = frozenset(
    {
        "joined",
        "history",
        "left",
        "ack",
        "message",
        "presence",
        "typing",
        "read",
        "results",
        "rooms",
        "error",
    }
)
# 1000 logout, 1003 binary, 1007 invalid UTF-8, 1008 abuse, 1009 too large. Never 1011.
ALLOWED_CLOSE = frozenset({1000, 1003, 1007, 1008, 1009})
CLIENT_TYPES = sorted(p.CLIENT_TYPES)
FIELDS = [
    "type",
    "room",
    "body",
    "id",
    "ref",
    "since",
    "before",
    "after",
    "limit",
    "seq",
    "q",
    "to",
    "nick",
    "password",
    "token",
]
NICK = "fuzzer"
PASSWORD = "fuzz-pw"
ROOM = "fuzz-room"
FUZZ_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
REPLY_TIMEOUT = 5.0

# --- strategies ---------------------------------------------------------------------------

texts = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    st.sampled_from([*CLIENT_TYPES, ROOM, "general", "dm:a:b", NICK, "", "x" * 65]),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=10**40, max_value=10**80),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), texts), children, max_size=5),
    ),
    max_leaves=20,
)
seqs = st.one_of(
    st.integers(min_value=-3, max_value=1000),
    st.integers(min_value=2**63 - 2, max_value=2**64 + 2),
    st.integers(),
    json_values,
)
rooms_ = st.one_of(
    st.just(ROOM), st.sampled_from(["other-room", "dm:fuzzer:watcher", "General", "", "x" * 65])
)
refs = st.one_of(st.text(max_size=70), json_values)
# Frames a real client could nearly have sent: a real type with its fields, odd values.
near_valid = st.one_of(
    st.fixed_dictionaries({"type": st.just("join"), "room": rooms_}, optional={"since": seqs}),
    st.fixed_dictionaries(
        {"type": st.just("history"), "room": rooms_},
        optional={"before": seqs, "after": seqs, "limit": seqs, "ref": refs},
    ),
    st.fixed_dictionaries({"type": st.just("read"), "room": rooms_, "seq": seqs}),
    st.fixed_dictionaries(
        {
            "type": st.just("send"),
            "body": st.one_of(texts, json_values),
            "id": st.one_of(st.text(min_size=1, max_size=70), json_values),
        },
        optional={
            "room": rooms_,
            "to": st.one_of(st.sampled_from(["watcher", NICK, "nobody", "bad nick"]), json_values),
            "ref": refs,
        },
    ),
    st.fixed_dictionaries(
        {"type": st.just("search"), "q": st.one_of(texts, json_values)},
        optional={"room": rooms_, "limit": seqs},
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["typing", "leave", "rooms", "hello"])},
        optional={"room": rooms_, "ref": refs, "token": json_values, "nick": json_values},
    ),
)
frames = st.one_of(
    json_values,
    near_valid,
    near_valid,
    st.dictionaries(
        st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), json_values, max_size=8
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(CLIENT_TYPES)},
        optional={field: json_values for field in FIELDS if field != "type"},
    ),
)


# --- a connection that survives the server closing it --------------------------------------


class Session:
    """One logged-in connection, reopened (token first, then password) when it is closed."""

    def __init__(self, server: ChatServerUnderTest) -> None:
        self.server = server
        self.stack = AsyncExitStack()
        self.client: Client | None = None
        self.token = ""
        self.counter = 0
        self.reconnects = 0
        self.closes: list[int | None] = []

    async def _hello(self, frame: dict[str, Any]) -> Client | None:
        stack = AsyncExitStack()
        client = await stack.enter_async_context(self.server.client())
        reply = await client.request(frame, "welcome")
        if reply["type"] != "welcome":
            assert reply["code"] == "auth_failed", reply
            await stack.aclose()
            return None
        self.token = reply["token"]
        self.stack = stack
        return client

    async def connect(self) -> Client:
        if self.client is not None:
            return self.client
        client = None
        if self.token:
            client = await self._hello({"type": "hello", "token": self.token})
        if client is None:  # a fuzzed `logout` revoked the token
            client = await self._hello({"type": "hello", "nick": NICK, "password": PASSWORD})
        assert client is not None, "the fuzzer cannot log in again"
        await client.join(ROOM)
        self.client = client
        return client

    async def dropped(self, code: int | None) -> None:
        self.closes.append(code)
        self.reconnects += 1
        self.client = None
        await self.stack.aclose()
        assert code in ALLOWED_CLOSE, f"the server closed the connection with {code}"

    async def close(self) -> None:
        self.client = None
        await self.stack.aclose()

    async def exchange(self, data: str) -> list[dict[str, Any]]:
        """Send one raw text frame, then a `rooms` sentinel; return the frames in between.

        Every frame must be a known reply type; errors must carry a DESIGN.md code. When
        the server closes the connection the close code must be an allowed one.
        """
        client = await self.connect()
        self.counter += 1
        sentinel = f"sentinel-{self.counter}"
        seen: list[dict[str, Any]] = []
        try:
            await client.ws.send(data)
            await client.send({"type": "rooms", "ref": sentinel})
            while True:
                frame = await client.recv(timeout=REPLY_TIMEOUT)
                assert isinstance(frame, dict), frame
                assert frame.get("type") in REPLY_TYPES, f"unexpected reply {frame} to {data!r}"
                if frame["type"] == "error":
                    assert frame.get("code") in ERROR_CODES, frame
                    assert isinstance(frame.get("message"), str), frame
                    assert frame.get("code") != "internal", f"internal error for {data[:200]!r}"
                if frame["type"] == "rooms" and frame.get("ref") == sentinel:
                    return seen
                seen.append(frame)
        except ConnectionClosed as exc:
            await self.dropped(exc.rcvd.code if exc.rcvd else None)
            return seen


@pytest.fixture
async def server(make_server: Any) -> ChatServerUnderTest:
    """The server with a send rate the watcher's one send per example cannot exceed."""
    result: ChatServerUnderTest = await make_server(rate_per_second=1000.0, rate_burst=1000)
    return result


class Watcher:
    """Another user, logged in the whole time: after each example its send must be acked."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.count = 0

    async def check(self) -> None:
        self.count += 1
        msg_id = f"watch-{self.count}"
        await self.client.send({"type": "send", "room": "watch-room", "body": "ok", "id": msg_id})
        while True:
            frame = await self.client.recv(timeout=REPLY_TIMEOUT)
            if frame["type"] == "error":
                raise AssertionError(f"the watcher's send failed: {frame}")
            if frame["type"] == "ack" and frame["id"] == msg_id:
                assert frame["seq"] == self.count, frame
                return


@pytest.fixture
async def watcher(server: ChatServerUnderTest) -> AsyncIterator[Watcher]:
    async with server.login("watcher") as client:
        await client.join("watch-room")
        yield Watcher(client)


@pytest.fixture
async def session(server: ChatServerUnderTest, watcher: Watcher) -> AsyncIterator[Session]:
    """The fuzzer's connection; afterwards, a fresh user must still be served."""
    fuzzer = Session(server)
    await fuzzer.connect()
    yield fuzzer
    await fuzzer.close()
    await assert_still_serves(server, "fresh-user")


async def assert_still_serves(server: ChatServerUnderTest, nick: str) -> None:
    """A fresh user can log in, join, send and see the message in history."""
    async with server.login(nick) as client:
        room = f"after-{nick.lower()}"
        await client.join(room)
        ack = await client.say(room, "still here", "after-1")
        assert ack["seq"] == 1
        own = await client.recv_type("message")
        assert (own["seq"], own["body"]) == (1, "still here"), own
        page = await client.request({"type": "history", "room": room, "after": 0}, "history")
        assert [m["body"] for m in page["messages"]] == ["still here"], page


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


# --- (a) arbitrary JSON values --------------------------------------------------------------


@FUZZ_SETTINGS
@given(value=frames)
@pytest.mark.slow
async def test_arbitrary_json_values(session: Session, watcher: Watcher, value: Any) -> None:
    await session.exchange(dumps(value))
    await watcher.check()


INTEGER_FIELDS = [
    ("join", "since"),
    ("history", "before"),
    ("history", "after"),
    ("history", "limit"),
    ("read", "seq"),
    ("search", "limit"),
]


@FUZZ_SETTINGS
@given(
    where=st.sampled_from(INTEGER_FIELDS),
    value=st.one_of(st.integers(), st.integers(min_value=2**62, max_value=2**65)),
)
async def test_any_integer_in_an_integer_field(
    session: Session, watcher: Watcher, where: tuple[str, str], value: int
) -> None:
    """An integer of any size where a seq or limit belongs: a reply or an error, no close."""
    kind, field = where
    frame: dict[str, Any] = {"type": kind, "room": ROOM, field: value}
    if kind == "search":
        frame["q"] = "word"
    closes = len(session.closes)
    seen = await session.exchange(dumps(frame))
    assert len(session.closes) == closes, f"{frame} closed the connection"
    assert seen or kind == "read", f"no reply to {frame}"
    await watcher.check()


# --- (b) arbitrary text frames -------------------------------------------------------------


@FUZZ_SETTINGS
@given(text=st.text(st.characters(exclude_categories=["Cs"]), max_size=200))
@pytest.mark.slow
async def test_arbitrary_text_frames(session: Session, watcher: Watcher, text: str) -> None:
    await session.exchange(text)
    await watcher.check()


# --- (c) hostile JSON ----------------------------------------------------------------------

DEEP = 30_000
DIGITS = "9" * 5000
NEST = "[" * DEEP + "]" * DEEP
HOSTILE_BAD_REQUEST: list[tuple[str, str]] = [
    ("deep array top level", NEST),
    (
        "deep array in a field",
        '{"type":"join","room":"ok-room","since":' + "[" * DEEP + "]" * DEEP + "}",
    ),
    ("deep array before type", '{"x":' + NEST + ',"type":"rooms"}'),
    ("5000-digit number top level", DIGITS),
    ("5000-digit since", '{"type":"join","room":"ok-room","since":' + DIGITS + "}"),
    ("5000-digit limit", '{"type":"history","room":"ok-room","limit":' + DIGITS + "}"),
    ("5000-digit float", '{"type":"history","room":"ok-room","after":' + DIGITS + ".5}"),
    ("NaN", '{"type":"join","room":"ok-room","since":NaN}'),
    ("Infinity", '{"type":"history","room":"ok-room","before":Infinity}'),
    ("-Infinity", '{"type":"read","room":"ok-room","seq":-Infinity}'),
    ("true for an integer", '{"type":"history","room":"ok-room","limit":true}'),
    ("10.5 for an integer", '{"type":"join","room":"ok-room","since":10.5}'),
    ("1e400 for an integer", '{"type":"read","room":"ok-room","seq":1e400}'),
    ("lone surrogate body", '{"type":"send","room":"ok-room","body":"\\ud800","id":"s1"}'),
    ("lone surrogate room", '{"type":"join","room":"\\udfff"}'),
    ("lone surrogate type", '{"type":"\\ud800"}'),
    ("array top level", '[{"type":"rooms"}]'),
    ("string top level", '"rooms"'),
    ("number top level", "42"),
    ("null top level", "null"),
    ("true top level", "true"),
    ("empty", ""),
    ("truncated", '{"type":"rooms"'),
    ("trailing garbage", '{"type":"rooms"} x'),
    ("single quotes", "{'type':'rooms'}"),
    ("negative seq", '{"type":"history","room":"ok-room","after":-1}'),
]


@pytest.mark.parametrize(
    ("name", "data"), HOSTILE_BAD_REQUEST, ids=[name for name, _ in HOSTILE_BAD_REQUEST]
)
async def test_hostile_json_is_bad_request(
    server: ChatServerUnderTest, session: Session, name: str, data: str
) -> None:
    client = await session.connect()
    await client.join("ok-room")
    frames_seen = await session.exchange(data)
    assert session.reconnects == 0, f"{name}: the connection was closed ({session.closes})"
    errors = [f for f in frames_seen if f["type"] == "error"]
    assert [e["code"] for e in errors] == ["bad_request"], f"{name}: {frames_seen}"
    # nothing was stored from it
    page = await session.exchange('{"type":"history","room":"ok-room","after":0,"ref":"h"}')
    history = [f for f in page if f["type"] == "history"]
    assert history and history[0]["messages"] == [], page


async def test_hostile_list_leaves_server_usable(
    server: ChatServerUnderTest, session: Session
) -> None:
    for _, data in HOSTILE_BAD_REQUEST:
        await session.exchange(data)
    assert session.reconnects == 0, session.closes
    await assert_still_serves(server, "after-hostile")


async def test_duplicate_keys_last_wins(server: ChatServerUnderTest, session: Session) -> None:
    client = await session.connect()
    await client.ws.send('{"type":"join","room":"INVALID","room":"ok-room","ref":"dup"}')
    joined = await client.recv_type("joined", "error")
    assert joined["type"] == "joined", joined
    assert joined["room"] == "ok-room"
    history = await client.recv_type("history")
    assert history["room"] == "ok-room"


async def test_duplicate_type_key_last_wins(server: ChatServerUnderTest, session: Session) -> None:
    """Two `type` keys: the last one (`send`) is the frame's type, as JSON.parse reads it."""
    client = await session.connect()
    await client.ws.send('{"type":"nope","type":"send","room":"' + ROOM + '","body":"b","id":"d1"}')
    ack = await client.recv_type("ack", "error")
    assert ack["type"] == "ack" and ack["room"] == ROOM, ack


@pytest.mark.parametrize(
    "data",
    [
        '{"type":"join","room":"ok-room","since":18446744073709551615}',
        '{"type":"join","room":"ok-room","since":9223372036854775808}',
        '{"type":"history","room":"ok-room","after":18446744073709551615}',
        '{"type":"history","room":"ok-room","before":9223372036854775808}',
        '{"type":"read","room":"ok-room","seq":18446744073709551615}',
        '{"type":"read","room":"ok-room","seq":9223372036854775807}',
    ],
    ids=[
        "join-since-2^64-1",
        "join-since-2^63",
        "history-after-2^64-1",
        "history-before-2^63",
        "read-2^64-1",
        "read-2^63-1",
    ],
)
async def test_out_of_range_integers(
    server: ChatServerUnderTest, session: Session, data: str
) -> None:
    """Integers beyond SQLite's 64-bit range: a bad_request or a normal reply, never a
    close or an `internal` error, and the server keeps storing messages."""
    client = await session.connect()
    await client.join("ok-room")
    await client.say("ok-room", "before", "oor-1")
    await session.exchange(data)
    assert session.reconnects == 0, f"the connection was closed with {session.closes}"
    client = await session.connect()
    ack = await client.say("ok-room", "after", "oor-2")
    assert ack["seq"] == 2
    await assert_still_serves(server, "after-oor")
