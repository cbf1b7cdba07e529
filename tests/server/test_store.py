"""The Store contract for messages: group commit, idempotency, history pages, search, markers.

Runs on a real database, on every backend (``store_backends.py``: SQLite, and PostgreSQL when
``CHAT_TEST_DATABASE_URL`` is set); accounts and rooms are in test_store_accounts.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat_server.errors import NotMember, StoreError, TooCostly
from chat_server.store import NewMessage, SQLiteStore, search_words
from chat_server.store.postgres.store import PostgresStore
from chat_server.store.sqlite import change_runs
from chat_server.store.sqlite import search as fts
from chat_server.store.sqlite.batch import (
    CHECK_SQL,
    LAST_SEQ_SQL,
    READ_SEQ_SQL,
    SEARCH_SQL,
)
from chat_server.store.sqlite.values import STATEMENT_CACHE, TEMPLATES, chunk_sizes, values_sql
from tests.server.store_backends import AnyStore, Backend, SQLiteBackend, member
from tests.server.store_backends import backend as backend  # the fixtures, for this module
from tests.server.store_backends import store as store


async def test_group_commit_assigns_contiguous_seqs_in_submission_order(
    store: AnyStore,
) -> None:
    alice, room = await member(store, "alice", "general")
    before = store.stats["batches"]
    futures = [
        store.submit(NewMessage(alice.id, "alice", room, f"k{i}", f"message {i}"))
        for i in range(300)
    ]
    stored = await asyncio.gather(*futures)
    assert [s.seq for s in stored] == list(range(1, 301))
    assert all(s.new and s.room == "general" for s in stored)
    assert store.stats["batches"] - before < 30  # batched, not one commit per message
    page = await store.history((await store.room_by_name("general")), limit=500)  # type: ignore[arg-type]
    assert [m.body for m in page.messages] == [f"message {i}" for i in range(300)]


async def test_send_is_idempotent_per_author_and_key_forever(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    bob, _ = await member(store, "bob", "general")
    _, other_room = await member(store, "alice", "random")
    first = await store.append(NewMessage(alice.id, "alice", room, "k1", "hello"))
    again = await store.append(NewMessage(alice.id, "alice", other_room, "k1", "changed"))
    assert (again.seq, again.room, again.body, again.new) == (1, "general", "hello", False)
    bobs = await store.append(NewMessage(bob.id, "bob", room, "k1", "same key, other author"))
    assert (bobs.seq, bobs.new) == (2, True)
    twice = await asyncio.gather(
        store.submit(NewMessage(alice.id, "alice", room, "k2", "a")),
        store.submit(NewMessage(alice.id, "alice", room, "k2", "b")),
    )
    assert [(s.seq, s.new) for s in twice] == [(3, True), (3, False)]
    assert first.ts == again.ts
    assert await store.last_seq(room) == 3


async def test_non_member_cannot_post_and_nothing_is_stored(store: AnyStore) -> None:
    _, room = await member(store, "alice", "general")
    mallory = await store.create_user("mallory", "hash")
    with pytest.raises(NotMember):
        await store.append(NewMessage(mallory.id, "mallory", room, "k", "spam"))
    assert await store.last_seq(room) == 0


async def test_a_failed_batch_stores_nothing_and_the_next_one_carries_on(
    store: AnyStore, backend: Backend
) -> None:
    alice, room = await member(store, "alice", "general")
    await store.append(NewMessage(alice.id, "alice", room, "k0", "before"))
    await backend.sabotage("boom")
    results = await asyncio.gather(
        store.submit(NewMessage(alice.id, "alice", room, "k1", "fine")),
        store.submit(NewMessage(alice.id, "alice", room, "k2", "boom")),
        return_exceptions=True,
    )
    assert all(isinstance(r, StoreError) for r in results)
    after = await store.append(NewMessage(alice.id, "alice", room, "k1", "fine"))
    assert after.seq == 2  # no hole left by the failed batch
    assert await store.last_seq(room) == 2


async def test_history_pages_by_keyset(store: AnyStore) -> None:
    alice, room_id = await member(store, "alice", "general")
    await asyncio.gather(
        *(
            store.submit(NewMessage(alice.id, "alice", room_id, f"k{i}", f"m{i}"))
            for i in range(1, 251)
        )
    )
    room = await store.room_by_name("general")
    assert room is not None
    newest = await store.history(room, limit=100)
    assert [m.seq for m in newest.messages] == list(range(151, 251)) and newest.more
    older = await store.history(room, before=151, limit=100)
    assert [m.seq for m in older.messages] == list(range(51, 151)) and older.more
    oldest = await store.history(room, before=51, limit=100)
    assert [m.seq for m in oldest.messages] == list(range(1, 51)) and not oldest.more
    after = await store.history(room, after=200, limit=30)
    assert [m.seq for m in after.messages] == list(range(201, 231)) and after.more
    tail = await store.history(room, after=230, limit=30)
    assert [m.seq for m in tail.messages] == list(range(231, 251)) and not tail.more
    capped = await store.history(room, after=240, limit=30, upto=245)
    assert [m.seq for m in capped.messages] == list(range(241, 246)) and not capped.more
    past = await store.history(room, after=999, limit=10)
    assert past.messages == [] and not past.more
    beyond = await store.history(room, before=999, limit=3)  # a before past the end
    assert [m.seq for m in beyond.messages] == [248, 249, 250] and beyond.more
    joined = await store.history(room, before=251, limit=5, upto=240)  # a join's page
    assert [m.seq for m in joined.messages] == list(range(236, 241)) and joined.more
    assert (await store.history(room, before=1, limit=5)).messages == []
    start = await store.history(room, before=3, limit=5)
    assert [m.seq for m in start.messages] == [1, 2] and not start.more
    edge = await store.history(room, before=101, limit=100)  # exactly 100 left
    assert [m.seq for m in edge.messages] == list(range(1, 101)) and not edge.more
    first = newest.messages[0]
    assert (first.room, first.nick, first.body, first.id) == ("general", "alice", "m151", "k151")


async def test_search_takes_plain_words_in_the_users_rooms(store: AnyStore) -> None:
    alice, general = await member(store, "alice", "general")
    bob, secret = await member(store, "bob", "secret")
    await store.append(NewMessage(alice.id, "alice", general, "1", "deploy the foo-bar service"))
    await store.append(NewMessage(alice.id, "alice", general, "2", "foo again"))
    await store.append(NewMessage(bob.id, "bob", secret, "3", "foo in a room alice never joined"))
    hits = await store.search(alice.id, search_words("foo"), None, 50)
    assert [h.seq for h in hits] == [2, 1]  # newest first, only alice's rooms
    assert [h.body for h in await store.search(alice.id, search_words("foo-bar"), None, 50)] == [
        "deploy the foo-bar service"
    ]
    for query in ['"', 'foo"', "NEAR(foo bar)", "foo AND", "*", "body:foo", "-", "a OR b"]:
        await store.search(alice.id, search_words(query), None, 50)  # never a syntax error
    assert await store.search(alice.id, search_words("deploy service"), general, 50) != []
    assert await store.search(alice.id, search_words("deploy nothing"), None, 50) == []
    assert search_words('" -- ') == []


async def test_search_walks_the_users_rooms_newest_first_between_others(
    store: AnyStore,
) -> None:
    """Rooms whose messages interleave: the newest hits of the user's own rooms, in order,
    none of anyone else's; a room without messages and a word found nowhere find nothing."""
    alice, general = await member(store, "alice", "general")
    bob, ops = await member(store, "bob", "ops")
    await member(store, "bob", "general")
    _, empty = await member(store, "carol", "empty")
    for i in range(30):
        room, author = (general, alice) if i % 3 else (ops, bob)
        await store.append(NewMessage(author.id, author.nick, room, f"k{i}", f"needle {i}"))
    everywhere = await store.search(bob.id, ["needle"], None, 50)
    assert [h.body for h in everywhere] == [f"needle {i}" for i in reversed(range(30))]
    hits = await store.search(bob.id, ["needle"], ops, 4)
    assert [(h.room, h.body) for h in hits] == [("ops", f"needle {i}") for i in (27, 24, 21, 18)]
    assert [h.body for h in await store.search(alice.id, ["needle"], None, 3)] == [
        "needle 29",
        "needle 28",
        "needle 26",
    ]
    carol = await store.user_by_nick("carol")
    assert carol is not None
    assert await store.search(carol.id, ["needle"], None, 50) == []
    assert await store.search(carol.id, ["needle"], empty, 50) == []
    assert await store.search(bob.id, ["haystack"], None, 50) == []


