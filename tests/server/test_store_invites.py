"""The Store contract for invite codes: uses, expiry, rooms, revocation, concurrent signups.

Runs on every backend (``store_backends.py``), like test_store_accounts.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from chat_server.errors import Conflict, Forbidden
from chat_server.store import User
from tests.server.store_backends import AnyStore, member
from tests.server.store_backends import backend as backend  # the fixtures, for this module
from tests.server.store_backends import store as store


async def test_a_code_creates_accounts_while_it_has_uses_and_joins_its_rooms(
    store: AnyStore,
) -> None:
    await member(store, "alice", "general")  # one room exists, the other does not yet
    await store.add_invite_code(b"h1", "abcdef", 2, None, ["general", "team"])
    invite = await store.invite_code(b"h1")
    assert invite is not None
    assert (invite.prefix, invite.uses, invite.used, invite.rooms) == (
        "abcdef",
        2,
        0,
        ("general", "team"),
    )
    assert invite.usable(time.time())

    bob = await store.create_user("bob", "hash", invite=b"h1")
    assert [r.room for r in await store.user_rooms(bob.id)] == ["general", "team"]
    general = await store.room_by_name("general")
    team = await store.room_by_name("team")
    assert general is not None and team is not None and not team.is_dm
    assert [nick for _, nick in await store.members(general.id)] == ["alice", "bob"]
    # the room the code made is bob's, as a room made by a join is its creator's
    assert await store.place(bob.id, team.id) == "owner"
    assert await store.place(bob.id, general.id) == "member"
    carol = await store.create_user("carol", "hash", invite=b"h1")
    assert [nick for _, nick in await store.members(team.id)] == ["bob", "carol"]
    assert (await store.room_facts(team.id)).roles == {"bob": "owner"}
    assert carol.nick == "carol"

    with pytest.raises(Forbidden, match="not valid"):  # used up: nothing is written
        await store.create_user("dave", "hash", invite=b"h1")
    assert await store.user_by_nick("dave") is None
    used = await store.invite_code(b"h1")
    assert used is not None and used.used == 2 and not used.usable(time.time())


async def test_unknown_expired_and_revoked_codes_create_nothing(store: AnyStore) -> None:
    await store.add_invite_code(b"old", "oldold", 5, time.time() - 1, [])
    await store.add_invite_code(b"new", "newnew", 5, time.time() + 3600, [])
    for code in (b"old", b"nope"):
        with pytest.raises(Forbidden):
            await store.create_user("bob", "hash", invite=code)
    assert await store.user_by_nick("bob") is None
    assert [(i.prefix, i.used) for i in await store.invite_codes()] == [
        ("oldold", 0),
        ("newnew", 0),
    ]
    assert await store.revoke_invite_code(b"new")
    assert not await store.revoke_invite_code(b"new")
    assert await store.invite_code(b"new") is None
    with pytest.raises(Forbidden):
        await store.create_user("bob", "hash", invite=b"new")
    assert [i.prefix for i in await store.invite_codes()] == ["oldold"]


async def test_a_taken_nick_takes_no_use_of_the_code(store: AnyStore) -> None:
    await store.create_user("bob", "hash")
    await store.add_invite_code(b"h1", "abcdef", 1, None, ["general"])
    with pytest.raises(Conflict):
        await store.create_user("Bob", "hash", invite=b"h1")
    invite = await store.invite_code(b"h1")
    assert invite is not None and invite.used == 0
    assert await store.room_by_name("general") is None  # rolled back with the account


async def test_concurrent_signups_cannot_overuse_a_one_use_code(store: AnyStore) -> None:
    await store.add_invite_code(b"once", "oncexx", 1, None, ["general"])
    nicks = [f"user{n}" for n in range(8)]
    outcomes = await asyncio.gather(
        *(store.create_user(nick, "hash", invite=b"once") for nick in nicks),
        return_exceptions=True,
    )
    created = [o for o in outcomes if isinstance(o, User)]
    refused = [o for o in outcomes if isinstance(o, Forbidden)]
    assert (len(created), len(refused)) == (1, 7), outcomes
    assert [u.nick for u in await store.list_users()] == [created[0].nick]
    general = await store.room_by_name("general")
    assert general is not None
    assert [nick for _, nick in await store.members(general.id)] == [created[0].nick]
    invite = await store.invite_code(b"once")
    assert invite is not None and invite.used == 1
