"""The Store contract for replies, threads and reactions (protocol 2), and pages around a
seq: entries of the room's log, with the message read as it is now.

Runs on every backend (``store_backends.py``: SQLite, and PostgreSQL when
``CHAT_TEST_DATABASE_URL`` is set).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chat_server.errors import Forbidden, NotFound, NotMember, OverLimit
from chat_server.protocol import Reaction
from chat_server.store import NewChange, NewMessage, NewReaction, Room, search_words
from chat_server.store.base import batch_order
from tests.server.store_backends import AnyStore, member
from tests.server.store_backends import backend as backend  # the fixtures, for this module
from tests.server.store_backends import store as store


async def room_of(store: AnyStore, name: str) -> Room:
    room = await store.room_by_name(name)
    assert room is not None
    return room


async def say(store: AnyStore, user_id: int, nick: str, room: int, key: str, **extra: int) -> int:
    stored = await store.append(NewMessage(user_id, nick, room, key, f"text {key}", **extra))
    return stored.seq


def react(
    user_id: int, nick: str, room: int, key: str, target: int, emoji: str, remove: bool = False
) -> NewReaction:
    return NewReaction(user_id, nick, room, key, target, emoji, remove)


async def test_a_reply_joins_its_targets_thread_and_counts_on_the_root(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    bob, _ = await member(store, "bob", "general")
    root = await say(store, alice.id, "alice", room, "m1")
    await say(store, bob.id, "bob", room, "m2")
    first = await store.append(NewMessage(bob.id, "bob", room, "r1", "answer", reply_to=root))
    assert (first.seq, first.reply_to, first.thread, first.new) == (3, 1, 1, True)
    # a reply to a reply belongs to the same thread, and the root counts both
    second = await store.append(NewMessage(alice.id, "alice", room, "r2", "and", reply_to=3))
    assert (second.reply_to, second.thread) == (3, 1)
    again = await store.append(NewMessage(alice.id, "alice", room, "r2", "and", reply_to=3))
    assert (again.seq, again.thread, again.new) == (4, 1, False)
    page = await store.history(await room_of(store, "general"), limit=10)
    by_seq = {m.seq: m for m in page.messages}
    assert (by_seq[1].replies, by_seq[1].version, by_seq[1].thread) == (2, 4, None)
    assert (by_seq[2].replies, by_seq[2].version) == (0, None)  # untouched: protocol 1's fields
    assert (by_seq[3].reply_to, by_seq[3].thread, by_seq[4].reply_to) == (1, 1, 3)
    # replies count as unread, like any message
    [state] = await store.user_rooms(bob.id)
    assert state.unread == 1  # alice's reply; bob's own messages never count


async def test_a_thread_page_holds_the_root_and_its_replies_only(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    root = await say(store, alice.id, "alice", room, "m1")
    for i in range(5):
        await say(store, alice.id, "alice", room, f"other{i}")
        await store.append(NewMessage(alice.id, "alice", room, f"r{i}", f"re {i}", reply_to=root))
    general = await room_of(store, "general")
    first = await store.history(general, thread=root, limit=3)
    assert [m.seq for m in first.messages] == [1, 3, 5] and first.more
    rest = await store.history(general, thread=5, after=5, limit=3)  # any seq of the thread
    assert [m.seq for m in rest.messages] == [7, 9, 11] and not rest.more
    assert all(m.thread == 1 for m in rest.messages)
    with pytest.raises(NotFound):
        await store.history(general, thread=99, limit=3)


async def test_a_reply_needs_a_standing_message_of_the_room(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    _, other = await member(store, "alice", "random")
    await say(store, alice.id, "alice", room, "m1")
    await say(store, alice.id, "alice", other, "o1")
    await store.submit_change(NewChange(alice.id, "alice", room, "d1", "delete", 1))
    await say(store, alice.id, "alice", room, "m3")
    carol, _ = await member(store, "carol", "random")
    for target in (1, 2, 9):  # deleted, a delete entry, nothing there
        with pytest.raises(NotFound):
            await store.append(NewMessage(alice.id, "alice", room, f"x{target}", "hi", target))
    with pytest.raises(NotMember):
        await store.append(NewMessage(carol.id, "carol", room, "c1", "hi", reply_to=3))
    assert await store.last_seq(room) == 3  # nothing stored


async def test_reactions_aggregate_in_order_of_first_use(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    bob, _ = await member(store, "bob", "general")
    carol, _ = await member(store, "carol", "general")
    await say(store, alice.id, "alice", room, "m1")
    added = await store.submit_change(react(bob.id, "bob", room, "k1", 1, "👍"))
    assert (added.seq, added.kind, added.emoji, added.remove, added.new) == (
        2,
        "react",
        "👍",
        False,
        True,
    )
    await store.submit_change(react(carol.id, "carol", room, "k2", 1, "🎉"))
    await store.submit_change(react(alice.id, "alice", room, "k3", 1, "👍"))
    page = await store.history(await room_of(store, "general"), limit=10)
    message = page.messages[0]
    assert message.reactions == [
        Reaction(emoji="👍", nicks=["bob", "alice"]),
        Reaction(emoji="🎉", nicks=["carol"]),
    ]
    assert message.version == 4
    entry = page.messages[1]
    assert (entry.kind, entry.target, entry.emoji, entry.body, entry.remove) == (
        "react",
        1,
        "👍",
        "",
        False,
    )
    # taking back: the emoji goes with its last nick; a new use puts it last
    await store.submit_change(react(bob.id, "bob", room, "k4", 1, "👍", remove=True))
    await store.submit_change(react(alice.id, "alice", room, "k5", 1, "👍", remove=True))
    await store.submit_change(react(bob.id, "bob", room, "k6", 1, "👍"))
    page = await store.history(await room_of(store, "general"), limit=10)
    assert page.messages[0].reactions == [
        Reaction(emoji="🎉", nicks=["carol"]),
        Reaction(emoji="👍", nicks=["bob"]),
    ]
    assert [(m.kind, m.remove) for m in page.messages[4:6]] == [("react", True), ("react", True)]


async def test_a_reaction_that_changes_nothing_stores_nothing(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    await say(store, alice.id, "alice", room, "m1")
    await store.submit_change(react(alice.id, "alice", room, "k1", 1, "👍"))
    again = await store.submit_change(react(alice.id, "alice", room, "k2", 1, "👍"))
    none = await store.submit_change(react(alice.id, "alice", room, "k3", 1, "🎉", remove=True))
    assert (again.new, again.seq, none.new, none.seq) == (False, 2, False, 2)
    retried = await store.submit_change(react(alice.id, "alice", room, "k1", 1, "👍"))
    assert (retried.seq, retried.new, retried.emoji) == (2, False, "👍")  # the original ack
    assert await store.last_seq(room) == 2


async def test_a_message_holds_at_most_20_different_reactions(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    await say(store, alice.id, "alice", room, "m1")
    for i in range(20):
        await store.submit_change(react(alice.id, "alice", room, f"k{i}", 1, f":e{i}:"))
    with pytest.raises(OverLimit):
        await store.submit_change(react(alice.id, "alice", room, "k20", 1, ":e20:"))
    bob, _ = await member(store, "bob", "general")
    joined = await store.submit_change(react(bob.id, "bob", room, "b1", 1, ":e3:"))
    assert joined.new  # an emoji the message has already is fine
    assert await store.last_seq(room) == 22


async def test_a_delete_takes_the_reactions_with_it(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    bob, _ = await member(store, "bob", "general")
    await say(store, alice.id, "alice", room, "m1")
    await store.submit_change(react(bob.id, "bob", room, "k1", 1, ":private-joke:"))
    await store.submit_change(NewChange(alice.id, "alice", room, "d1", "delete", 1))
    page = await store.history(await room_of(store, "general"), limit=10)
    message, entry, _ = page.messages
    assert (message.deleted, message.reactions, message.version) == (True, [], 3)
    assert (entry.kind, entry.emoji, entry.deleted) == ("react", "", True)
    with pytest.raises(NotFound):  # a deleted message takes no reaction
        await store.submit_change(react(bob.id, "bob", room, "k2", 1, "👍"))
    retried = await store.submit_change(react(bob.id, "bob", room, "k1", 1, ":private-joke:"))
    assert (retried.seq, retried.emoji) == (2, "")  # its original ack, erased too


async def test_a_page_around_a_seq(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    for i in range(30):
        await say(store, alice.id, "alice", room, f"m{i}")
    general = await room_of(store, "general")
    middle = await store.history(general, around=15, limit=10)
    assert [m.seq for m in middle.messages] == list(range(10, 20)) and middle.more
    start = await store.history(general, around=2, limit=10)
    assert [m.seq for m in start.messages] == list(range(1, 11)) and not start.more
    end = await store.history(general, around=29, limit=10)
    assert [m.seq for m in end.messages] == list(range(24, 31))


async def test_an_edit_window_closes_editing_not_deleting(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    await say(store, alice.id, "alice", room, "m1")
    late = NewChange(alice.id, "alice", room, "e1", "edit", 1, "fixed", edit_window=0.0)
    with pytest.raises(Forbidden):
        await store.submit_change(late)
    ok = NewChange(alice.id, "alice", room, "e2", "edit", 1, "fixed", edit_window=3600.0)
    assert (await store.submit_change(ok)).new
    gone = NewChange(alice.id, "alice", room, "d1", "delete", 1, edit_window=0.0)
    assert (await store.submit_change(gone)).new


async def test_a_page_lists_50_nicks_an_emoji_and_counts_them_all(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    await say(store, alice.id, "alice", room, "m1")
    for i in range(53):
        user, _ = await member(store, f"fan{i}", "general")
        await store.submit_change(react(user.id, f"fan{i}", room, f"k{i}", 1, "👍"))
    await store.submit_change(react(alice.id, "alice", room, "a1", 1, "🎉"))
    page = await store.history(await room_of(store, "general"), limit=1, before=2)
    assert page.messages[0].reactions == [
        Reaction(emoji="👍", nicks=[f"fan{i}" for i in range(50)], count=53),
        Reaction(emoji="🎉", nicks=["alice"]),
    ]


async def test_an_emoji_keeps_its_place_while_anyone_still_uses_it(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    bob, _ = await member(store, "bob", "general")
    await say(store, alice.id, "alice", room, "m1")
    await store.submit_change(react(bob.id, "bob", room, "k1", 1, "👍"))
    await store.submit_change(react(alice.id, "alice", room, "k2", 1, "🎉"))
    await store.submit_change(react(alice.id, "alice", room, "k3", 1, "👍"))
    await store.submit_change(react(bob.id, "bob", room, "k4", 1, "👍", remove=True))
    page = await store.history(await room_of(store, "general"), limit=1, before=2)
    assert page.messages[0].reactions == [
        Reaction(emoji="👍", nicks=["alice"]),  # first used by bob, and never gone since
        Reaction(emoji="🎉", nicks=["alice"]),
    ]


def test_a_batch_moves_changes_after_the_messages_that_follow_them() -> None:
    def msg(user: int, reply_to: int | None = None) -> NewMessage:
        return NewMessage(user, f"u{user}", 1, f"k{user}", "hi", reply_to)

    def react(user: int) -> NewReaction:
        return NewReaction(user, f"u{user}", 1, f"r{user}", 3, "👍")

    edit = NewChange(1, "u1", 1, "e", "edit", 3, "x")
    like = NewReaction(2, "u2", 1, "r", 3, "👍")
    join = object()  # any other write: a barrier
    # a change moves after the run of plain messages that follows it
    assert batch_order([edit, msg(2), like, msg(3), msg(4)]) == [1, 3, 4, 0, 2]
    # but never after a message of its own author, nor past another kind of write
    assert batch_order([msg(5), edit, msg(2), msg(1), msg(3)]) == [0, 2, 4, 1, 3]
    assert batch_order([edit, msg(2), join, msg(3)]) == [1, 0, 2, 3]
    # a reply moves like a change; plain messages alone keep their order
    assert batch_order([msg(1, reply_to=2), msg(2), msg(1)]) == [1, 0, 2]
    assert batch_order([msg(1), msg(2), msg(3)]) == [0, 1, 2]
    # many authors, each with changes between their messages: a run per change of one
    # author, not one per author
    many = [op for user in (1, 2, 3) for op in (msg(user), react(user), msg(user))]
    assert batch_order(many) == [0, 3, 6, 1, 4, 7, 2, 5, 8]


async def test_changes_and_messages_committed_together_are_acked_in_seq_order(
    store: AnyStore,
) -> None:
    alice, room = await member(store, "alice", "general")
    bob, _ = await member(store, "bob", "general")
    await say(store, alice.id, "alice", room, "m0")
    done: list[int] = []
    futures: list[asyncio.Future[Any]] = [
        store.submit_change(react(bob.id, "bob", room, "k1", 1, "👍")),
        store.submit(NewMessage(alice.id, "alice", room, "m1", "one")),
        store.submit(NewMessage(bob.id, "bob", room, "m2", "two")),  # after bob's reaction
        store.submit(NewMessage(alice.id, "alice", room, "m3", "three", reply_to=1)),
        store.submit(NewMessage(alice.id, "alice", room, "m4", "four")),
    ]
    for future in futures:
        future.add_done_callback(lambda f: done.append(f.result().seq))
    results = await asyncio.gather(*futures)
    assert done == sorted(done) == [2, 3, 4, 5, 6]  # callbacks (ack, fan-out) in seq order
    by_key = {r.client_id: r.seq for r in results}
    assert by_key["k1"] < by_key["m2"] and by_key["m3"] < by_key["m4"]  # each author's order
    assert by_key["m1"] == 2  # one batch: alice's message went before bob's reaction


async def test_a_search_hit_is_the_message_as_it_is_now(store: AnyStore) -> None:
    alice, room = await member(store, "alice", "general")
    bob, _ = await member(store, "bob", "general")
    await store.append(NewMessage(alice.id, "alice", room, "m1", "where is the deploy log"))
    await store.append(NewMessage(bob.id, "bob", room, "m2", "the deploy log is here", 1))
    await store.submit_change(react(alice.id, "alice", room, "k1", 2, "🙏"))
    hits = await store.search(alice.id, search_words("deploy"), None, 10)
    by_seq = {hit.seq: hit for hit in hits}
    assert (by_seq[1].replies, by_seq[1].version, by_seq[1].reactions) == (1, 2, [])
    assert (by_seq[2].reply_to, by_seq[2].thread, by_seq[2].version) == (1, 1, 3)
    assert by_seq[2].reactions == [Reaction(emoji="🙏", nicks=["alice"])]


async def test_changes_in_one_batch_are_decided_in_order_each_as_if_alone(
    store: AnyStore,
) -> None:
    """Edits and reactions submitted together (one batch: the SQLite writer reads all
    their checks up front and writes them in bulk) answer as they would one at a time:
    each sees the changes before it, a refused one takes no seq, a key twice stores once."""
    alice, room = await member(store, "alice", "general")
    bob, _ = await member(store, "bob", "general")
    carol, _ = await member(store, "carol", "general")
    mallory = await store.create_user("mallory", "hash")
    await say(store, alice.id, "alice", room, "m1")
    await say(store, bob.id, "bob", room, "m2")
    for i in range(19):  # message 2 holds 19 different emoji (seqs 3-21)
        await store.submit_change(react(carol.id, "carol", room, f"c{i}", 2, f":e{i}:"))

    def edit(key: str, body: str, user_id: int = alice.id, nick: str = "alice") -> NewChange:
        return NewChange(user_id, nick, room, key, "edit", 1, body)

    changes: list[NewChange | NewReaction] = [
        edit("e1", "v1"),
        react(bob.id, "bob", room, "r1", 1, "👍"),
        edit("e2", "v2"),
        react(bob.id, "bob", room, "r2", 1, "👍", remove=True),
        react(carol.id, "carol", room, "r3", 1, "👍"),  # a first use again
        react(bob.id, "bob", room, "r4", 1, "👍"),
        react(carol.id, "carol", room, "r5", 1, "👍"),  # hers stands: nothing to store
        edit("e1", "v3"),  # a key of this batch: its first answer
        react(mallory.id, "mallory", room, "x1", 1, "👍"),
        edit("b1", "mine now", bob.id, "bob"),
        react(bob.id, "bob", room, "r6", 22, "👍"),  # 22: the edit e1, not a message
        react(alice.id, "alice", room, "r7", 2, ":e19:"),  # the 20th emoji
        react(alice.id, "alice", room, "r8", 2, ":e20:"),  # a 21st
        react(alice.id, "alice", room, "r9", 2, ":e0:"),  # one it has
    ]
    futures = [store.submit_change(change) for change in changes]
    results = await asyncio.gather(*futures, return_exceptions=True)
    answers = [
        type(r).__name__ if isinstance(r, BaseException) else (r.seq, r.new, r.body or r.emoji)
        for r in results
    ]
    assert answers == [
        (22, True, "v1"),
        (23, True, "👍"),
        (24, True, "v2"),
        (25, True, "👍"),
        (26, True, "👍"),
        (27, True, "👍"),
        (27, False, "👍"),
        (22, False, "v2"),  # the entry as stored now: an edit carries its message's text
        "NotMember",
        "Forbidden",
        "NotFound",
        (28, True, ":e19:"),
        "OverLimit",
        (29, True, ":e0:"),
    ]
    assert await store.last_seq(room) == 29
    page = await store.history(await room_of(store, "general"), after=0, limit=100)
    assert [m.seq for m in page.messages] == list(range(1, 30))
    first, second = page.messages[:2]
    last_edit = results[2]
    assert not isinstance(last_edit, BaseException)
    assert (first.body, first.edited, first.version) == ("v2", last_edit.ts, 27)
    assert first.reactions == [Reaction(emoji="👍", nicks=["carol", "bob"])]
    assert [(m.kind, m.body) for m in page.messages[21:24:2]] == [("edit", "v2"), ("edit", "v2")]
    assert (second.version, len(second.reactions)) == (29, 20)
    assert second.reactions[0] == Reaction(emoji=":e0:", nicks=["carol", "alice"])
    again = await store.submit_change(react(bob.id, "bob", room, "r2", 1, "👍", remove=True))
    assert (again.seq, again.new, again.remove) == (25, False, True)