async def test_an_sqlite_search_reads_the_index_in_the_direction_fts5_reads_fast(
    tmp_path: Path,
) -> None:
    """Near the newest message, the plan walks the full-text index newest first and stops
    at the limit, also once ANALYZE has run: it must not collect every match of a word to
    sort them. A window further down reads the index ascending (FTS5 is asked for no
    order) and sorts only that window's hits. (PostgreSQL's GIN index has no order.)"""
    sqlite = SQLiteBackend(tmp_path / "chat.db")
    store = sqlite.store()
    await store.open()
    try:
        alice, room = await member(store, "alice", "general")
        await store.append(NewMessage(alice.id, "alice", room, "k", "needle"))
        await store.search(alice.id, ["needle"], None, 5)  # indexed now
    finally:
        await store.close()
    for in_room in (False, True):
        params = (alice.id, "needle", 5, room, 1, 10)
        plan = await sqlite.plan(fts.FIND_SQL[in_room, True], *params)
        assert "VIRTUAL TABLE INDEX" in plan and "TEMP B-TREE" not in plan, plan
        plan = await sqlite.plan(fts.FIND_SQL[in_room, False], *params)
        assert plan.startswith("SCAN f VIRTUAL TABLE INDEX"), plan
        assert plan.endswith("USE TEMP B-TREE FOR ORDER BY"), plan


