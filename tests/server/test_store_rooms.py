"""The Store contract for rooms with owners: private rooms, roles, invitations, kicks and
bans, topics, each a ``notice`` entry of the room's log, and who takes over when the owner
leaves. Runs on every backend (``store_backends.py``)."""

from __future__ import annotations

import pytest

from chat_server.errors import Conflict, Forbidden, Inapplicable, NotFound, NotMember, OverLimit
from chat_server.store import NewMessage, Room, RoomQuota, User
from chat_server.store.rooms import CommandAction, CreateRoom, RoomCommand, StoredNotice
from tests.server.store_backends import AnyStore, member
from tests.server.store_backends import backend as backend  # the fixtures, for this module
from tests.server.store_backends import store as store


async def user(store: AnyStore, nick: str) -> User:
    return await store.user_by_nick(nick) or await store.create_user(nick, "hash")


async def create(
    store: AnyStore,
    owner: User,
    name: str,
    *,
    private: bool = False,
    topic: str = "",
    key: str = "",
) -> Room:
    await store.create_room(
        CreateRoom(owner.id, owner.nick, name, key or f"c-{name}", private, topic)
    )
    room = await store.room_by_name(name)
    assert room is not None
    return room


_keys = iter(range(1, 1_000_000))


async def command(
    store: AnyStore,
    actor: User,
    room: Room,
    action: CommandAction,
    target: str | None = None,
    *,
    role: str | None = None,
    topic: str | None = None,
    reason: str | None = None,
    key: str | None = None,
) -> StoredNotice:
    op = RoomCommand(
        actor.id, actor.nick, room.id, key or f"k{next(_keys)}", action, target, role, topic,
        reason,
    )  # fmt: skip
    return await store.submit_command(op)


async def test_a_created_room_has_its_creator_as_owner_and_a_create_notice(
    store: AnyStore,
) -> None:
    alice = await user(store, "alice")
    room = await create(store, alice, "ops", private=True, topic="on call")
    assert room.private and not room.is_dm
    facts = await store.room_facts(room.id)
    assert (facts.topic, facts.private, facts.roles) == ("on call", True, {"alice": "owner"})
    page = await store.history(room, limit=10)
    [entry] = page.messages
    assert (entry.seq, entry.kind, entry.nick, entry.event, entry.topic, entry.body) == (
        1, "notice", "alice", "create", "on call", "",
    )  # fmt: skip
    # the same key again: the first answer; another key: the name is taken
    again = await store.create_room(CreateRoom(alice.id, "alice", "ops", "c-ops", True, ""))
    assert (again.seq, again.new) == (1, False)
    with pytest.raises(Conflict):
        await create(store, alice, "ops", key="other")
    await store.join(alice.id, "general", False)
    with pytest.raises(Conflict):
        await create(store, alice, "general")


async def test_a_room_created_by_a_join_is_owned_by_its_creator(store: AnyStore) -> None:
    alice, room_id = await member(store, "alice", "general")
    await member(store, "bob", "general")
    assert (await store.room_facts(room_id)).roles == {"alice": "owner"}
    assert await store.place(alice.id, room_id) == "owner"


async def test_a_member_joining_again_gets_the_room_and_writes_nothing(
    store: AnyStore,
) -> None:
    """Every reconnect rejoins every room: for a member that is a read, not a write."""
    alice, general_id = await member(store, "alice", "general")
    hiring = await create(store, alice, "hiring", private=True)
    writes = store.stats["writes"]
    again = [await store.join(alice.id, name, False) for name in ("general", "hiring")]
    assert again == [
        (Room(general_id, "general", is_dm=False, private=False), False),
        (Room(hiring.id, "hiring", is_dm=False, private=True), False),
    ]
    assert store.stats["writes"] == writes


