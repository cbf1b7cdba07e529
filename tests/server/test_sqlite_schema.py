"""SQLite's schema over time: upgrading an older database, and the search index that the
writer fills behind the messages (every search still sees every acked message)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat_server.store import NewChange, NewMessage, SQLiteStore, search_words
from chat_server.store.sqlite import MIGRATIONS, SEARCH_INDEX_BATCH, SEARCH_INDEX_KEEP
from chat_server.store.sqlite.batch import SEARCH_SQL


def _version_1_database(path: Path, messages: int) -> None:
    """A database as the first release left it: migration 1 only, the search index filled
    by its trigger, alice in general with ``messages`` messages keyed k0, k1, ..., and bob
    there too, silent."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute("INSERT INTO schema_migrations VALUES (1, '2026-11-01T00:00:00.000Z')")
        db.execute(
            "INSERT INTO users (id, nick, nick_key, password_hash, created_at)"
            " VALUES (1, 'alice', 'alice', 'hash', 'then')"
        )
        db.execute(
            "INSERT INTO rooms (id, name, last_seq, created_at) VALUES (1, 'general', ?, 'then')",
            (messages,),
        )
        db.execute(
            "INSERT INTO users (id, nick, nick_key, password_hash, created_at)"
            " VALUES (2, 'bob', 'bob', 'hash', 'then')"
        )
        db.execute("INSERT INTO memberships (user_id, room_id, joined_at) VALUES (1, 1, 'then')")
        db.execute("INSERT INTO memberships (user_id, room_id, joined_at) VALUES (2, 1, 'then')")
        db.executemany(
            "INSERT INTO messages (room_id, seq, author_id, nick, client_id, body, ts)"
            " VALUES (1, ?, 1, 'alice', ?, ?, 'then')",
            [(i + 1, f"k{i}", f"old message {i} about lanterns") for i in range(messages)],
        )