async def test_a_search_in_steps_finds_what_one_query_would(
    backend: Backend, store: AnyStore
) -> None:
    """Hits above and below a step (rooms interleaved) come back as one query would give
    them: the newest first, nothing twice, none missed, none of a room the user is not
    in. PostgreSQL walks 4, 1 or 100,000 entries before it asks the index; SQLite reads
    windows of 4, 1 or 100,000 rowids, or one newest-first query."""
    alice, general = await member(store, "alice", "general")
    bob, ops = await member(store, "bob", "ops")
    await member(store, "bob", "general")
    words = {i: "needle" if i % 5 == 0 else "hay" for i in range(40)}
    words.update({38: "needle rare", 2: "rare"})
    for i, text in words.items():
        room, author = (general, alice) if i % 3 else (ops, bob)
        await store.append(NewMessage(author.id, author.nick, room, f"k{i}", f"{text} {i}"))

    def newest(word: str, rooms: set[int], limit: int) -> list[str]:
        hits = [f"{words[i]} {i}" for i in reversed(range(40)) if word in words[i].split()]
        chosen = [h for h in hits if (general if int(h.split()[-1]) % 3 else ops) in rooms]
        return chosen[:limit]

    # (who, the room asked, the limit, the rooms whose hits count)
    cases: list[tuple[int, int | None, int, set[int]]] = [
        (bob.id, None, 50, {general, ops}),
        (bob.id, None, 3, {general, ops}),
        (bob.id, ops, 50, {ops}),
        (bob.id, general, 2, {general}),
        (alice.id, None, 50, {general}),
        (alice.id, ops, 50, set()),  # not hers: nothing
    ]
    if isinstance(store, PostgresStore):
        settings = [{"search_walk": n} for n in (4, 1, 100_000)]
    else:  # a reach of 0: windows whatever the rooms; past every message: one query
        settings = [{"search_window": n, "search_reach": 0} for n in (4, 1, 100_000)]
        settings.append({"search_reach": 1000})
    for setting in settings:
        for name, value in setting.items():
            setattr(store, name, value)
        for user, asked, limit, rooms in cases:
            for word in ("needle", "rare", "absent"):
                hits = await store.search(user, [word], asked, limit)
                assert [h.body for h in hits] == newest(word, rooms, limit), (setting, asked, word)


