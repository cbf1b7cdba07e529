"""The Store contract for accounts and rooms: joins, writing, blocks, tokens, reopening.

Runs on every backend (``store_backends.py``), like test_store.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chat_server.errors import Conflict, NotFound, OverLimit, StoreError
from chat_server.store import Blocks, NewMessage
from tests.server.store_backends import AnyStore, Backend, member
from tests.server.store_backends import backend as backend  # the fixtures, for this module
from tests.server.store_backends import store as store


async def test_a_join_without_create_finds_or_refuses(store: AnyStore) -> None:
    alice = await store.create_user("alice", "hash")
    bob = await store.create_user("bob", "hash")
    with pytest.raises(NotFound):
        await store.join(alice.id, "dm:alice:bob", True, create=False)
    assert await store.room_by_name("dm:alice:bob") is None  # nothing was created
    room, new = await store.open_dm("dm:alice:bob", (alice.id, bob.id))
    assert (room.is_dm, new) == (True, True)
    assert (await store.leave(bob.id, room.id)).left
    again, new = await store.join(bob.id, "dm:alice:bob", True, create=False)
    assert (again, new) == (room, True)
    assert [nick for _, nick in await store.members(room.id)] == ["alice", "bob"]


async def test_presence_is_announced_in_rooms_up_to_a_size(store: AnyStore) -> None:
    alice, _ = await member(store, "alice", "crowd")
    await member(store, "bob", "crowd")
    await member(store, "carol", "crowd")
    await member(store, "alice", "pair")
    await member(store, "bob", "pair")
    assert await store.presence_rooms(alice.id, 3) == ["crowd", "pair"]
    assert await store.presence_rooms(alice.id, 2) == ["pair"]  # three members: too many


async def test_writing_is_noted_per_membership(store: AnyStore) -> None:
    alice = await store.create_user("alice", "hash")
    bob = await store.create_user("bob", "hash")
    dm, _ = await store.open_dm("dm:alice:bob", (alice.id, bob.id))
    _, general = await member(store, "alice", "general")
    assert await store.presence_rooms(alice.id, 500) == ["general"]  # not the DM: no word yet
    await store.append(NewMessage(alice.id, "alice", dm.id, "a1", "hi bob"))
    assert (await store.has_written(alice.id, dm.id), await store.has_written(bob.id, dm.id)) == (
        True,
        False,
    )
    assert await store.mark_read(bob.id, dm.id, 1) == 1  # reading is not writing
    assert not await store.has_written(bob.id, dm.id)
    assert await store.presence_rooms(alice.id, 500) == ["dm:alice:bob", "general"]
    assert await store.presence_rooms(bob.id, 500) == []
    await store.append(NewMessage(bob.id, "bob", dm.id, "b1", "hi alice"))
    assert await store.presence_rooms(bob.id, 500) == ["dm:alice:bob"]
    assert not await store.has_written(alice.id, general)  # public rooms: ask and it says
    await store.leave(alice.id, dm.id)  # a new membership starts silent
    await store.join(alice.id, "dm:alice:bob", True, create=False)
    assert not await store.has_written(alice.id, dm.id)


async def test_blocks_both_ways(store: AnyStore) -> None:
    alice = await store.create_user("alice", "hash")
    bob = await store.create_user("Bob", "hash")
    carol = await store.create_user("carol", "hash")
    assert await store.blocks(alice.id) == Blocks()
    assert await store.blocks_between(alice.id, "bob") == (False, False)
    assert await store.block(alice.id, bob.id)
    assert not await store.block(alice.id, bob.id)  # again: nothing new
    assert await store.block(carol.id, alice.id)
    assert await store.blocks(alice.id) == Blocks(frozenset({bob.id}), frozenset({carol.id}))
    assert await store.blocks(bob.id) == Blocks(blocked_by=frozenset({alice.id}))
    assert await store.blocks_between(alice.id, "BOB") == (True, False)
    assert await store.blocks_between(bob.id, "alice") == (False, True)
    assert await store.blocks_between(alice.id, "carol") == (False, True)
    assert await store.blocks_between(alice.id, "nobody") == (False, False)
    assert await store.unblock(alice.id, bob.id)
    assert not await store.unblock(alice.id, bob.id)
    assert await store.blocks_between(alice.id, "bob") == (False, False)
    await store.remove_user(carol.id)  # a removed account's blocks go with it
    assert await store.blocks(alice.id) == Blocks()


async def test_blocked_nicks_are_listed_in_order_and_capped(store: AnyStore) -> None:
    alice = await store.create_user("alice", "hash")
    zed, bob, carol = [await store.create_user(nick, "hash") for nick in ("zed", "Bob", "carol")]
    assert await store.blocked_nicks(alice.id, 10) == []
    assert await store.block(alice.id, zed.id, max_blocks=2)
    assert await store.block(alice.id, bob.id, max_blocks=2)
    assert not await store.block(alice.id, bob.id, max_blocks=2)  # again: not one more
    with pytest.raises(OverLimit):
        await store.block(alice.id, carol.id, max_blocks=2)
    assert await store.blocked_nicks(alice.id, 10) == ["Bob", "zed"]
    assert await store.blocked_nicks(alice.id, 1) == ["Bob"]
    assert await store.block(alice.id, carol.id)  # no cap given: none applies
    assert await store.blocked_nicks(alice.id, 10) == ["Bob", "carol", "zed"]
    assert await store.blocked_nicks(bob.id, 10) == []  # being blocked is not blocking
    await store.remove_user(zed.id)
    assert await store.blocked_nicks(alice.id, 10) == ["Bob", "carol"]


async def test_tokens_and_removed_users(store: AnyStore, backend: Backend) -> None:
    alice = await store.create_user("Alice", "hash")
    await store.add_token(alice.id, b"t1", None)
    await store.add_token(alice.id, b"t2", expires_at=100.0)
    found = await store.user_by_token(b"t1", 0.0)
    assert found is not None and (found.user.nick, found.expires_at) == ("Alice", None)
    expiring = await store.user_by_token(b"t2", 50.0)
    assert expiring is not None and expiring.expires_at == 100.0  # the session closes then
    assert await store.user_by_token(b"t2", 150.0) is None  # expired
    assert await store.live_tokens([b"t1", b"t2", b"nope"], 150.0) == {b"t1"}
    assert (await store.user_by_nick("ALICE")) == found.user  # case-insensitive
    await store.remove_user(alice.id)
    assert await store.user_by_token(b"t1", 0.0) is None
    removed = await store.user_by_nick("alice")
    assert removed is not None and removed.removed  # the nick stays reserved
    with pytest.raises(Conflict):  # the store's own error, whatever the driver raised
        await store.create_user("alice", "hash")


async def test_the_admin_flag_is_set_cleared_and_read_everywhere(store: AnyStore) -> None:
    alice = await store.create_user("alice", "hash")
    bob = await store.create_user("bob", "hash")
    assert not alice.admin
    assert await store.set_admin(alice.id, True)
    assert not await store.set_admin(alice.id, True)  # already: nothing changed
    await store.add_token(alice.id, b"a1", None)
    by_nick, by_token = await store.user_by_nick("ALICE"), await store.user_by_token(b"a1", 0.0)
    assert by_nick is not None and by_token is not None
    assert (by_nick.admin, by_token.user.admin) == (True, True)
    assert [(u.nick, u.admin) for u in await store.list_users()] == [
        ("alice", True),
        ("bob", False),
    ]
    assert await store.set_admin(alice.id, False)
    assert not await store.set_admin(bob.id, False)
    found = await store.user_by_nick("alice")
    assert found is not None and not found.admin


async def test_every_way_of_revoking_a_token_moves_the_revocation_version(
    store: AnyStore,
) -> None:
    alice = await store.create_user("alice", "hash")
    bob, room = await member(store, "bob", "general")
    seen = [await store.revocation_version()]

    async def moved() -> bool:
        seen.append(await store.revocation_version())
        return seen[-1] != seen[-2]

    for name in ("t1", "t2", "t3"):
        await store.add_token(alice.id, name.encode(), None)
    await store.add_token(bob.id, b"b1", None)
    await store.append(NewMessage(bob.id, "bob", room, "k", "hello"))
    assert not await moved()  # logins and messages do not make servers sweep
    await store.revoke_token(b"t1")
    assert await moved()
    await store.revoke_user_tokens(alice.id)
    assert await moved()
    await store.remove_user(bob.id)
    assert await moved()


async def test_data_and_migrations_survive_reopening(backend: Backend) -> None:
    first = backend.store()
    await first.open()
    try:
        alice, room = await member(first, "alice", "general")
        await first.append(NewMessage(alice.id, "alice", room, "k", "persisted"))
    finally:
        await first.close()
    second = backend.store()
    await second.open()
    try:
        room_obj = await second.room_by_name("general")
        assert room_obj is not None
        page = await second.history(room_obj, limit=10)
        assert [m.body for m in page.messages] == ["persisted"]
        later = await second.append(NewMessage(alice.id, "alice", room, "k2", "next"))
        assert later.seq == 2
    finally:
        await second.close()
    assert await backend.migrations() == list(backend.all_migrations)


async def test_unopenable_database_is_a_clear_error(backend: Backend, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        await backend.unreachable(tmp_path).open()