def _indexed_upto(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT upto FROM search_indexed").fetchone()[0])


async def test_a_version_1_database_is_upgraded_with_history_keys_and_search(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chat.db"
    _version_1_database(path, 300)
    store = SQLiteStore(path)
    await store.open()
    try:
        room = await store.room_by_name("general")
        assert room is not None
        page = await store.history(room, limit=5)
        assert [m.seq for m in page.messages] == [296, 297, 298, 299, 300]
        hits = await store.search(1, search_words("lanterns 7"), None, 100)
        assert {h.seq for h in hits} == {8}  # "7" is a word of message 7 only (seq 8)
        # an old key still names its message; a new one stores a new message
        again = await store.append(NewMessage(1, "alice", room.id, "k41", "resent"))
        assert (again.seq, again.new, again.body) == (42, False, "old message 41 about lanterns")
        new = await store.append(NewMessage(1, "alice", room.id, "k300", "fresh lanterns"))
        assert (new.seq, new.new) == (301, True)
        hits = await store.search(1, search_words("lanterns"), None, 2)
        assert [h.body for h in hits] == ["fresh lanterns", "old message 299 about lanterns"]
        # the rooms list counts the members the old database had
        listed = await store.public_rooms(10)
        assert [(r.room, r.members) for r in listed.rooms] == [("general", 2)]
        # who has written where is read from the messages already there
        assert await store.has_written(1, room.id) and not await store.has_written(2, room.id)
        # a room from before owners: public, no topic, and nobody known to have made it
        facts = await store.room_facts(room.id)
        assert (facts.topic, facts.private, facts.roles) == ("", False, {})
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        versions = [row[0] for row in db.execute("SELECT version FROM schema_migrations")]
        assert versions == list(range(1, len(MIGRATIONS) + 1))
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT COUNT(*) FROM messages").fetchone() == (301,)


async def test_rooms_made_before_owners_are_owned_by_whoever_made_them(tmp_path: Path) -> None:
    """The migration that brings owners makes each room's creator (known since the per-user
    limits) its owner, if still a member."""
    owners = next(i for i, m in enumerate(MIGRATIONS) if any("room_bans" in s for s in m))
    path = tmp_path / "chat.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        for version, statements in enumerate(MIGRATIONS[:owners], start=1):
            for statement in statements:
                db.execute(statement)
            db.execute("INSERT INTO schema_migrations VALUES (?, 'then')", (version,))
        for user_id, nick in ((1, "alice"), (2, "bob")):
            db.execute(
                "INSERT INTO users (id, nick, nick_key, password_hash, created_at)"
                " VALUES (?, ?, ?, 'hash', 'then')",
                (user_id, nick, nick),
            )
        for room_id, name, creator in ((1, "general", 1), (2, "gone", 2)):
            db.execute(
                "INSERT INTO rooms (id, name, created_at, created_by) VALUES (?, ?, 'then', ?)",
                (room_id, name, creator),
            )
        for user_id, room_id in ((1, 1), (2, 1), (1, 2)):  # bob left the room he made
            db.execute(
                "INSERT INTO memberships (user_id, room_id, joined_at) VALUES (?, ?, 'then')",
                (user_id, room_id),
            )
    store = SQLiteStore(path)
    await store.open()
    try:
        assert (await store.room_facts(1)).roles == {"alice": "owner"}
        assert (await store.room_facts(2)).roles == {}
        assert await store.place(2, 1) == "member"
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def _alice_in_general(path: Path) -> AsyncIterator[tuple[SQLiteStore, int, int]]:
    """An open store with alice in general: (store, alice's id, general's id)."""
    store = SQLiteStore(path)
    await store.open()
    try:
        alice = await store.create_user("alice", "hash")
        room, _ = await store.join(alice.id, "general", False)
        yield store, alice.id, room.id
    finally:
        await store.close()


async def _wait_indexed(path: Path, upto: int) -> None:
    deadline = time.monotonic() + 10
    while _indexed_upto(path) < upto:
        assert time.monotonic() < deadline, f"indexed up to {_indexed_upto(path)} of {upto}"
        await asyncio.sleep(0.05)


async def test_a_search_sees_every_message_acked_before_it(tmp_path: Path) -> None:
    async with _alice_in_general(tmp_path / "chat.db") as (store, alice, room):
        for i in range(5):
            await store.append(NewMessage(alice, "alice", room, f"k{i}", f"needle {i}"))
            # the writer has not indexed it yet (it does so in bulk), and the search finds it
            assert _indexed_upto(tmp_path / "chat.db") < i + 1
            hits = await store.search(alice, search_words("needle"), None, 50)
            assert [h.seq for h in hits] == list(range(i + 1, 0, -1))


@pytest.mark.slow
async def test_the_writer_indexes_new_messages_on_its_own(tmp_path: Path) -> None:
    """Without a search asking, a lone message reaches the index once it is ``index_age``
    old, and a burst as it is committed, all but its newest SEARCH_INDEX_KEEP."""
    path = tmp_path / "chat.db"
    async with _alice_in_general(path) as (store, alice, room):
        store.index_age = 1.5
        await store.append(NewMessage(alice, "alice", room, "lone", "lone message"))
        await asyncio.sleep(0.5)
        assert _indexed_upto(path) == 0  # still young: an edit of it costs the index nothing
        await _wait_indexed(path, 1)
        store.index_age = 3600.0
        burst = SEARCH_INDEX_KEEP + SEARCH_INDEX_BATCH + 1000
        await asyncio.gather(
            *(
                store.submit(NewMessage(alice, "alice", room, f"b{i}", f"burst {i}"))
                for i in range(burst)
            )
        )
        await _wait_indexed(path, 1 + burst - SEARCH_INDEX_KEEP)
        await asyncio.sleep(1.5)  # the newest stay out until they age (or a search)
        assert _indexed_upto(path) == 1 + burst - SEARCH_INDEX_KEEP
        hits = await store.search(alice, search_words("burst"), None, 1)
        assert [h.seq for h in hits] == [1 + burst]
        assert _indexed_upto(path) == 1 + burst


@pytest.mark.slow
async def test_an_edit_of_a_new_message_leaves_nothing_to_purge(tmp_path: Path) -> None:
    """A message edited within a minute (the common case: a typo fixed, a secret taken
    back) is not in the index yet, so its old words never were: no merge is due."""
    path = tmp_path / "chat.db"
    async with _alice_in_general(path) as (store, alice, room):
        stored = await store.append(NewMessage(alice, "alice", room, "m1", "my pasword secret"))
        await asyncio.sleep(2.5)  # a few of the writer's index ticks
        edit = NewChange(alice, "alice", room, "e1", "edit", stored.seq, "my password")
        await store.submit_change(edit)
        assert [h.body for h in await store.search(alice, ["password"], None, 5)] == ["my password"]
        assert await store.search(alice, ["secret"], None, 5) == []
        with contextlib.closing(sqlite3.connect(path)) as db:
            # the search took in both rows (the message, its edit's entry); no merge is due
            assert db.execute("SELECT upto, purge FROM search_indexed").fetchone() == (2, 0)


async def test_messages_a_crash_left_out_of_the_index_are_indexed_on_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chat.db"
    async with _alice_in_general(path) as (store, alice, room):
        for i in range(40):
            await store.append(NewMessage(alice, "alice", room, f"k{i}", f"word{i} shared"))
    with sqlite3.connect(path) as db:  # as if the server died before its index pass
        db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('delete-all')")
        db.execute("UPDATE search_indexed SET upto = 10")
        db.execute(SEARCH_SQL, (0, 10))
    store = SQLiteStore(path)
    await store.open()
    try:
        assert _indexed_upto(path) == 40  # before any search asked for it
        hits = await store.search(alice, search_words("shared"), None, 100)
        assert [h.seq for h in hits] == list(range(40, 0, -1))
        assert [h.seq for h in await store.search(alice, ["word25"], None, 10)] == [26]
    finally:
        await store.close()