async def test_a_search_past_its_deadline_is_stopped(backend: Backend, store: AnyStore) -> None:
    """A search whose query runs longer than its deadline raises TooCostly, changes
    nothing, and the next search (without one) is answered as ever."""
    alice, archive = await member(store, "alice", "archive")
    mallory, den = await member(store, "mallory", "den")
    await store.append(NewMessage(mallory.id, "mallory", den, "first", "needle in the den"))
    await asyncio.gather(
        *(
            store.submit(NewMessage(alice.id, "alice", archive, f"k{i}", f"needle {i}"))
            for i in range(2000)
        )
    )
    await store.append(NewMessage(mallory.id, "mallory", den, "last", "the den again"))
    # mallory's only hit lies below alice's 2,000: her search walks through them all. SQLite
    # looks at the clock every few thousand steps of its engine, so a deadline of 0 stops
    # it there; PostgreSQL's round trip alone outlasts a microsecond.
    deadline = 0.0 if backend.name == "sqlite" else 1e-6
    with pytest.raises(TooCostly):
        await store.search(mallory.id, ["needle"], None, 50, deadline=deadline)
    [hit] = await store.search(mallory.id, ["needle"], None, 50)
    assert (hit.room, hit.body) == ("den", "needle in the den")
    assert len(await store.search(alice.id, ["needle"], archive, 50, deadline=60.0)) == 50


