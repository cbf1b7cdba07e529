"""A search's query is hostile input like a body: control characters never reach the
store, and a request that keeps failing costs the connection like any bad frame."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from websockets.exceptions import ConnectionClosed

from chat_server.ratelimit import Allowance
from tests.conftest import Client, ServerFactory


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def replies(client: Client, count: int) -> list[dict[str, object]]:
    """The next ``count`` replies (errors and results), skipping live events."""
    return [await client.recv_type("error", "results") for _ in range(count)]


async def test_nul_searches_are_bad_requests_and_log_nothing(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # a budget that lets all 200 through, to see every answer (the default closes at ~50)
    server = await make_server(bad_frames=Allowance(1000, 200.0))
    async with server.login("mallory") as mallory, server.login("bob") as bob:
        await bob.join("general")
        await bob.say("general", "a needle in the haystack", "m1")
        await mallory.join("lair")
        await mallory.say("lair", "my own needle", "m2")
        for n in range(200):
            await mallory.send({"type": "search", "q": "\x00" * (n % 3 + 1), "ref": f"s{n}"})
        found = await bob.request({"type": "search", "q": "needle"}, "results")
        assert [hit["body"] for hit in found["messages"]] == ["a needle in the haystack"]
        answers = await replies(mallory, 200)
        assert answers == [
            {
                "type": "error",
                "code": "bad_request",
                "message": "the search query is empty",
                "ref": f"s{n}",
            }
            for n in range(200)
        ]
        # a NUL inside a word is removed, as from a body: the word is searched
        cleaned = await mallory.request({"type": "search", "q": "nee\x00dle"}, "results")
        assert [hit["body"] for hit in cleaned["messages"]] == ["my own needle"]
    assert errors_logged(caplog) == []


async def test_a_request_that_keeps_failing_closes_the_connection_1008(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # reads unlimited here: the budget of bad requests, not of searches, is what closes it
    server = await make_server(bad_frames=Allowance(10, 2.0), search_burst=1000, read_burst=1000)
    async with server.login("mallory") as mallory, server.login("bob") as bob:
        await bob.join("general")
        await mallory.join("lair")  # a search reads the index only where she has messages
        await mallory.say("lair", "my own words", "w1")
        await mallory.request({"type": "search", "q": "words"}, "results")  # indexed now
        # the search index is damaged: every search now fails inside the store
        with sqlite3.connect(server.settings.db_path) as db:
            db.execute("DROP TABLE messages_fts")
        codes: list[str] = []
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(200):  # one at a time, as a client retrying would
                reply = await mallory.request({"type": "search", "q": "anything"}, "results")
                codes.append(reply["code"])
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "too many bad frames")
        assert set(codes) == {"internal"}
        assert 10 <= len(codes) < 20  # the budget of 10, plus what it refilled meanwhile
        assert len(errors_logged(caplog)) == len(codes)
        # other people carry on
        assert (await bob.say("general", "still here", "m1"))["seq"] == 1
