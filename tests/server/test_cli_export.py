"""``chat-server export`` on each store, as an administrator runs it: a real subprocess on
a database the Store filled, every line a message object as it is now."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from chat_server.store import NewChange, NewMessage, NewReaction
from chat_server.store.base import ExportFilter
from chat_server.store.rooms import CreateRoom
from tests.server.cli_support import assert_ok, assert_one_line_failure, cli
from tests.server.store_backends import Backend, PostgresBackend, SQLiteBackend, member
from tests.server.store_backends import backend as backend  # the fixture, for this module

pytestmark = pytest.mark.slow

OLD = "2020-01-01T00:00:00.000Z"


def where(backend: Backend) -> tuple[str, str]:
    if isinstance(backend, SQLiteBackend):
        return "--db", str(backend.path)
    assert isinstance(backend, PostgresBackend)
    return "--database-url", backend.url


def export(backend: Backend, *args: str) -> list[dict[str, Any]]:
    result = cli("export", *args, *where(backend))
    assert_ok(result)
    return [json.loads(line) for line in result.stdout.splitlines()]


async def age_first_message(backend: Backend) -> None:
    """Make the message with key m1 look sent in 2020 (the store stamps the time itself)."""
    statement = f"UPDATE messages SET ts = '{OLD}' WHERE client_id = 'm1'"
    if isinstance(backend, SQLiteBackend):
        with sqlite3.connect(backend.path) as db:
            db.execute(statement)
    else:
        assert isinstance(backend, PostgresBackend)
        await backend._admin(statement)


async def test_export_writes_messages_as_they_are_now(backend: Backend) -> None:
    store = backend.store()
    await store.open()
    try:
        alice, general = await member(store, "alice", "general")
        bob, _ = await member(store, "bob", "general")
        await store.append(NewMessage(alice.id, "alice", general, "m1", "first words"))
        await store.append(NewMessage(bob.id, "bob", general, "m2", "typo here"))
        await store.append(NewMessage(alice.id, "alice", general, "m3", "regrettable"))
        await store.submit_change(NewChange(bob.id, "bob", general, "e1", "edit", 2, "fixed"))
        await store.submit_change(NewChange(alice.id, "alice", general, "d1", "delete", 3))
        await store.submit_change(NewReaction(bob.id, "bob", general, "r1", 1, "👍"))
        await store.create_room(CreateRoom(alice.id, "alice", "hiring", "c1", True, ""))
        hiring = await store.room_by_name("hiring")
        assert hiring is not None
        await store.append(NewMessage(alice.id, "alice", hiring.id, "m4", "private plans"))
    finally:
        await store.close()
    await age_first_message(backend)

    everything = export(backend)
    assert [(m["kind"], m["room"], m["seq"], m["nick"], m["body"]) for m in everything] == [
        ("message", "general", 1, "alice", "first words"),
        ("message", "general", 2, "bob", "fixed"),
        ("message", "hiring", 2, "alice", "private plans"),  # seq 1: the room's notice
    ]
    first, edited, _ = everything
    assert first["reactions"] == [{"emoji": "👍", "nicks": ["bob"]}]
    assert (first["ts"], first["id"]) == (OLD, "m1")
    assert edited["edited"] and edited["version"] == 4
    assert "regrettable" not in json.dumps(everything)  # the deleted message is left out

    assert [m["body"] for m in export(backend, "--user", "alice")] == [
        "first words",
        "private plans",
    ]
    assert [m["body"] for m in export(backend, "--room", "#general", "--since", "2021-06-01")] == [
        "fixed"
    ]
    assert [m["body"] for m in export(backend, "--since", "2019-12-31T23:00")] == [
        "first words",
        "fixed",
        "private plans",
    ]
    nobody = cli("export", "--user", "mallory", *where(backend))
    assert assert_one_line_failure(nobody) == "Error: no user mallory"
    nowhere = cli("export", "--room", "nowhere", *where(backend))
    assert assert_one_line_failure(nowhere) == "Error: no room nowhere"
    bad = cli("export", "--since", "last week", *where(backend))
    assert bad.returncode == 2 and "use a date such as 2026-12-01" in bad.stderr


async def test_an_export_reads_a_page_at_a_time_by_room_or_by_storage_order(
    backend: Backend,
) -> None:
    store = backend.store()
    await store.open()
    try:
        alice, general = await member(store, "alice", "general")
        _, other = await member(store, "alice", "other")
        for n in range(5):
            room = general if n % 2 == 0 else other
            await store.append(NewMessage(alice.id, "alice", room, f"m{n}", f"words {n}"))
        for which in (ExportFilter(), ExportFilter(room="general")):
            pages, after = [], 0
            while True:
                records, after = await store.export_page(which, after, 2)
                pages.append([r.body for r in records])
                if after == 0:
                    break
            if which.room is None:
                assert pages == [["words 0", "words 1"], ["words 2", "words 3"], ["words 4"]]
            else:
                assert pages == [["words 0", "words 2"], ["words 4"]]
    finally:
        await store.close()