async def test_read_markers_move_forward_and_clamp(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    bob, _ = await member(store, "bob", "general")
    for i in range(5):
        await store.append(NewMessage(bob.id, "bob", room, f"k{i}", "hi"))
    assert await store.mark_read(alice.id, room, 2) == 2
    assert await store.mark_read(alice.id, room, 1) is None  # never back
    assert await store.mark_read(alice.id, room, 99) == 5  # clamped to last_seq
    [state] = await store.user_rooms(alice.id)
    assert (state.room, state.last_seq, state.read_seq, state.unread) == ("general", 5, 5, 0)


async def test_unread_counts_other_peoples_messages(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    bob, _ = await member(store, "bob", "general")
    await store.append(NewMessage(bob.id, "bob", room, "b1", "one"))
    await store.append(NewMessage(bob.id, "bob", room, "b2", "two"))
    [state] = await store.user_rooms(alice.id)
    assert (state.read_seq, state.unread) == (0, 2)
    await store.append(NewMessage(alice.id, "alice", room, "a1", "mine"))
    [state] = await store.user_rooms(alice.id)
    assert (state.read_seq, state.unread) == (3, 0)  # sending moves your marker
    [bobs] = await store.user_rooms(bob.id)
    assert (bobs.read_seq, bobs.unread) == (2, 1)


@pytest.fixture
async def two_nodes(backend: Backend) -> AsyncIterator[tuple[AnyStore, AnyStore]]:
    """Two stores on one database, as two server nodes (PostgreSQL only: a SQLite file has
    one server process, whose writer caches last_seq)."""
    if backend.name == "sqlite":
        pytest.skip("a SQLite file has one server process: its writer caches last_seq")
    node_a, node_b = backend.store(), backend.store()
    await node_a.open()
    await node_b.open()
    yield node_a, node_b
    await node_a.close()
    await node_b.close()


async def test_several_nodes_writing_one_room_get_contiguous_seqs(
    two_nodes: tuple[AnyStore, AnyStore],
) -> None:
    """Two stores on one database, as two server nodes: seqs stay contiguous, keys unique."""
    node_a, node_b = two_nodes
    alice, room = await member(node_a, "alice", "general")
    bob, _ = await member(node_b, "bob", "general")
    _, other_room = await member(node_b, "bob", "random")
    futures = []
    for i in range(200):
        futures.append(node_a.submit(NewMessage(alice.id, "alice", room, f"a{i}", "from A")))
        futures.append(node_b.submit(NewMessage(bob.id, "bob", room, f"b{i}", "from B")))
        # the same key sent through both nodes (a client retrying elsewhere): stored once
        futures.append(node_b.submit(NewMessage(alice.id, "alice", room, f"a{i}", "retry")))
    futures.append(node_a.submit(NewMessage(bob.id, "bob", other_room, "b-other", "x")))
    stored = await asyncio.gather(*futures)
    general = [s for s in stored if s.room == "general" and s.new]
    assert sorted(s.seq for s in general) == list(range(1, 401))
    by_key = {(s.nick, s.client_id): s.seq for s in general}
    assert len(by_key) == 400
    retries = stored[2:-1:3]
    assert all(s.seq == by_key[("alice", s.client_id)] for s in retries)
    room_obj = await node_b.room_by_name("general")
    assert room_obj is not None
    page = await node_b.history(room_obj, limit=500)
    assert [m.seq for m in page.messages] == list(range(1, 401))
    assert sorted(m.nick for m in page.messages) == ["alice"] * 200 + ["bob"] * 200
    assert {m.body for m in page.messages if m.nick == "bob"} == {"from B"}
    assert stored[-1].seq == 1 and await node_a.last_seq(other_room) == 1

    # one key, two rooms, two nodes at once: one message; the other send gets its ack
    await member(node_a, "alice", "random")
    racing = await asyncio.gather(
        *(
            store.submit(NewMessage(alice.id, "alice", room_id, f"r{i}", "race"))
            for i in range(20)
            for store, room_id in ((node_a, room), (node_b, other_room))
        )
    )
    for first, second in zip(racing[::2], racing[1::2], strict=True):
        assert (first.room, first.seq) == (second.room, second.seq)
        assert first.new != second.new
    stored_now = await node_a.last_seq(room) + await node_a.last_seq(other_room)
    assert stored_now == 400 + 1 + 20


async def test_two_nodes_batches_of_replies_and_sends_in_two_rooms_never_deadlock(
    two_nodes: tuple[AnyStore, AnyStore], caplog: pytest.LogCaptureFixture
) -> None:
    """Each node's batches write both rooms, a reply (its own savepoint) in one and a run of
    sends in the other, in opposite orders on the two nodes: every batch takes its rooms'
    locks in one order first, so none waits for the other node's in a cycle (PostgreSQL
    would end one in a deadlock error, and the node would retry its batch)."""
    node_a, node_b = two_nodes
    alice, general = await member(node_a, "alice", "general")
    _, random = await member(node_a, "alice", "random")
    bob, _ = await member(node_b, "bob", "general")
    await member(node_b, "bob", "random")
    for room in (general, random):
        await node_a.append(NewMessage(alice.id, "alice", room, f"root{room}", "root"))
    futures = []
    for i in range(40):
        for node, user, first, second in (
            (node_a, alice, random, general),
            (node_b, bob, general, random),
        ):
            nick = "alice" if user is alice else "bob"
            futures.append(
                node.submit(NewMessage(user.id, nick, first, f"re{i}", "reply", reply_to=1))
            )
            futures.extend(
                node.submit(NewMessage(user.id, nick, second, f"s{i}-{j}", "send"))
                for j in range(3)
            )
    with caplog.at_level("INFO", logger="chat_server.store.postgres.store"):
        stored = await asyncio.wait_for(asyncio.gather(*futures), 60)
    assert all(s.new for s in stored)
    for name in ("general", "random"):
        seqs = sorted(s.seq for s in stored if s.room == name)
        assert seqs == list(range(2, 2 + 160))  # after the root: none lost, none twice
    assert "raced another node" not in caplog.text


async def test_sqlite_batch_statements_search_the_indexes(tmp_path: Path) -> None:
    """The statements of every batch (idempotency, membership and target lookups, seq, read
    marker and changed message updates) find their rows by index, never by a scan of
    ``messages``, ``memberships``, ``rooms`` or ``reactions``: with a scan, each batch costs
    more as the database grows."""
    db = SQLiteStore(tmp_path / "chat.db")
    await db.open()
    try:
        alice, room = await member(db, "alice", "general")
        bob = await db.create_user("bob", "hash")
        # more than a batch (512) and than a statement's chunk (400 rows) at once
        sends = [NewMessage(alice.id, "alice", room, f"k{i}", f"m{i}") for i in range(1000)]
        first = await asyncio.gather(*(db.submit(m) for m in sends))
        again = await asyncio.gather(*(db.submit(m) for m in sends[::10]))
        outsider = db.submit(NewMessage(bob.id, "bob", room, "b1", "not a member"))
        with pytest.raises(NotMember, match="not a member"):
            await outsider
        assert [s.seq for s in first] == list(range(1, 1001))
        assert [(s.seq, s.new) for s in again] == [(s.seq, False) for s in first[::10]]
        assert (await db.user_rooms(alice.id))[0].read_seq == 1000
        page = await db.history((await db.room_by_name("general")), limit=1000)  # type: ignore[arg-type]
        assert [m.body for m in page.messages] == [f"m{i}" for i in range(1000)]
    finally:
        await db.close()
    statements = (
        (CHECK_SQL, (alice.id, "k1", room)),
        (LAST_SEQ_SQL, (room, 1001)),
        (READ_SEQ_SQL, (alice.id, room, 1001, 1)),
        # a run of edits and reactions (change_runs.py)
        (change_runs.CHECK_SQL, (0, alice.id, "k1", room, 5, "+1")),
        (change_runs.EMOJI_SQL, (5,)),
        (change_runs.TARGET_SQL, (5, "new", "2026-12-03T10:00:00.000Z", 1001)),
        (change_runs.EDITS_SQL, (room, 5, "new")),
        (change_runs.SEARCH_OUT_SQL, (5,)),
        (change_runs.SEARCH_IN_SQL, (5,)),
    )
    with sqlite3.connect(tmp_path / "chat.db") as conn:  # no ANALYZE, as in the server
        for template, row in statements:
            sql = "EXPLAIN QUERY PLAN " + values_sql(template, 50, len(row))
            plan = [step[3] for step in conn.execute(sql, row * 50)]
            # the only scans allowed are of the statement's own VALUES table
            scans = [s for s in plan if s.startswith("SCAN") and s not in ("SCAN k", "SCAN v")]
            assert all("CONSTANT ROW" in s for s in scans), (template, plan)
            assert [s for s in plan if s.startswith("SEARCH")], (template, plan)
        plan = [step[3] for step in conn.execute("EXPLAIN QUERY PLAN " + SEARCH_SQL, (10, 20))]
        assert plan == ["SEARCH messages USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"], plan


def test_sqlite_batch_statements_come_in_few_sizes() -> None:
    """A batch of any size runs as statements of at most 31 row counts per template, so
    the writer's statement cache keeps every compiled one, and in two statements per
    template up to 256 rows."""
    seen: set[int] = set()
    for rows in range(1, 1200):
        sizes = list(chunk_sizes(rows))
        assert sum(sizes) == rows
        assert len(sizes) <= 2 + rows // 256
        seen.update(sizes)
    assert len(seen) <= 31 and max(seen) == 256
    assert TEMPLATES * len(seen) + 50 <= STATEMENT_CACHE  # every template's sizes, and the rest
