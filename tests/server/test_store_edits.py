"""The Store contract for messages that change: edits and deletes are entries of the room's
log, a message is read as it is now, and a delete erases its text everywhere it was stored.

Runs on every backend (``store_backends.py``: SQLite, and PostgreSQL when
``CHAT_TEST_DATABASE_URL`` is set).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chat_server.errors import Conflict, Forbidden, NotFound, NotMember
from chat_server.store import NewChange, NewMessage, NewReaction, Room, SQLiteStore, search_words
from chat_server.store.sqlite import changes
from tests.server.store_backends import AnyStore, Backend, PostgresBackend, SQLiteBackend, member
from tests.server.store_backends import backend as backend  # the fixtures, for this module
from tests.server.store_backends import store as store

SECRET = "hunter2zqxj"


def edit(user_id: int, nick: str, room: int, key: str, target: int, body: str) -> NewChange:
    return NewChange(user_id, nick, room, key, "edit", target, body)


def delete(
    user_id: int, nick: str, room: int, key: str, target: int, reason: str | None = None
) -> NewChange:
    return NewChange(user_id, nick, room, key, "delete", target, reason=reason)


async def room_of(store: AnyStore, name: str) -> Room:
    room = await store.room_by_name(name)
    assert room is not None
    return room


async def test_an_edit_is_the_next_entry_and_the_message_reads_as_edited(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    bob, _ = await member(store, "bob", "general")
    await store.append(NewMessage(alice.id, "alice", room, "m1", "helo"))
    await store.append(NewMessage(bob.id, "bob", room, "m2", "hi"))
    first = await store.submit_change(edit(alice.id, "alice", room, "e1", 1, "hello"))
    assert (first.seq, first.kind, first.target, first.body, first.new) == (
        3,
        "edit",
        1,
        "hello",
        True,
    )
    second = await store.submit_change(edit(alice.id, "alice", room, "e2", 1, "hello, bob"))
    assert second.seq == 4 and await store.last_seq(room) == 4
    page = await store.history(await room_of(store, "general"), limit=10)
    message, reply, entry1, entry2 = page.messages
    assert (message.body, message.edited, message.version) == ("hello, bob", second.ts, 4)
    assert (message.kind, message.deleted) == (None, False)
    assert (reply.body, reply.edited, reply.version) == ("hi", None, None)  # untouched
    # every edit entry carries the current text: no earlier version is kept
    assert [(e.kind, e.target, e.body, e.id) for e in (entry1, entry2)] == [
        ("edit", 1, "hello, bob", "e1"),
        ("edit", 1, "hello, bob", "e2"),
    ]
    after = await store.history(await room_of(store, "general"), after=2, limit=10)
    assert [m.seq for m in after.messages] == [3, 4]  # a client catches up on the changes


async def test_the_same_key_again_answers_the_first_ack(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    await store.append(NewMessage(alice.id, "alice", room, "m1", "one"))
    first = await store.submit_change(edit(alice.id, "alice", room, "e1", 1, "two"))
    again = await store.submit_change(edit(alice.id, "alice", room, "e1", 1, "three"))
    assert (again.seq, again.ts, again.body, again.new) == (first.seq, first.ts, "two", False)
    twice = await asyncio.gather(
        store.submit_change(delete(alice.id, "alice", room, "d1", 1)),
        store.submit_change(delete(alice.id, "alice", room, "d1", 1)),
    )
    assert [(s.seq, s.new) for s in twice] == [(3, True), (3, False)]
    # a second delete with another key answers with the first delete's seq and ts
    other = await store.submit_change(delete(alice.id, "alice", room, "d2", 1))
    assert (other.seq, other.ts, other.client_id, other.new) == (3, twice[0].ts, "d2", False)
    assert await store.last_seq(room) == 3


async def test_who_may_change_what(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    bob, _ = await member(store, "bob", "general")
    mallory = await store.create_user("mallory", "hash")
    await store.append(NewMessage(alice.id, "alice", room, "m1", "mine"))
    with pytest.raises(Forbidden):
        await store.submit_change(edit(bob.id, "bob", room, "b1", 1, "yours now"))
    with pytest.raises(Forbidden):
        await store.submit_change(delete(bob.id, "bob", room, "b2", 1))
    with pytest.raises(NotFound):
        await store.submit_change(edit(alice.id, "alice", room, "a1", 9, "nothing there"))
    with pytest.raises(NotMember):
        await store.submit_change(delete(mallory.id, "mallory", room, "x1", 1))
    await store.submit_change(edit(alice.id, "alice", room, "a2", 1, "mine, fixed"))
    with pytest.raises(NotFound):  # an entry that is a change, not a message
        await store.submit_change(edit(alice.id, "alice", room, "a3", 2, "edit the edit"))
    await store.set_admin(bob.id, True)  # a server admin deletes anyone's message
    with pytest.raises(Forbidden):  # but edits only their own
        await store.submit_change(edit(bob.id, "bob", room, "b3", 1, "theirs"))
    await store.set_admin(mallory.id, True)
    with pytest.raises(NotMember):  # an admin too, in a room they are not in
        await store.submit_change(delete(mallory.id, "mallory", room, "x2", 1))
    moderated = await store.submit_change(delete(bob.id, "bob", room, "b4", 1))
    assert (moderated.seq, moderated.nick, moderated.moderated) == (3, "bob", "alice")
    with pytest.raises(NotFound):  # a deleted message cannot be edited
        await store.submit_change(edit(alice.id, "alice", room, "a4", 1, "back"))
    assert await store.last_seq(room) == 3  # refusals take no seq


async def test_a_delete_leaves_tombstones_and_only_messages_count_as_unread(
    store: AnyStore,
) -> None:
    alice, room = await member(store, "alice", "general")
    bob, _ = await member(store, "bob", "general")
    await store.append(NewMessage(alice.id, "alice", room, "m1", f"my password is {SECRET}"))
    await store.submit_change(edit(alice.id, "alice", room, "e1", 1, f"still {SECRET}"))
    gone = await store.submit_change(delete(alice.id, "alice", room, "d1", 1, "oops"))
    assert (gone.seq, gone.kind, gone.body, gone.reason) == (3, "delete", "", "oops")
    page = await store.history(await room_of(store, "general"), limit=10)
    message, edit_entry, delete_entry = page.messages
    assert (message.body, message.deleted, message.version) == ("", True, 3)
    assert (edit_entry.kind, edit_entry.body, edit_entry.deleted) == ("edit", "", True)
    assert (delete_entry.kind, delete_entry.target, delete_entry.reason) == ("delete", 1, "oops")
    assert all(SECRET not in m.body for m in page.messages)
    [bobs] = await store.user_rooms(bob.id)
    assert (bobs.last_seq, bobs.unread) == (3, 1)  # the message, not its changes
    [alices] = await store.user_rooms(alice.id)
    assert alices.read_seq == 3  # your own change moves your marker


async def test_changes_and_sends_in_one_batch_keep_seqs_contiguous(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    await store.append(NewMessage(alice.id, "alice", room, "m0", "first"))
    futures: list[asyncio.Future[Any]] = []
    for i in range(1, 31):
        futures.append(store.submit(NewMessage(alice.id, "alice", room, f"m{i}", f"n{i}")))
        futures.append(store.submit_change(edit(alice.id, "alice", room, f"e{i}", 1, f"v{i}")))
        futures.append(store.submit_change(edit(alice.id, "alice", room, f"x{i}", 999, "no")))
    results = await asyncio.gather(*futures, return_exceptions=True)
    seqs = sorted(r.seq for r in results if not isinstance(r, BaseException))
    assert seqs == list(range(2, 62))
    assert sum(isinstance(r, NotFound) for r in results) == 30
    page = await store.history(await room_of(store, "general"), limit=100)
    assert [m.seq for m in page.messages] == list(range(1, 62))
    assert (page.messages[0].body, page.messages[0].version) == ("v30", 61)


async def test_search_finds_the_current_text_of_messages_only(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    await store.append(NewMessage(alice.id, "alice", room, "m1", "deploy alpha"))
    await store.append(NewMessage(alice.id, "alice", room, "m2", "deploy beta"))
    words = search_words
    assert len(await store.search(alice.id, words("deploy"), None, 50)) == 2  # both indexed
    await store.submit_change(edit(alice.id, "alice", room, "e1", 1, "deploy gamma"))
    await store.append(NewMessage(alice.id, "alice", room, "m3", "delta unindexed"))
    await store.submit_change(edit(alice.id, "alice", room, "e2", 4, "epsilon"))  # not yet indexed
    assert await store.search(alice.id, words("alpha"), None, 50) == []
    [hit] = await store.search(alice.id, words("gamma"), None, 50)
    assert (hit.seq, hit.body, hit.version) == (1, "deploy gamma", 3)  # never the edit's row
    assert await store.search(alice.id, words("delta"), None, 50) == []
    assert [h.seq for h in await store.search(alice.id, words("epsilon"), None, 50)] == [4]
    await store.submit_change(delete(alice.id, "alice", room, "d1", 1))
    await store.submit_change(delete(alice.id, "alice", room, "d2", 4))
    assert [h.seq for h in await store.search(alice.id, words("deploy"), None, 50)] == [2]
    for word in ("gamma", "epsilon"):
        assert await store.search(alice.id, words(word), None, 50) == []


async def _wait_purged(db: SQLiteStore) -> None:
    for _ in range(100):
        if not db._cache.purge:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the search index was not purged")


def _files_hold(path: Path, text: bytes) -> list[str]:
    return [
        file.name
        for file in (path, path.with_name(path.name + "-wal"))
        if file.exists() and text in file.read_bytes()
    ]


async def test_a_deleted_text_is_in_no_file_and_no_table(store: AnyStore, backend: Backend) -> None:
    alice, room = await member(store, "alice", "general")
    await store.append(NewMessage(alice.id, "alice", room, "m0", "before"))
    await store.append(NewMessage(alice.id, "alice", room, "m1", f"the key is {SECRET}"))
    await store.search(alice.id, search_words("key"), None, 5)  # indexed now
    await store.submit_change(edit(alice.id, "alice", room, "e1", 2, f"really {SECRET}"))
    await store.submit_change(NewReaction(alice.id, "alice", room, "k1", 2, f":{SECRET}:"))
    for i in range(20):  # other traffic before and after
        await store.append(NewMessage(alice.id, "alice", room, f"n{i}", f"filler {i}"))
    await store.submit_change(delete(alice.id, "alice", room, "d1", 2))
    assert await store.search(alice.id, search_words(SECRET), None, 5) == []
    if isinstance(backend, SQLiteBackend):
        assert isinstance(store, SQLiteStore)
        await _wait_purged(store)
        db = sqlite3.connect(backend.path)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        assert _files_hold(backend.path, SECRET.encode()) == []
        assert _files_hold(backend.path, b"before") == ["chat.db"]  # the check can see text
    else:
        assert isinstance(backend, PostgresBackend)
        [rows] = await backend._admin(
            f"SELECT id FROM messages WHERE body LIKE '%{SECRET}%' OR reason LIKE '%{SECRET}%'"
            f" UNION ALL SELECT message_id FROM reactions WHERE emoji LIKE '%{SECRET}%'"
        )
        assert rows == []


async def test_a_purge_left_undone_is_done_when_the_database_opens(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    db = SQLiteStore(path)
    await db.open()
    alice, room = await member(db, "alice", "general")
    await db.append(NewMessage(alice.id, "alice", room, "m1", f"oops {SECRET}"))
    await db.close()  # indexed on the way out
    conn = sqlite3.connect(path, isolation_level=None)
    try:  # a delete as the writer makes it, whose server died before the purge
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute(
            "INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', 1, ?)",
            (f"oops {SECRET}",),
        )
        conn.execute("UPDATE messages SET body = '', deleted = 1 WHERE id = 1")
        conn.execute("UPDATE search_indexed SET purge = 1")
    finally:
        conn.close()
    assert _files_hold(path, SECRET.encode()) != []  # in the index's segments still
    again = SQLiteStore(path)
    await again.open()
    await again.close()
    assert _files_hold(path, SECRET.encode()) == []
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT purge FROM search_indexed").fetchone() == (0,)
    finally:
        conn.close()


async def test_purges_of_the_search_index_are_spaced_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("chat_server.store.sqlite.store.SEARCH_PURGE_INTERVAL", 1.5)
    db = SQLiteStore(tmp_path / "chat.db")
    await db.open()
    try:
        alice, room = await member(db, "alice", "general")
        for i in (1, 2):
            await db.append(NewMessage(alice.id, "alice", room, f"m{i}", f"text {i}"))
        await db.search(alice.id, search_words("text"), None, 5)  # both indexed
        await db.submit_change(delete(alice.id, "alice", room, "d1", 1))
        await _wait_purged(db)  # the first soon after the change
        await db.submit_change(delete(alice.id, "alice", room, "d2", 2))
        await asyncio.sleep(0.8)
        assert db._cache.purge  # the next one waits out the interval
        await _wait_purged(db)
    finally:
        await db.close()


async def test_a_long_purge_is_followed_by_a_longer_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A purge rewrites the whole index: the larger it is, the longer the pause after it
    (SEARCH_PURGE_SPACING times its length), so purges never take most of the writer."""
    monkeypatch.setattr("chat_server.store.sqlite.store.SEARCH_PURGE_INTERVAL", 0.1)
    real = changes.purge_search

    def slow(conn: sqlite3.Connection, known: Any, pages: int | None = None) -> bool:
        time.sleep(0.2)  # as a step of a large index
        return real(conn, known, pages)

    monkeypatch.setattr("chat_server.store.sqlite.batch.purge_search", slow)
    db = SQLiteStore(tmp_path / "chat.db")
    await db.open()
    try:
        alice, room = await member(db, "alice", "general")
        for i in (1, 2):
            await db.append(NewMessage(alice.id, "alice", room, f"m{i}", f"text {i}"))
        await db.search(alice.id, search_words("text"), None, 5)  # both indexed
        await db.submit_change(delete(alice.id, "alice", room, "d1", 1))
        await _wait_purged(db)  # at least 0.2 s long: the next waits 1.8 s or more
        await db.submit_change(delete(alice.id, "alice", room, "d2", 2))
        await asyncio.sleep(1.0)  # ten times the interval
        assert db._cache.purge  # still waiting: the spacing, not the interval, decides
        await _wait_purged(db)
    finally:
        await db.close()


