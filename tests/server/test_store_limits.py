"""The Store contract for what keeps one user from exhausting the others: the rooms list a
page at a time (by size), and the quota of rooms a user may join and create. Runs on every
backend (the fixtures of store_backends.py), like test_store.py."""

from __future__ import annotations

import asyncio

import pytest

from chat_server import protocol as p
from chat_server.errors import OverLimit
from chat_server.store import RoomQuota, RoomsPage
from chat_server.store.base import CREATION_WINDOW
from tests.server.store_backends import AnyStore
from tests.server.store_backends import backend as backend  # the fixtures, for this module
from tests.server.store_backends import store as store


async def walk(store: AnyStore, limit: int) -> tuple[list[tuple[str, int]], list[RoomsPage]]:
    """Every room along the cursors, as a client pages (through the wire cursor)."""
    pages: list[RoomsPage] = []
    after: tuple[int, str] | None = None
    while True:
        page = await store.public_rooms(limit, after)
        pages.append(page)
        assert len(page.rooms) <= limit
        if not page.more:
            break
        after = p.rooms_after(p.rooms_cursor(page.rooms[-1]))
    return [(r.room, r.members) for page in pages for r in page.rooms], pages


async def test_rooms_pages_walk_every_public_room_once_biggest_first(store: AnyStore) -> None:
    users = [await store.create_user(f"u{i}", "hash") for i in range(6)]
    sizes = {"a": 3, "b": 3, "c": 5, "d": 1, "e": 3, "f": 0, "g": 1, "h": 6, "i": 2, "j": 3}
    for name, size in sizes.items():
        await store.join(users[0].id, name, False)  # the creator is a member...
        for user in users[1:size]:
            await store.join(user.id, name, False)
        if size == 0:
            await store.leave(users[0].id, await room_id(store, name))
    await store.open_dm("dm:u0:u1", (users[0].id, users[1].id))  # never listed
    expected = sorted(sizes.items(), key=lambda item: (-item[1], item[0]))
    for limit in (1, 3, 4, 10, 11, 100):
        listed, pages = await walk(store, limit)
        assert listed == expected, limit
        assert len(pages) == -(-len(sizes) // limit)  # no empty page at the end
    # the last page says so; a cursor past the end gives an empty last page
    assert not (await store.public_rooms(100)).more
    assert await store.public_rooms(5, (0, "zzz")) == RoomsPage(rooms=[], more=False)
    # counts follow leaving and removal, and the order with them
    await store.leave(users[5].id, await room_id(store, "h"))
    await store.remove_user(users[4].id)  # was in h and c
    listed, _ = await walk(store, 3)
    assert listed[:3] == [("c", 4), ("h", 4), ("a", 3)]
    assert dict(listed) == {**sizes, "c": 4, "h": 4}


async def room_id(store: AnyStore, name: str) -> int:
    room = await store.room_by_name(name)
    assert room is not None, name
    return room.id


async def test_the_quota_caps_memberships_and_room_creations(store: AnyStore) -> None:
    quota = RoomQuota(max_rooms=4, created_per_hour=2)
    alice = await store.create_user("alice", "hash")
    bob = await store.create_user("bob", "hash")
    for name in ("b1", "b2", "b3"):
        await store.join(bob.id, name, False)  # bob has no quota here: rooms to join
    assert (await store.join(alice.id, "a1", False, quota))[1] is True
    assert (await store.join(alice.id, "a2", False, quota))[1] is True
    # a third new room within the hour: refused, with when to come back; nothing created
    with pytest.raises(OverLimit) as created:
        await store.join(alice.id, "a3", False, quota)
    assert created.value.retry_after is not None
    assert 0 < created.value.retry_after <= CREATION_WINDOW
    assert await store.room_by_name("a3") is None
    # joining rooms that exist is no creation; a direct conversation is a membership too
    await store.join(alice.id, "b1", False, quota)
    await store.open_dm("dm:alice:bob", (alice.id, bob.id))  # 4 memberships now
    with pytest.raises(OverLimit) as full:
        await store.join(alice.id, "b2", False, quota)
    assert full.value.retry_after is None  # only leaving helps
    assert not await store.is_member(alice.id, await room_id(store, "b2"))
    # a room she is in already is never refused (a reconnect re-joins them all)
    for name in ("a1", "a2", "b1"):
        assert (await store.join(alice.id, name, False, quota))[1] is False
    await store.leave(alice.id, await room_id(store, "b1"))
    assert (await store.join(alice.id, "b2", False, quota))[1] is True
    # nobody else is held back by alice's limits
    carol = await store.create_user("carol", "hash")
    assert (await store.join(carol.id, "a3", False, quota))[1] is True


async def test_room_quotas_are_counted_one_join_at_a_time(store: AnyStore) -> None:
    """Joins pipelined at once (one batch on SQLite, racing transactions on PostgreSQL)
    create no more rooms than the quota allows."""
    quota = RoomQuota(max_rooms=50, created_per_hour=5)
    mallory = await store.create_user("mallory", "hash")
    results = await asyncio.gather(
        *(store.join(mallory.id, f"flood{i}", False, quota) for i in range(40)),
        return_exceptions=True,
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, OverLimit)]
    assert len(created) == 5 and len(refused) == 35
    listed, _ = await walk(store, 100)
    assert len(listed) == 5
