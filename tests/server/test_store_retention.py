"""The Store contract for retention: a prune erases a room's oldest entries as a delete
erases, a batch at a time, and the room's floor moves past them.

Runs on every backend (``store_backends.py``: SQLite, and PostgreSQL when
``CHAT_TEST_DATABASE_URL`` is set).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chat_server.errors import StoreError
from chat_server.store import NewChange, NewMessage, NewReaction, Room, SQLiteStore, search_words
from chat_server.store.base import ExportFilter, Retention
from chat_server.store.sqlite.batch import IndexSearch, PurgeSearch
from chat_server.store.sqlite.store import SEARCH_PURGE_PAGES
from chat_server.text import format_ts
from tests.server.store_backends import AnyStore, Backend, PostgresBackend, SQLiteBackend, member
from tests.server.store_backends import backend as backend  # the fixtures, for this module
from tests.server.store_backends import store as store
from tests.server.test_store_edits import _files_hold, _wait_purged, delete, edit

SECRET = "swordfishqz"


def later(seconds: float = 3600.0) -> str:
    """A wire time ``seconds`` from now: every entry made so far is before it."""
    return format_ts(datetime.fromtimestamp(time.time() + seconds, UTC))


async def room_of(store: AnyStore, name: str) -> Room:
    room = await store.room_by_name(name)
    assert room is not None
    return room


async def test_a_prune_takes_the_oldest_entries_a_batch_at_a_time_and_moves_the_floor(
    store: AnyStore,
) -> None:
    alice, room_id = await member(store, "alice", "general")
    for i in range(1, 6):
        await store.append(NewMessage(alice.id, "alice", room_id, f"m{i}", f"note {i}"))
    room = await room_of(store, "general")
    assert await store.retention(room_id) == Retention(1, None)

    assert await store.prune(room_id, later(-3600), limit=3) == 0  # nothing that old
    assert await store.prune(room_id, later(), limit=3) == 3
    page = await store.history(room, limit=10)
    assert [m.seq for m in page.messages] == [4, 5]
    assert page.floor == 4
    assert (await store.retention(room_id)).floor == 4
    assert (await store.history(room, after=1, limit=10)).floor == 4  # a resume from below
    assert [m.seq for m in (await store.history(room, after=1, limit=10)).messages] == [4, 5]

    exported, _ = await store.export_page(ExportFilter(room="general"), 0, 10)
    assert [m.body for m in exported] == ["note 4", "note 5"]  # an export shows none erased
    assert await store.prune(room_id, later(), limit=3) == 2
    assert await store.prune(room_id, later(), limit=3) == 0
    empty = await store.history(room, limit=10)
    assert (empty.messages, empty.floor) == ([], 6)
    sent = await store.append(NewMessage(alice.id, "alice", room_id, "m6", "after the prune"))
    assert sent.seq == 6  # seqs go on: the log has no holes, only a floor
    page = await store.history(room, limit=10)
    assert [(m.seq, m.body) for m in page.messages] == [(6, "after the prune")]
    assert page.floor == 6


async def test_a_pruned_message_is_erased_as_a_delete_erases(
    store: AnyStore, backend: Backend
) -> None:
    alice, room_id = await member(store, "alice", "general")
    bob, _ = await member(store, "bob", "general")
    await store.append(NewMessage(alice.id, "alice", room_id, "m1", f"the code is {SECRET}"))
    await store.append(NewMessage(bob.id, "bob", room_id, "m2", "kept words"))
    await store.search(alice.id, search_words("code"), None, 5)  # indexed now
    await store.submit_change(NewReaction(bob.id, "bob", room_id, "r1", 1, "👍"))  # seq 3
    # the edit (seq 4) stays above the floor; the message it changed (seq 1) goes
    await store.submit_change(
        NewChange(alice.id, "alice", room_id, "e1", "edit", 1, f"now {SECRET} twice")
    )
    assert len(await store.search(bob.id, search_words(SECRET), None, 5)) == 1

    assert await store.prune(room_id, later(), limit=1) == 1
    assert await store.search(bob.id, search_words(SECRET), None, 5) == []
    assert [h.body for h in await store.search(bob.id, ["kept"], None, 5)] == ["kept words"]
    page = await store.history(await room_of(store, "general"), limit=10)
    assert page.floor == 2
    assert [(m.seq, m.kind, m.body) for m in page.messages] == [
        (2, None, "kept words"),
        (3, "react", ""),
        (4, "edit", ""),  # the edit of a message that is gone keeps no text
    ]
    if isinstance(backend, SQLiteBackend):
        assert isinstance(store, SQLiteStore)
        db = sqlite3.connect(backend.path)
        try:  # the search index itself, not only the search through the table
            found = db.execute(
                "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", (f'"{SECRET}"',)
            ).fetchall()
            assert found == []
            assert db.execute("SELECT COUNT(*) FROM reactions").fetchone() == (0,)
        finally:
            db.close()
        await store.sweep_done()
        await _wait_purged(store)
        db = sqlite3.connect(backend.path)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        assert _files_hold(backend.path, SECRET.encode()) == []
        assert _files_hold(backend.path, b"kept words") == ["chat.db"]  # the check can see
    else:
        assert isinstance(backend, PostgresBackend)
        [rows, reactions, index] = await backend._admin(
            f"SELECT id FROM messages WHERE body LIKE '%{SECRET}%'",
            "SELECT message_id FROM reactions",
            "SELECT id FROM messages WHERE to_tsvector('simple', body)"
            f" @@ plainto_tsquery('simple', '{SECRET}') AND kind = 0",
        )
        assert (rows, reactions, index) == ([], [], [])


async def test_a_room_keeps_its_own_limit_or_the_servers(store: AnyStore) -> None:
    alice, general = await member(store, "alice", "general")
    _, forever = await member(store, "alice", "archive")
    _, short = await member(store, "alice", "ephemeral")
    _, quiet = await member(store, "alice", "quiet")  # nothing said: nothing to prune
    for room_id in (general, forever, short):
        await store.append(NewMessage(alice.id, "alice", room_id, f"m{room_id}", "hello"))
    assert await store.set_retention("archive", 0)
    assert await store.set_retention("ephemeral", 3600)
    assert not await store.set_retention("nowhere", 60)

    assert await store.retention(forever) == Retention(1, 0)
    assert await store.retention(short) == Retention(1, 3600)
    assert (await store.retention(short)).effective(90 * 86400) == 3600
    assert (await store.retention(forever)).effective(90 * 86400) is None
    assert (await store.retention(general)).effective(90 * 86400) == 90 * 86400
    assert (await store.retention(general)).effective(None) is None
    assert await store.expiring_rooms(None) == [(short, 3600.0)]
    assert await store.expiring_rooms(86400) == [(general, 86400.0), (short, 3600.0)]
    assert quiet not in dict(await store.expiring_rooms(86400))

    assert await store.set_retention("ephemeral", None)  # back to the server's
    assert await store.expiring_rooms(None) == []


async def test_the_search_index_is_merged_after_a_sweep_not_between_its_prunes(
    tmp_path: Path,
) -> None:
    db = SQLiteStore(tmp_path / "chat.db")
    await db.open()
    try:
        alice, room_id = await member(db, "alice", "general")
        for i in range(4):
            await db.append(NewMessage(alice.id, "alice", room_id, f"m{i}", f"{SECRET} {i}"))
        await db.search(alice.id, search_words("swordfishqz"), None, 5)  # indexed now
        assert await db.prune(room_id, later(), limit=2) == 2
        assert not db._cache.purge  # no merge step may run between two prunes
        with sqlite3.connect(tmp_path / "chat.db") as conn:  # but a restart would purge
            assert conn.execute("SELECT purge FROM search_indexed").fetchone() == (1,)
        await db.sweep_done()
        await _wait_purged(db)
    finally:
        await db.close()


async def test_a_message_sent_after_its_room_was_pruned_to_the_end_is_found(
    store: AnyStore,
) -> None:
    # On SQLite the new message takes an erased message's id again (the highest ids went)
    alice, room_id = await member(store, "alice", "general")
    for i in range(3):
        await store.append(NewMessage(alice.id, "alice", room_id, f"m{i}", f"old note {i}"))
    assert len(await store.search(alice.id, search_words("note"), None, 5)) == 3
    assert await store.prune(room_id, later(), limit=10) == 3
    await store.append(NewMessage(alice.id, "alice", room_id, "m3", f"new {SECRET}"))
    [hit] = await store.search(alice.id, search_words(SECRET), None, 5)
    assert (hit.seq, hit.body) == (4, f"new {SECRET}")
    await store.submit_change(edit(alice.id, "alice", room_id, "e1", 4, "renamed"))
    assert await store.search(alice.id, search_words(SECRET), None, 5) == []
    assert [h.seq for h in await store.search(alice.id, search_words("renamed"), None, 5)] == [4]


def _index_faults(path: Path) -> list[Any]:
    """What FTS5's own check finds wrong in the search index, and the (word, message id)
    pairs it holds that it should not or lacks. (The check against the content table,
    'integrity-check' with rank 1, does not apply: the index holds only the plain messages
    up to its mark, not edits, deletes or reactions; the pairs come from an index built
    afresh of exactly those.)"""
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        try:
            conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
        except sqlite3.DatabaseError as exc:
            return [str(exc)]
        conn.execute("ATTACH ':memory:' AS ref")
        conn.execute("CREATE VIRTUAL TABLE ref.fts USING fts5(body, columnsize=0)")
        conn.execute(
            "INSERT INTO ref.fts (rowid, body) SELECT id, body FROM messages WHERE kind = 0"
            " AND deleted = 0 AND id <= (SELECT upto FROM search_indexed)"
        )
        conn.execute("CREATE VIRTUAL TABLE temp.held USING fts5vocab(main, messages_fts, instance)")
        conn.execute("CREATE VIRTUAL TABLE temp.due USING fts5vocab(ref, fts, instance)")
        pairs = "SELECT term, doc, offset FROM temp.{}"
        return conn.execute(
            f"SELECT * FROM ({pairs.format('held')} EXCEPT {pairs.format('due')})"
            f" UNION ALL SELECT * FROM ({pairs.format('due')} EXCEPT {pairs.format('held')})"
        ).fetchall()


Writes = Callable[[int, int], Awaitable[list[Awaitable[Any]]]]


async def _churn(db: SQLiteStore, path: Path, room_id: int, user_id: int, round_of: Writes) -> None:
    """24 rounds: four sends, then ``round_of(turn, last seq)``'s writes side by side; after
    each round the index holds exactly the words of the messages it should."""
    for turn in range(24):
        for i in range(4):
            sent = 4 * turn + i + 1
            await db.append(NewMessage(user_id, "alice", room_id, f"m{sent}", f"w{sent} x"))
        writes = await round_of(turn, await db.last_seq(room_id))
        done = await asyncio.gather(*writes, return_exceptions=True)  # some find no target
        assert [r for r in done if isinstance(r, StoreError)] == [], f"in round {turn}"
        assert _index_faults(path) == [], f"after round {turn}"


def _merge_steps(db: SQLiteStore) -> list[Awaitable[Any]]:
    return [db._committer.submit(PurgeSearch(SEARCH_PURGE_PAGES)) for _ in range(2)]


async def test_the_search_index_stays_whole_through_changes_prunes_and_merge_steps(
    tmp_path: Path,
) -> None:
    """Sends, edits, deletes, reactions, prunes that reach the room's newest entries, and
    the index's merge steps between them all, every message indexed first (a search)."""
    db = SQLiteStore(tmp_path / "chat.db")
    await db.open()
    try:
        alice, room_id = await member(db, "alice", "general")

        async def round_of(turn: int, last: int) -> list[Awaitable[Any]]:
            await db.search(alice.id, search_words("x"), None, 5)  # indexed now
            react = NewReaction(alice.id, "alice", room_id, f"r{turn}", last - 3, "+")
            return [
                db.submit_change(edit(alice.id, "alice", room_id, f"e{turn}", last, f"y{turn}")),
                db.submit_change(delete(alice.id, "alice", room_id, f"d{turn}", last - 2)),
                db.submit_change(react),
                db.prune(room_id, later(), limit=3 if turn % 4 else 20),
                *_merge_steps(db),
            ]

        await _churn(db, tmp_path / "chat.db", room_id, alice.id, round_of)
    finally:
        await db.close()


