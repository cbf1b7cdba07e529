"""The client library meets protocol 2's change entries from a real server: it keeps each
room's order across them and shows none of them as a message, live, in a catch-up or in a join's
backlog; each comes as the frame that made it (``p.EditEvent``...), and edit, delete and react
are made once across reconnects, as sends are."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect

from chat_server import protocol as p
from chat_tui.client import ChatClient
from chat_tui.client.entries import RoomLog
from chat_tui.client.errors import ServerError
from chat_tui.client.events import StatusChanged
from chat_tui.client.rooms import change_event, change_record
from tests.client.conftest import FAST_BACKOFF, Relay, RestartableServer
from tests.client.test_client import TIMEOUT, Watcher

Entry = (p.MessageRecord, p.EditEvent, p.DeleteEvent, p.ReactEvent)


async def changes(server: RestartableServer, token: str, room: str) -> None:
    """Alice, on a bare websocket: a message, its edit, another, its delete, a third."""
    frames = [
        {"type": "send", "room": room, "body": "helo", "id": "m1"},
        {"type": "edit", "room": room, "target": 1, "body": "hello", "id": "e1"},
        {"type": "send", "room": room, "body": "second", "id": "m2"},
        {"type": "delete", "room": room, "target": 1, "id": "d1", "reason": "typo"},
        {"type": "send", "room": room, "body": "third", "id": "m3"},
    ]
    async with connect(server.url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        await ws.send(json.dumps({"type": "join", "room": room}))
        for frame in frames:  # one at a time: each change needs its target stored
            await ws.send(json.dumps(frame))
            while (reply := json.loads(await ws.recv()))["type"] != "ack":
                assert reply["type"] != "error", reply


async def test_live_changes_keep_the_order_and_are_not_shown_as_messages(
    chat: RestartableServer,
) -> None:
    alice = await chat.account("alice")
    async with chat.client(await chat.account("bob")) as bob:
        watcher = Watcher(bob)
        await bob.join("general")
        await changes(chat, alice, "general")
        assert await watcher.messages_up_to("general", 5) == [1, 3, 5]
        assert all(m.kind is None for m in watcher.messages("general"))
    async with chat.client(await chat.account("carol")) as carol:
        joined = await carol.join("general", since=0)
        assert [(m.seq, m.body, m.deleted) for m in joined.messages] == [
            (1, "", True),
            (3, "second", False),
            (5, "third", False),
        ]
        page = await carol.history("general")  # the raw page keeps the change entries
        assert [m.kind for m in page.messages] == [None, "edit", None, "delete", None]


def test_a_live_change_is_the_entry_history_lists() -> None:
    edit = p.EditEvent(room="a", seq=2, nick="alice", ts="t", id="e1", target=1, body="hi")
    assert change_record(edit) == p.MessageRecord(
        "a", 2, "alice", "hi", "t", "e1", kind="edit", target=1
    )
    delete = p.DeleteEvent(room="a", seq=3, nick="alice", ts="t", id="d1", target=1, reason="x")
    assert change_record(delete) == p.MessageRecord(
        "a", 3, "alice", "", "t", "d1", kind="delete", target=1, reason="x"
    )


def test_a_page_entry_reads_as_the_live_frame_that_made_it() -> None:
    edit = p.MessageRecord("a", 2, "alice", "hi", "t", "e1", kind="edit", target=1)
    assert change_event(edit) == p.EditEvent("a", 2, "alice", "t", "e1", 1, "hi")
    react = p.MessageRecord("a", 3, "bob", "", "t", "r1", kind="react", target=1, emoji="👍")
    assert change_event(react) == p.ReactEvent("a", 3, "bob", "t", "r1", 1, "👍")
    erased = p.MessageRecord(
        "a", 2, "alice", "", "t", "e1", kind="edit", target=1, deleted=True
    )  # its message is deleted since: it stands for the delete
    assert change_event(erased) == p.DeleteEvent("a", 2, "alice", "t", "e1", 1)
    assert change_event(p.MessageRecord("a", 1, "alice", "hi", "t", "m1")) is None


async def test_changes_arrive_as_events_live_and_in_a_join_backlog(
    chat: RestartableServer,
) -> None:
    alice = await chat.account("alice")
    async with chat.client(await chat.account("bob")) as bob:
        watcher = Watcher(bob)
        await bob.join("general")
        await changes(chat, alice, "general")
        await watcher.messages_up_to("general", 5)
        entries = [e for e in watcher.seen if isinstance(e, Entry)]
        assert [(type(e).__name__, e.seq) for e in entries] == [
            ("MessageRecord", 1),
            ("EditEvent", 2),
            ("MessageRecord", 3),
            ("DeleteEvent", 4),
            ("MessageRecord", 5),
        ]
        log = RoomLog()
        for entry in entries:
            log.apply(entry)
        assert [(m.seq, m.body, m.deleted) for m in log.messages.values()] == [
            (1, "", True),
            (3, "second", False),
            (5, "third", False),
        ]
    async with chat.client(await chat.account("carol")) as carol:
        joined = await carol.join("general", since=0)
        assert [(type(c).__name__, c.seq, c.target) for c in joined.changes] == [
            ("DeleteEvent", 2, 1),  # the edit of a message deleted since stands for its delete
            ("DeleteEvent", 4, 1),
        ]


async def test_edit_and_delete_answer_with_their_entry(chat: RestartableServer) -> None:
    async with chat.client(await chat.account("alice")) as alice:
        watcher = Watcher(alice)
        await alice.join("general")
        sent = await alice.send("deploy 40%", room="general")
        edited = await alice.edit("general", sent.seq, "deploy done")
        assert edited.seq == sent.seq + 1
        await watcher.until(lambda seen: any(isinstance(e, p.EditEvent) for e in seen))
        deleted = await alice.delete("general", sent.seq, reason="noise")
        assert deleted.seq == edited.seq + 1
        page = await alice.history("general")
        log = RoomLog()
        for entry in page.messages:
            log.apply(entry)
        assert [(m.body, m.deleted, m.version) for m in log.messages.values()] == [
            ("", True, deleted.seq)
        ]


async def test_someone_elses_message_cannot_be_edited(chat: RestartableServer) -> None:
    async with (
        chat.client(await chat.account("alice")) as alice,
        chat.client(await chat.account("bob")) as bob,
    ):
        await alice.join("general")
        await bob.join("general")
        sent = await alice.send("mine", room="general")
        with pytest.raises(ServerError) as refused:
            await bob.edit("general", sent.seq, "yours now")
        assert refused.value.code == "forbidden"
        with pytest.raises(ServerError) as missing:
            await bob.delete("general", 99)
        assert missing.value.code == "not_found"
        assert bob.queued == 0


async def test_an_edit_made_offline_goes_out_once_after_reconnect(
    chat: RestartableServer,
) -> None:
    async with chat.client(await chat.account("alice")) as alice:
        watcher = Watcher(alice)
        await alice.join("general")
        sent = await alice.send("deploy 40%", room="general")
        await chat.stop()
        await watcher.until(lambda _: alice.status.state != "connected")
        pending = asyncio.create_task(alice.edit("general", sent.seq, "deploy done", id="ed1"))
        await watcher.until(
            lambda seen: any(isinstance(e, StatusChanged) and e.status.queued == 1 for e in seen)
        )
        await chat.start()
        ack = await asyncio.wait_for(pending, TIMEOUT)
        page = await alice.history("general")
        assert [(m.seq, m.kind, m.body) for m in page.messages] == [
            (sent.seq, None, "deploy done"),
            (ack.seq, "edit", "deploy done"),
        ]


async def test_a_lost_ack_of_a_delete_is_recovered_with_the_same_id(
    chat: RestartableServer,
) -> None:
    dropped: list[dict[str, Any]] = []

    def judge(frame: dict[str, Any]) -> str:
        if frame["type"] == "ack" and frame["id"] == "del1" and not dropped:
            dropped.append(frame)
            return "close"
        return "pass"

    token = await chat.account("alice")
    async with Relay(chat.url, judge) as relay:
        alice = ChatClient(relay.url, token=token, backoff=FAST_BACKOFF)
        async with alice:
            await alice.join("general")
            sent = await alice.send("oops", room="general")
            ack = await asyncio.wait_for(alice.delete("general", sent.seq, id="del1"), TIMEOUT)
            assert dropped and dropped[0]["seq"] == ack.seq
            page = await alice.history("general")
    assert [(m.seq, m.kind) for m in page.messages] == [(1, None), (2, "delete")]


async def test_reactions_come_live_and_in_pages(chat: RestartableServer) -> None:
    async with (
        chat.client(await chat.account("alice")) as alice,
        chat.client(await chat.account("bob")) as bob,
    ):
        watcher = Watcher(alice)
        await alice.join("general")
        await bob.join("general")
        sent = await alice.send("ship it?", room="general")
        first = await bob.react("general", sent.seq, "👍")
        await alice.react("general", sent.seq, "🎉")
        await alice.react("general", sent.seq, "👍")
        again = await bob.react("general", sent.seq, "👍")  # a repeat stores nothing
        await bob.react("general", sent.seq, "👍", remove=True)
        await watcher.until(
            lambda seen: any(isinstance(e, p.ReactEvent) and e.remove for e in seen)
        )
        assert again.seq == first.seq + 2
        log = RoomLog()
        for entry in watcher.seen:
            if isinstance(entry, Entry):
                log.apply(entry)
        held = log.get(sent.seq)
        assert held is not None
        assert [(r.emoji, r.nicks) for r in held.reactions] == [
            ("👍", ["alice"]),  # first used, and never gone since
            ("🎉", ["alice"]),
        ]
        page = await bob.history("general")
        assert page.messages[0].reactions == held.reactions


async def test_replies_form_a_thread_and_around_centres_on_a_seq(
    chat: RestartableServer,
) -> None:
    async with chat.client(await chat.account("alice")) as alice:
        watcher = Watcher(alice)
        await alice.join("general")
        root = await alice.send("root", room="general")
        await alice.send("unrelated", room="general")
        reply = await alice.send("answer", room="general", reply_to=root.seq)
        nested = await alice.send("answer to the answer", room="general", reply_to=reply.seq)
        await watcher.messages_up_to("general", nested.seq)
        live = watcher.messages("general")[-1]
        assert (live.reply_to, live.thread) == (reply.seq, root.seq)
        thread = await alice.history("general", thread=root.seq)
        assert [(m.body, m.replies) for m in thread.messages] == [
            ("root", 2),
            ("answer", 0),
            ("answer to the answer", 0),
        ]
        around = await alice.history("general", around=reply.seq, limit=2)
        assert [m.seq for m in around.messages] == [reply.seq - 1, reply.seq]


async def test_deleting_a_deleted_message_answers_with_the_first_delete(
    chat: RestartableServer,
) -> None:
    async with chat.client(await chat.account("alice")) as alice:
        await alice.join("general")
        sent = await alice.send("twice", room="general")
        first = await alice.delete("general", sent.seq, id="d1")
        again = await asyncio.wait_for(alice.delete("general", sent.seq, id="d2"), TIMEOUT)
        assert (again.id, again.seq, again.ts) == ("d2", first.seq, first.ts)
        assert alice.queued == 0
