"""The Store contract for the command line's rooms: the list, and a room erased.

Runs on every backend (``store_backends.py``), like test_store_accounts.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from chat_server.store import NewChange, NewMessage, NewReaction
from chat_server.store.rooms import CreateRoom
from tests.server.store_backends import AnyStore, member
from tests.server.store_backends import backend as backend  # the fixtures, for this module
from tests.server.store_backends import store as store


async def test_rooms_are_listed_by_name_with_their_kind_members_and_last_activity(
    store: AnyStore,
) -> None:
    alice, general = await member(store, "alice", "general")
    await member(store, "bob", "general")
    await store.create_room(CreateRoom(alice.id, "alice", "hiring", "c1", True, "shh"))
    bob = await store.user_by_nick("bob")
    assert bob is not None
    await store.open_dm("dm:alice:bob", (alice.id, bob.id))  # not listed
    await store.append(NewMessage(alice.id, "alice", general, "m1", "hello"))
    last = await store.append(NewMessage(alice.id, "alice", general, "m2", "again"))
    await member(store, "carol", "quiet")  # nothing said yet: its creation's time

    summaries = await store.room_summaries()
    assert [(s.name, s.private, s.members) for s in summaries] == [
        ("general", False, 2),
        ("hiring", True, 1),
        ("quiet", False, 1),
    ]
    assert summaries[0].last_activity == last.ts
    for summary in summaries[1:]:  # a create notice's time; the quiet room's creation
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", summary.last_activity)
        assert datetime.fromisoformat(summary.last_activity) > datetime.now(UTC) - timedelta(
            minutes=5
        )


async def test_a_removed_room_is_erased_and_its_name_free_again(store: AnyStore) -> None:
    alice, general = await member(store, "alice", "general")
    bob, _ = await member(store, "bob", "general")
    _, other = await member(store, "bob", "other")
    await store.append(NewMessage(alice.id, "alice", general, "m1", "the secret plan"))
    await store.append(NewMessage(bob.id, "bob", general, "m2", "another secret"))
    await store.submit_change(
        NewChange(alice.id, "alice", general, "e1", "edit", 1, "the edited secret")
    )
    await store.submit_change(NewReaction(bob.id, "bob", general, "r1", 2, "👍"))
    await store.append(NewMessage(bob.id, "bob", other, "m3", "a secret elsewhere"))
    assert len(await store.search(bob.id, ["secret"], None, 10)) == 3

    assert await store.remove_room("general")
    assert not await store.remove_room("general")  # gone already
    assert await store.room_by_name("general") is None
    assert [s.name for s in await store.room_summaries()] == ["other"]
    assert [r.room for r in await store.user_rooms(alice.id)] == []
    assert [r.room for r in await store.user_rooms(bob.id)] == ["other"]
    hits = await store.search(bob.id, ["secret"], None, 10)
    assert [(h.room, h.body) for h in hits] == [("other", "a secret elsewhere")]
    assert (await store.public_rooms(10)).rooms[0].room == "other"
    assert len((await store.public_rooms(10)).rooms) == 1

    again, created = await store.join(alice.id, "general", False)
    assert created and again.id != general
    fresh = await store.append(NewMessage(alice.id, "alice", again.id, "m4", "a new start"))
    assert fresh.seq == 1
    page = await store.history(again, limit=10)
    assert [m.body for m in page.messages] == ["a new start"]


async def test_direct_conversations_are_not_removed_by_name(store: AnyStore) -> None:
    alice = await store.create_user("alice", "hash")
    bob = await store.create_user("bob", "hash")
    await store.open_dm("dm:alice:bob", (alice.id, bob.id))
    assert not await store.remove_room("dm:alice:bob")
    assert await store.room_by_name("dm:alice:bob") is not None


async def test_a_message_sent_after_the_newest_room_was_removed_is_found(
    store: AnyStore,
) -> None:
    # On SQLite the new message takes an erased message's id again (the highest ids went)
    alice, other = await member(store, "alice", "other")
    _, general = await member(store, "alice", "general")
    await store.append(NewMessage(alice.id, "alice", other, "m1", "an older secret"))
    for i in range(3):
        await store.append(NewMessage(alice.id, "alice", general, f"g{i}", f"secret {i}"))
    assert len(await store.search(alice.id, ["secret"], None, 10)) == 4  # indexed now

    assert await store.remove_room("general")
    await store.append(NewMessage(alice.id, "alice", other, "m2", "a newer secret"))
    hits = await store.search(alice.id, ["secret"], None, 10)
    assert sorted(h.body for h in hits) == ["a newer secret", "an older secret"]
    await store.submit_change(NewChange(alice.id, "alice", other, "d1", "delete", 2))
    assert [h.body for h in await store.search(alice.id, ["secret"], None, 10)] == [
        "an older secret"
    ]