async def test_the_search_index_stays_whole_when_its_passes_leave_the_newest_out(
    tmp_path: Path,
) -> None:
    """The writer's own index passes leave the newest messages out (``SEARCH_INDEX_AGE``):
    edits, deletes and prunes (some reaching the room's newest entries, whose ids are then
    given again) of messages on both sides of the mark leave the index holding exactly the
    words it should, and a search then finds every live message."""
    db = SQLiteStore(tmp_path / "chat.db")
    await db.open()
    try:
        alice, room_id = await member(db, "alice", "general")

        async def round_of(turn: int, last: int) -> list[Awaitable[Any]]:
            await db._committer.submit(IndexSearch(db._cache.last_id - 2))  # the newest 2 out
            return [
                db.submit_change(edit(alice.id, "alice", room_id, f"e{turn}", last, f"y{turn}")),
                db.submit_change(edit(alice.id, "alice", room_id, f"f{turn}", last - 3, "z")),
                db.submit_change(delete(alice.id, "alice", room_id, f"d{turn}", last - 1)),
                db.prune(room_id, later(), limit=3 if turn % 4 else 20),
                db._committer.submit(IndexSearch(db._cache.last_id - 1)),
                *_merge_steps(db),
            ]

        await _churn(db, tmp_path / "chat.db", room_id, alice.id, round_of)
        page = await db.history(await room_of(db, "general"), limit=100)
        hits = await db.search(alice.id, search_words("x"), None, 100)
        assert {h.seq for h in hits} == {
            m.seq
            for m in page.messages
            if m.kind is None and not m.deleted and m.body.endswith(" x")
        }
        assert _index_faults(tmp_path / "chat.db") == []
    finally:
        await db.close()


