"""The Store contract for a room's members a page at a time, and how many there are.

Runs on every backend (``store_backends.py``), like test_store.py.
"""

from __future__ import annotations

from chat_server.store.pages import numbered
from chat_server.store.postgres.store import MEMBERS_SQL as POSTGRES_MEMBERS_SQL
from chat_server.store.rooms import FACTS_SQL
from chat_server.store.sqlite.store import MEMBERS_SQL as SQLITE_MEMBERS_SQL
from tests.server.store_backends import AnyStore, Backend, member
from tests.server.store_backends import backend as backend  # the fixtures, for this module
from tests.server.store_backends import store as store
from tests.support.crowd import crowd


async def test_members_come_in_pages_by_nick_case_insensitively(store: AnyStore) -> None:
    await crowd(store, "general", ["carol", "Bob", "alice", "Dave", "_eve", "frank-1"])
    _, room = await member(store, "zed", "general")
    _, other = await member(store, "Bob", "other")  # another room's members are not listed
    everyone = [nick for _, nick in await store.members(room)]
    assert everyone == ["_eve", "alice", "Bob", "carol", "Dave", "frank-1", "zed"]
    assert await store.member_count(room) == 7
    assert [nick for _, nick in await store.members(room, limit=3)] == ["_eve", "alice", "Bob"]
    # after a nick key: the next ones, whether or not that nick is a member
    page = await store.members(room, after_key="bob", limit=2)
    assert [nick for _, nick in page] == ["carol", "Dave"]
    assert [nick for _, nick in await store.members(room, after_key="bz")] == [
        "carol", "Dave", "frank-1", "zed",
    ]  # fmt: skip
    assert await store.members(room, after_key="zed") == []
    assert [nick for _, nick in await store.members(other)] == ["Bob"]
    # the ids are the members' own
    bob = await store.user_by_nick("bob")
    assert bob is not None and (bob.id, "Bob") in await store.members(room)


async def test_the_count_follows_joins_and_leaves(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    await member(store, "bob", "general")
    assert await store.member_count(room) == 2
    await store.leave(alice.id, room)
    assert await store.member_count(room) == 1
    assert [nick for _, nick in await store.members(room)] == ["bob"]
    assert await store.member_count(10_000) == 0  # no such room


async def test_a_direct_conversation_lists_its_two_people(store: AnyStore) -> None:
    alice = await store.create_user("alice", "hash")
    bob = await store.create_user("Bob", "hash")
    room, _ = await store.open_dm("dm:alice:bob", (bob.id, alice.id))
    assert [nick for _, nick in await store.members(room.id)] == ["alice", "Bob"]
    assert await store.member_count(room.id) == 2


async def test_a_page_walks_an_index_and_sorts_nothing(backend: Backend, store: AnyStore) -> None:
    """A join reads the first page of a room of any size: the plan must not read the whole
    room to sort it."""
    await crowd(store, "big", [f"user{n:03}" for n in range(600)])
    await crowd(store, "small", [f"other{n}" for n in range(20)])
    room = await store.room_by_name("big")
    assert room is not None
    if backend.name == "sqlite":
        plan = await backend.plan(SQLITE_MEMBERS_SQL, room.id, "user100", 50)
        assert "memberships_by_nick" in plan
        assert "TEMP B-TREE" not in plan  # no sort
    else:
        plan = await backend.plan(POSTGRES_MEMBERS_SQL, room.id, "user100", 50)
        assert "memberships_by_nick" in plan
        assert "Sort" not in plan
    page = await store.members(room.id, after_key="user100", limit=50)
    assert [nick for _, nick in page] == [f"user{n:03}" for n in range(101, 151)]
    assert await store.member_count(room.id) == 600


async def test_a_rooms_roles_are_read_without_walking_its_members(
    backend: Backend, store: AnyStore
) -> None:
    """Every join reads the room's owner and ops (``room_facts``): along the index of the
    members with a role, not over every member (8 ms a join in a room of 10,000)."""
    _, room_id = await member(store, "boss", "big")  # who makes a room owns it
    await crowd(store, "big", [f"user{n:03}" for n in range(600)])
    if backend.name == "sqlite":
        plan = await backend.plan(FACTS_SQL, room_id)
    else:
        plan = await backend.plan(numbered(FACTS_SQL), room_id)
    assert "memberships_roles" in plan
    assert (await store.room_facts(room_id)).roles == {"boss": "owner"}