async def test_private_rooms_are_not_listed_and_let_in_members_and_invitees_only(
    store: AnyStore,
) -> None:
    alice, bob, carol = [await user(store, n) for n in ("alice", "bob", "carol")]
    room = await create(store, alice, "hiring", private=True)
    await store.join(alice.id, "lobby", False)
    assert [r.room for r in (await store.public_rooms(10)).rooms] == ["lobby"]
    with pytest.raises(Forbidden):
        await store.join(bob.id, "hiring", False)
    assert await store.place(bob.id, room.id) == "none"
    await command(store, alice, room, "invite", "bob")
    assert await store.place(bob.id, room.id) == "invited"
    assert [(i.room, i.by, i.private) for i in await store.invites(bob.id)] == [
        ("hiring", "alice", True)
    ]
    joined, new = await store.join(bob.id, "hiring", False)
    assert new and joined.private
    assert await store.invites(bob.id) == []  # used up
    assert await store.place(bob.id, room.id) == "member"
    with pytest.raises(Forbidden):
        await store.join(carol.id, "hiring", False)
    # a search never reaches a stranger
    await store.append(NewMessage(bob.id, "bob", room.id, "m1", "candidate zyxwv"))
    assert await store.search(carol.id, ["zyxwv"], None, 10) == []
    assert len(await store.search(bob.id, ["zyxwv"], None, 10)) == 1


async def test_an_invitation_is_declined_by_leaving(store: AnyStore) -> None:
    alice, bob = await user(store, "alice"), await user(store, "bob")
    room = await create(store, alice, "hiring", private=True)
    await command(store, alice, room, "invite", "bob")
    departure = await store.leave(bob.id, room.id)
    assert (departure.left, departure.declined, departure.successor) == (False, True, None)
    assert await store.invites(bob.id) == []
    with pytest.raises(Forbidden):
        await store.join(bob.id, "hiring", False)
    assert not (await store.leave(bob.id, room.id)).declined  # nothing left to decline


async def test_who_may_invite(store: AnyStore) -> None:
    alice, bob, carol, dave = [await user(store, n) for n in ("alice", "bob", "carol", "dave")]
    private = await create(store, alice, "hiring", private=True)
    public = await create(store, alice, "lobby")
    await command(store, alice, private, "invite", "bob")
    await store.join(bob.id, "hiring", False)
    with pytest.raises(Forbidden):  # a member of a private room: owner or ops only
        await command(store, bob, private, "invite", "carol")
    await store.join(bob.id, "lobby", False)
    notice = await command(store, bob, public, "invite", "carol")  # public: any member
    assert (notice.fields.event, notice.fields.target_nick, notice.target_id) == (
        "invite", "carol", carol.id,
    )  # fmt: skip
    with pytest.raises(Conflict):
        await command(store, alice, public, "invite", "carol")  # invited already
    with pytest.raises(Conflict):
        await command(store, alice, public, "invite", "bob")  # a member
    with pytest.raises(NotFound):
        await command(store, alice, public, "invite", "nobody")
    with pytest.raises(NotMember):  # a stranger learns nothing, not even that nobody exists
        await command(store, dave, private, "invite", "nobody")


async def test_a_page_for_a_reader_shows_nothing_once_they_are_kicked(store: AnyStore) -> None:
    """A page read for a user (``reader``) tests the membership in its own query: a kick
    committed elsewhere counts before the reader's connection has heard of it."""
    alice = await user(store, "alice")
    mallory = await user(store, "mallory")
    room = await create(store, alice, "ops", private=True)
    await command(store, alice, room, "invite", "mallory")
    await store.join(mallory.id, "ops", False)
    root = await store.append(NewMessage(alice.id, "alice", room.id, "r1", "the plan"))
    reply = NewMessage(alice.id, "alice", room.id, "r2", "step one", reply_to=root.seq)
    await store.append(reply)
    page = await store.history(room, limit=10, reader=mallory.id)
    assert [e.body for e in page.messages if e.kind is None] == ["the plan", "step one"]
    await command(store, alice, room, "kick", "mallory")
    await store.append(NewMessage(alice.id, "alice", room.id, "r3", "after the kick"))
    last = await store.last_seq(room.id)
    for pages in (
        dict(limit=10), dict(before=last, limit=10), dict(before=last + 5, limit=2),
        dict(after=0, limit=10), dict(after=last, limit=10), dict(around=root.seq, limit=10),
        dict(thread=root.seq, limit=10), dict(thread=last + 9, limit=10),
    ):  # fmt: skip
        with pytest.raises(NotMember, match="you are not a member of ops"):
            await store.history(room, reader=mallory.id, **pages)
    # the members still read every page, an empty one too; without a reader, as before
    assert (await store.history(room, after=last, limit=10, reader=alice.id)).messages == []
    thread = await store.history(room, thread=root.seq, limit=10, reader=alice.id)
    assert [e.body for e in thread.messages] == ["the plan", "step one"]
    newest = await store.history(room, limit=1)
    assert [e.body for e in newest.messages] == ["after the kick"]