async def test_a_mark_left_above_the_highest_id_comes_down_when_the_database_opens(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chat.db"
    db = SQLiteStore(path)
    await db.open()
    try:
        alice, room_id = await member(db, "alice", "general")
        for i in range(2):
            await db.append(NewMessage(alice.id, "alice", room_id, f"m{i}", f"note {i}"))
        assert len(await db.search(alice.id, search_words("note"), None, 5)) == 2
    finally:
        await db.close()
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:  # an older server's prune
        conn.execute(
            "INSERT INTO messages_fts (messages_fts, rowid, body)"
            " SELECT 'delete', id, body FROM messages WHERE seq = 2"
        )
        conn.execute("DELETE FROM messages WHERE seq = 2")
        assert conn.execute("SELECT upto FROM search_indexed").fetchone() == (2,)
    db = SQLiteStore(path)
    await db.open()
    try:
        await db.append(NewMessage(alice.id, "alice", room_id, "m2", f"fresh {SECRET}"))
        [hit] = await db.search(alice.id, search_words(SECRET), None, 5)
        assert (hit.seq, hit.body) == (3, f"fresh {SECRET}")
    finally:
        await db.close()
    assert _index_faults(path) == []


async def test_a_purge_a_change_makes_due_during_a_sweep_waits_for_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("chat_server.store.sqlite.store.SEARCH_PURGE_DELAY", 0.1)
    db = SQLiteStore(tmp_path / "chat.db")
    await db.open()
    try:
        alice, room_id = await member(db, "alice", "general")
        for i in range(4):
            await db.append(NewMessage(alice.id, "alice", room_id, f"m{i}", f"{SECRET} {i}"))
        await db.search(alice.id, search_words(SECRET), None, 5)  # indexed now
        assert await db.prune(room_id, later(), limit=2) == 2  # a sweep under way
        await db.submit_change(delete(alice.id, "alice", room_id, "d1", 4))
        assert db._cache.purge
        await asyncio.sleep(0.5)
        assert db._cache.purge  # no merge step between the sweep's prunes
        assert await db.prune(room_id, later(), limit=1) == 1
        assert db._cache.purge
        await db.sweep_done()
        await _wait_purged(db)
        assert [h.body for h in await db.search(alice.id, search_words(SECRET), None, 5)] == []
    finally:
        await db.close()