async def test_a_purge_goes_in_steps_and_a_send_waits_for_one_at_most(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index's merge after a delete is many small steps of the writer's; a send that
    comes during one is written right after it, long before the last, and the deleted
    words are gone at the end."""
    monkeypatch.setattr("chat_server.store.sqlite.store.SEARCH_PURGE_PAGES", 1)
    events: list[str] = []
    first_step, go_on = threading.Event(), threading.Event()
    real = changes.purge_search

    def counted(conn: sqlite3.Connection, known: Any, pages: int | None = None) -> bool:
        done = real(conn, known, pages)
        events.append("last step" if done else "step")
        if not first_step.is_set():  # hold the writer in the first step until bob sends
            first_step.set()
            go_on.wait(5)
        return done

    monkeypatch.setattr("chat_server.store.sqlite.batch.purge_search", counted)
    path = tmp_path / "chat.db"
    db = SQLiteStore(path)
    await db.open()
    try:
        alice, room = await member(db, "alice", "general")
        bob, _ = await member(db, "bob", "general")
        await db.append(NewMessage(alice.id, "alice", room, "m0", f"the key is {SECRET}"))
        for start in range(0, 3000, 500):  # an index of several segments and many pages
            await asyncio.gather(
                *(
                    db.append(NewMessage(alice.id, "alice", room, f"n{i}", f"filler words {i}"))
                    for i in range(start, start + 500)
                )
            )
            await db.search(alice.id, search_words("filler"), None, 1)  # indexed now
        await db.submit_change(delete(alice.id, "alice", room, "d1", 1))
        assert await asyncio.to_thread(first_step.wait, 5), "the purge started"
        during = db.submit(NewMessage(bob.id, "bob", room, "b1", "meanwhile"))
        go_on.set()
        assert (await during).new
        events.append("bob's ack")
        await _wait_purged(db)
        assert events.count("step") > 2 and events[-1] == "last step"
        assert events.index("bob's ack") < len(events) - 1, "acked before the purge ended"
    finally:
        go_on.set()
        await db.close()
    assert _files_hold(path, SECRET.encode()) == []


async def test_a_run_of_changes_the_database_refuses_goes_one_change_at_a_time(
    tmp_path: Path,
) -> None:
    """When the database refuses a write of a run of edits and reactions (here a trigger,
    as a failing disk would), the run leaves nothing and its changes are applied one at a
    time: only the refused one fails, the others keep contiguous seqs."""
    backend = SQLiteBackend(tmp_path / "chat.db")
    db = backend.store()
    await db.open()
    try:
        alice, room = await member(db, "alice", "general")
        bob, _ = await member(db, "bob", "general")
        await db.append(NewMessage(alice.id, "alice", room, "m1", "one"))
        await backend.sabotage("boom")
        results = await asyncio.gather(
            db.submit_change(NewReaction(bob.id, "bob", room, "r1", 1, "👍")),
            db.submit_change(edit(alice.id, "alice", room, "e1", 1, "fixed")),
            db.submit_change(edit(alice.id, "alice", room, "e2", 1, "boom")),
            return_exceptions=True,
        )
        reaction, fixed, refused = results
        assert isinstance(refused, Conflict)
        assert not isinstance(reaction, BaseException) and not isinstance(fixed, BaseException)
        assert [(r.seq, r.new) for r in (reaction, fixed)] == [(2, True), (3, True)]
        after = await db.append(NewMessage(bob.id, "bob", room, "m2", "two"))
        assert after.seq == 4
        page = await db.history(await room_of(db, "general"), limit=10)
        assert [m.seq for m in page.messages] == [1, 2, 3, 4]
        message = page.messages[0]
        assert (message.body, message.version, [r.nicks for r in message.reactions]) == (
            "fixed",
            3,
            [["bob"]],
        )
    finally:
        await db.close()