async def test_kick_and_ban_by_rank(store: AnyStore) -> None:
    alice, bob, carol, mallory = [
        await user(store, n) for n in ("alice", "bob", "carol", "mallory")
    ]
    room = await create(store, alice, "lobby")
    for person in (bob, carol, mallory):
        await store.join(person.id, "lobby", False)
    await command(store, alice, room, "role", "bob", role="op")
    assert (await store.room_facts(room.id)).roles == {"alice": "owner", "bob": "op"}
    with pytest.raises(Forbidden):  # a member kicks nobody
        await command(store, mallory, room, "kick", "carol")
    with pytest.raises(Forbidden):  # an op does not kick the owner
        await command(store, bob, room, "kick", "alice")
    kicked = await command(store, bob, room, "kick", "mallory", reason="spam")
    assert (kicked.fields.event, kicked.reason, kicked.target_id) == ("kick", "spam", mallory.id)
    assert not await store.is_member(mallory.id, room.id)
    await store.join(mallory.id, "lobby", False)  # a public room takes the kicked back
    banned = await command(store, bob, room, "ban", "mallory", reason="again")
    assert banned.fields.event == "ban" and await store.place(mallory.id, room.id) == "banned"
    with pytest.raises(Forbidden):
        await store.join(mallory.id, "lobby", False)
    with pytest.raises(Forbidden):
        await command(store, carol, room, "invite", "mallory")
    with pytest.raises(NotMember):  # the banned sends nothing
        await store.append(NewMessage(mallory.id, "mallory", room.id, "m1", "let me in"))
    await command(store, alice, room, "unban", "mallory")
    await store.join(mallory.id, "lobby", False)
    with pytest.raises(NotFound):
        await command(store, alice, room, "unban", "carol")
    page = await store.history(room, after=1, limit=50)
    assert [(e.event, e.target_nick) for e in page.messages] == [
        ("role", "bob"), ("kick", "mallory"), ("ban", "mallory"), ("unban", "mallory"),
    ]  # fmt: skip
    assert page.messages[1].reason == "spam"


async def test_roles_owner_hands_on_and_anyone_drops_their_own(store: AnyStore) -> None:
    alice, bob, carol = [await user(store, n) for n in ("alice", "bob", "carol")]
    room = await create(store, alice, "lobby")
    for person in (bob, carol):
        await store.join(person.id, "lobby", False)
    await command(store, alice, room, "role", "bob", role="op")
    with pytest.raises(Forbidden):  # an op sets nobody else's role
        await command(store, bob, room, "role", "carol", role="op")
    await command(store, bob, room, "role", "bob", role="member")  # drops their own
    assert (await store.room_facts(room.id)).roles == {"alice": "owner"}
    with pytest.raises(Forbidden):  # the owner hands ownership on instead
        await command(store, alice, room, "role", "alice", role="op")
    handed = await command(store, alice, room, "role", "carol", role="owner")
    assert (handed.fields.event, handed.fields.role) == ("role", "owner")
    assert (await store.room_facts(room.id)).roles == {"alice": "op", "carol": "owner"}
    with pytest.raises(Conflict):
        await command(store, carol, room, "role", "alice", role="op")


async def test_a_server_admin_moderates_where_they_are_a_member(store: AnyStore) -> None:
    alice, bob, root = [await user(store, n) for n in ("alice", "bob", "root")]
    await store.set_admin(root.id, True)
    room = await create(store, alice, "lobby")
    secret = await create(store, alice, "hiring", private=True)
    await store.join(bob.id, "lobby", False)
    with pytest.raises(NotMember):  # not a member: nothing
        await command(store, root, room, "kick", "bob")
    with pytest.raises(NotMember):  # no automatic access to a private room
        await command(store, root, secret, "kick", "alice")
    await store.join(root.id, "lobby", False)
    await command(store, root, room, "role", "bob", role="op")
    # removing the owner hands the room on: the longest-standing op, else member
    kicked = await command(store, root, room, "kick", "alice", reason="gone rogue")
    assert kicked.then is not None
    assert (kicked.then.fields.event, kicked.then.fields.target_nick) == ("role", "bob")
    assert kicked.then.seq == kicked.seq + 1
    assert (await store.room_facts(room.id)).roles == {"bob": "owner"}


async def test_the_owner_leaving_hands_the_room_on(store: AnyStore) -> None:
    alice, bob, carol, dave = [await user(store, n) for n in ("alice", "bob", "carol", "dave")]
    room = await create(store, alice, "lobby")
    for person in (bob, carol, dave):
        await store.join(person.id, "lobby", False)
    await command(store, alice, room, "role", "dave", role="op")
    departure = await store.leave(alice.id, room.id)
    assert departure.left and departure.successor is not None
    assert departure.successor.fields.target_nick == "dave"  # an op before the members
    assert (await store.room_facts(room.id)).roles == {"dave": "owner"}
    departure = await store.leave(dave.id, room.id)
    assert departure.successor is not None
    assert departure.successor.fields.target_nick == "bob"  # the longest-standing member
    await store.leave(bob.id, room.id)
    assert (await store.leave(carol.id, room.id)).successor is None  # nobody left to own it
    page = await store.history(room, after=2, limit=10)
    assert [(e.kind, e.event, e.target_nick, e.role) for e in page.messages] == [
        ("notice", "role", "dave", "owner"), ("notice", "role", "bob", "owner"),
        ("notice", "role", "carol", "owner"),
    ]  # fmt: skip


async def test_topics_and_direct_conversations(store: AnyStore) -> None:
    alice, bob = await user(store, "alice"), await user(store, "bob")
    room = await create(store, alice, "lobby")
    await store.join(bob.id, "lobby", False)
    with pytest.raises(Forbidden):
        await command(store, bob, room, "topic", topic="mine now")
    notice = await command(store, alice, room, "topic", topic="release friday")
    assert (notice.fields.event, notice.fields.topic) == ("topic", "release friday")
    assert (await store.room_facts(room.id)).topic == "release friday"
    assert await store.last_seq(room.id) == notice.seq
    again = await command(store, alice, room, "topic", topic="x", key=notice.client_id)
    assert (again.seq, again.new, again.fields.topic) == (notice.seq, False, "release friday")
    dm, _ = await store.open_dm("dm:alice:bob", (alice.id, bob.id))
    with pytest.raises(Inapplicable):
        await command(store, alice, dm, "topic", topic="ours")
    with pytest.raises(Inapplicable):
        await command(store, alice, dm, "kick", "bob")


async def test_creating_rooms_counts_toward_the_hourly_quota(store: AnyStore) -> None:
    alice = await user(store, "alice")
    quota = RoomQuota(max_rooms=10, created_per_hour=2)
    for name in ("a1", "a2"):
        await store.create_room(CreateRoom(alice.id, "alice", name, f"c-{name}", False, "", quota))
    with pytest.raises(OverLimit):
        await store.create_room(CreateRoom(alice.id, "alice", "a3", "c-a3", True, "", quota))


async def test_a_removed_account_keeps_no_invitation(store: AnyStore) -> None:
    alice, bob = await user(store, "alice"), await user(store, "bob")
    room = await create(store, alice, "hiring", private=True)
    await command(store, alice, room, "invite", "bob")
    await store.remove_user(bob.id)
    assert await store.invites(bob.id) == []
    assert await store.place(bob.id, room.id) == "none"


async def test_a_removed_owner_hands_their_rooms_on(store: AnyStore) -> None:
    alice, bob, carol = [await user(store, n) for n in ("alice", "bob", "carol")]
    lobby = await create(store, alice, "lobby")
    alone = await create(store, alice, "alone")
    for person in (bob, carol):
        await store.join(person.id, "lobby", False)
    await command(store, alice, lobby, "role", "carol", role="op")
    await store.remove_user(alice.id)  # `chat-server users remove alice`
    assert (await store.room_facts(lobby.id)).roles == {"carol": "owner"}
    [notice] = (
        await store.history(lobby, after=await store.last_seq(lobby.id) - 1, limit=5)
    ).messages
    assert (notice.kind, notice.event, notice.nick, notice.target_nick, notice.role) == (
        "notice", "role", "alice", "carol", "owner",
    )  # fmt: skip
    assert (await store.room_facts(alone.id)).roles == {}  # nobody left to own it
