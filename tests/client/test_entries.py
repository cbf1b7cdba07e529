"""RoomLog: a room's messages as they are now, from entries applied by version (section 9).

The property tests build a room's log with a small reference model of the server (below, sharing
no code with ``chat_tui.client.entries``), then feed a RoomLog the live frames in order with
repeats, and history pages materialised at any moment mixed in anywhere: it must end where the
final materialised page is.
"""

from __future__ import annotations

import dataclasses

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from chat_server import protocol as p
from chat_tui.client.entries import ORPHANS_MAX, Entry, RoomLog, record_of

ROOM = "general"


def ts(seq: int) -> str:
    return f"2026-12-02T10:{seq // 60:02d}:{seq % 60:02d}.000Z"


def message(
    seq: int,
    body: str = "hi",
    nick: str = "alice",
    reply_to: int | None = None,
    thread: int | None = None,
) -> p.Message:
    return p.Message(
        room=ROOM,
        seq=seq,
        nick=nick,
        body=body,
        ts=ts(seq),
        id=f"m{seq}",
        reply_to=reply_to,
        thread=thread,
    )


def edit(seq: int, target: int, body: str, nick: str = "alice") -> p.EditEvent:
    return p.EditEvent(
        room=ROOM, seq=seq, nick=nick, ts=ts(seq), id=f"e{seq}", target=target, body=body
    )


def delete(seq: int, target: int, nick: str = "alice") -> p.DeleteEvent:
    return p.DeleteEvent(room=ROOM, seq=seq, nick=nick, ts=ts(seq), id=f"d{seq}", target=target)


def react(seq: int, target: int, emoji: str, nick: str, remove: bool = False) -> p.ReactEvent:
    return p.ReactEvent(
        room=ROOM,
        seq=seq,
        nick=nick,
        ts=ts(seq),
        id=f"r{seq}",
        target=target,
        emoji=emoji,
        remove=remove,
    )


def reactions(log: RoomLog, seq: int) -> list[tuple[str, list[str]]]:
    held = log.get(seq)
    assert held is not None
    return [(r.emoji, r.nicks) for r in held.reactions]


def test_a_live_message_is_held_as_its_record() -> None:
    log = RoomLog()
    assert log.apply(message(1, "hello")) == [1]
    assert log.get(1) == p.MessageRecord(
        room=ROOM, seq=1, nick="alice", body="hello", ts=ts(1), id="m1", version=1
    )
    assert record_of(message(2, reply_to=1, thread=1)).thread == 1
    assert log.apply(message(1, "hello")) == []
    assert log.get(2) is None


def test_an_edit_sets_the_text_once() -> None:
    log = RoomLog()
    log.apply(message(1, "teh cat"))
    assert log.apply(edit(2, 1, "the cat")) == [1]
    held = log.get(1)
    assert held is not None
    assert (held.body, held.edited, held.version) == ("the cat", ts(2), 2)
    assert log.apply(edit(2, 1, "the cat")) == []
    assert log.apply(message(1, "teh cat")) == []  # an older copy of it changes nothing
    assert log.get(1) == held


def test_a_delete_erases_the_text_and_the_reactions() -> None:
    log = RoomLog()
    log.apply(message(1, "secret"))
    log.apply(react(2, 1, "👍", "bob"))
    assert log.apply(delete(3, 1, nick="admin")) == [1]
    held = log.get(1)
    assert held is not None
    assert (held.body, held.deleted, held.reactions, held.version) == ("", True, [], 3)
    assert log.apply(edit(2, 1, "secret")) == []


def test_reactions_keep_the_order_of_first_use() -> None:
    log = RoomLog()
    log.apply(message(1))
    log.apply(react(2, 1, "👍", "bob"))
    log.apply(react(3, 1, "🎉", "carol"))
    log.apply(react(4, 1, "👍", "alice"))
    assert reactions(log, 1) == [("👍", ["bob", "alice"]), ("🎉", ["carol"])]
    assert log.apply(react(5, 1, "👍", "bob", remove=True)) == [1]
    assert reactions(log, 1) == [("👍", ["alice"]), ("🎉", ["carol"])]
    log.apply(react(6, 1, "👍", "alice", remove=True))
    log.apply(react(7, 1, "👍", "bob"))
    assert reactions(log, 1) == [("🎉", ["carol"]), ("👍", ["bob"])]


def test_past_the_listed_nicks_a_reaction_counts_on() -> None:
    listed = [f"u{i}" for i in range(p.MAX_REACTION_NICKS)]
    page = p.MessageRecord(
        room=ROOM,
        seq=1,
        nick="alice",
        body="ship it",
        ts=ts(1),
        id="m1",
        version=70,
        reactions=[p.Reaction(emoji="👍", nicks=listed, count=60)],
    )
    log = RoomLog()
    log.apply(page)
    log.apply(react(71, 1, "👍", "late"))
    held = log.get(1)
    assert held is not None and held.reactions[0].count == 61
    assert held.reactions[0].nicks == listed  # the page's first 50 stay listed
    log.apply(react(72, 1, "👍", "u3", remove=True))
    log.apply(react(73, 1, "👍", "unlisted", remove=True))
    assert held.reactions[0].count == 59 and "u3" not in held.reactions[0].nicks
    assert page.reactions[0].count == 60  # the caller's page is not changed


def test_a_reply_counts_on_its_root_once() -> None:
    log = RoomLog()
    log.apply(message(1, "root"))
    assert log.apply(message(2, "re", nick="bob", reply_to=1, thread=1)) == [2, 1]
    assert log.apply(message(2, "re", nick="bob", reply_to=1, thread=1)) == []
    root = log.get(1)
    assert root is not None
    assert (root.replies, root.version) == (1, 2)


def test_a_page_record_replaces_a_held_one_only_when_newer() -> None:
    log = RoomLog()
    log.apply(message(1, "one"))
    log.apply(edit(3, 1, "three"))
    page_old = p.MessageRecord(
        room=ROOM, seq=1, nick="alice", body="two", ts=ts(1), id="m1", edited=ts(2), version=2
    )
    assert log.apply(page_old) == []
    newer = p.MessageRecord(
        room=ROOM, seq=1, nick="alice", body="four", ts=ts(1), id="m1", edited=ts(4), version=4
    )
    assert log.apply(newer) == [1]
    held = log.get(1)
    assert held is not None and held.body == "four"
    held.body = "changed"
    assert newer.body == "four"  # the log holds its own copy


def test_entries_flagged_deleted_count_as_a_delete() -> None:
    log = RoomLog()
    log.apply(message(1, "secret"))
    entry = p.MessageRecord(
        room=ROOM, seq=2, nick="alice", body="", ts=ts(2), id="e2", kind="edit", target=1,
        deleted=True,
    )  # fmt: skip
    assert log.apply(entry) == [1]
    held = log.get(1)
    assert held is not None and (held.body, held.deleted, held.edited) == ("", True, ts(2))
    log2 = RoomLog()
    log2.apply(message(1, "x"))
    gone = p.MessageRecord(
        room=ROOM, seq=2, nick="bob", body="", ts=ts(2), id="r2", kind="react", target=1,
        emoji="", deleted=True,
    )  # fmt: skip
    log2.apply(gone)
    held2 = log2.get(1)
    assert held2 is not None and held2.deleted and held2.reactions == []


def test_the_worked_example_of_the_protocol() -> None:
    """docs/protocol.md section 9: Bob held 41 at version 42, then catches up."""
    log = RoomLog()
    log.apply(message(41, "the pasword is hunter2"))
    log.apply(edit(42, 41, "the password is hunter2"))
    delete_entry = p.MessageRecord(
        room=ROOM, seq=43, nick="alice", body="", ts=ts(43), id="a3", kind="delete", target=41,
        reason="secret",
    )  # fmt: skip
    assert log.apply(delete_entry) == [41]
    after = log.get(41)
    assert after is not None
    state = (after.body, after.deleted, after.edited, after.version)
    assert state == ("", True, ts(42), 43)
    page = [
        p.MessageRecord(
            room=ROOM, seq=41, nick="alice", body="", ts=ts(41), id="a1", edited=ts(42),
            deleted=True, version=43,
        ),
        p.MessageRecord(
            room=ROOM, seq=42, nick="alice", body="", ts=ts(42), id="a2", kind="edit", target=41,
            deleted=True,
        ),
        delete_entry,
    ]  # fmt: skip
    assert [log.apply(entry) for entry in page] == [[], [], []]


def test_live_changes_that_overtake_their_message_wait_for_it() -> None:
    log = RoomLog()
    assert log.apply(edit(5, 1, "later")) == []
    assert log.apply(message(6, "re", nick="bob", reply_to=1, thread=1)) == [6]
    page_record = p.MessageRecord(room=ROOM, seq=1, nick="alice", body="first", ts=ts(1), id="m1")
    assert log.apply(page_record) == [1]
    held = log.get(1)
    assert held is not None
    assert (held.body, held.replies, held.version) == ("later", 1, 6)


def test_waiting_changes_are_bounded_and_the_oldest_messages_lose_theirs() -> None:
    log = RoomLog()
    for target in range(1, ORPHANS_MAX + 11):
        log.apply(edit(100_000 + target, target, f"edit of {target}"))
    for target in (1, ORPHANS_MAX + 10):
        log.apply(p.MessageRecord(room=ROOM, seq=target, nick="alice", body="x", ts="t", id="m"))
    first, last = log.get(1), log.get(ORPHANS_MAX + 10)
    assert first is not None and first.body == "x"  # its edit was dropped to make room
    assert last is not None and last.body == f"edit of {ORPHANS_MAX + 10}"


# --- the reference model: a server's log of one room, materialised at any seq -----------------

NICKS = ["alice", "bob", "carol"]
EMOJI = ["👍", "🎉", "+1"]


@dataclasses.dataclass
class Op:
    """One entry of the model's log, in the terms of section 9's tables."""

    seq: int
    kind: str  # message, edit, delete, react
    nick: str
    target: int | None = None
    body: str = ""
    reply_to: int | None = None
    thread: int | None = None
    emoji: str = ""
    remove: bool = False


def build_log(steps: list[tuple[int, int, int, int, bool]]) -> list[Op]:
    """What a server stores for a sequence of requests, refusals left out."""
    log: list[Op] = []
    messages: dict[int, Op] = {}
    deleted: set[int] = set()
    reacted: dict[int, list[tuple[str, str]]] = {}
    for action, who, pick, what, flag in steps:
        seq = len(log) + 1
        nick = NICKS[who % len(NICKS)]
        live = [m for m in messages if m not in deleted]
        target = live[pick % len(live)] if live else None
        if action == 0 or target is None:
            op = Op(seq, "message", nick, body=f"m{seq}")
            if flag and target is not None:
                op.reply_to = target
                op.thread = messages[target].thread or target
            messages[seq] = op
        elif action == 1:
            op = Op(seq, "edit", messages[target].nick, target=target, body=f"e{seq}")
        elif action == 2:
            op = Op(seq, "delete", nick, target=target)
            deleted.add(target)
        else:
            emoji = EMOJI[what % len(EMOJI)]
            mine = (nick, emoji) in reacted.setdefault(target, [])
            if mine != flag:  # a repeated add, or a remove of nothing, stores nothing
                continue
            op = Op(seq, "react", nick, target=target, emoji=emoji, remove=flag)
            if flag:
                reacted[target].remove((nick, emoji))
            else:
                reacted[target].append((nick, emoji))
        log.append(op)
    return log


def live_frame(op: Op) -> Entry:
    """The frame members get when the entry is made."""
    if op.kind == "message":
        return message(op.seq, op.body, op.nick, op.reply_to, op.thread)
    assert op.target is not None
    if op.kind == "edit":
        return edit(op.seq, op.target, op.body, op.nick)
    if op.kind == "delete":
        return delete(op.seq, op.target, op.nick)
    return react(op.seq, op.target, op.emoji, op.nick, op.remove)


def materialise(log: list[Op], upto: int) -> list[p.MessageRecord]:
    """Every entry up to seq ``upto`` as a history page lists it at that moment."""
    ops = log[:upto]
    states: dict[int, dict[str, object]] = {}
    for op in ops:
        if op.kind == "message":
            states[op.seq] = {
                "body": op.body, "edited": None, "deleted": False, "version": op.seq,
                "reactions": {}, "replies": 0,
            }  # fmt: skip
            if op.thread is not None:
                root = states[op.thread]
                root["replies"] = int(str(root["replies"])) + 1
                root["version"] = op.seq
            continue
        assert op.target is not None
        state = states[op.target]
        state["version"] = op.seq
        reacts = state["reactions"]
        assert isinstance(reacts, dict)
        if op.kind == "edit":
            state["body"] = op.body
            state["edited"] = ts(op.seq)
        elif op.kind == "delete":
            state["body"] = ""
            state["deleted"] = True
            reacts.clear()
        elif op.remove:
            reacts[op.emoji].remove(op.nick)
            if not reacts[op.emoji]:
                del reacts[op.emoji]
        else:
            reacts.setdefault(op.emoji, []).append(op.nick)
    page: list[p.MessageRecord] = []
    for op in ops:
        common = {"room": ROOM, "seq": op.seq, "nick": op.nick, "ts": ts(op.seq), "id": "x"}
        if op.kind == "message":
            state = states[op.seq]
            reacts = state["reactions"]
            assert isinstance(reacts, dict)
            version = int(str(state["version"]))
            record = p.MessageRecord(
                **common,  # type: ignore[arg-type]
                body=str(state["body"]),
                edited=state["edited"],  # type: ignore[arg-type]
                deleted=bool(state["deleted"]),
                version=None if version == op.seq else version,
                reply_to=op.reply_to,
                thread=op.thread,
                replies=int(str(state["replies"])),
                reactions=[p.Reaction(emoji=e, nicks=list(n)) for e, n in reacts.items()],
            )
        else:
            assert op.target is not None
            gone = bool(states[op.target]["deleted"])
            body = "" if gone or op.kind != "edit" else str(states[op.target]["body"])
            record = p.MessageRecord(
                **common,  # type: ignore[arg-type]
                body=body,
                kind=op.kind,  # type: ignore[arg-type]
                target=op.target,
                deleted=gone and op.kind != "delete",
                emoji=("" if gone else op.emoji) if op.kind == "react" else None,
                remove=op.remove,
            )
        record.id = live_frame(op).id
        page.append(record)
    return page


def truth(log: list[Op]) -> dict[int, p.MessageRecord]:
    final = materialise(log, len(log))
    held = {r.seq: r for r in final if r.kind is None}
    for record in held.values():
        if record.version is None:
            record.version = record.seq
    return held


steps_strategy = st.lists(
    st.tuples(
        st.integers(0, 3), st.integers(0, 2), st.integers(0, 50), st.integers(0, 2), st.booleans()
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps_strategy, data=st.data())
def test_live_frames_with_repeats_and_pages_end_as_the_final_page(
    steps: list[tuple[int, int, int, int, bool]], data: st.DataObject
) -> None:
    log = build_log(steps)
    n = len(log)
    # the client joined before entry ``start``: older messages come only from pages, fetched
    # after the join (so taken at ``start - 1`` or later)
    start = data.draw(st.integers(1, n))
    feed: list[Entry] = [live_frame(op) for op in log[start - 1 :]]
    # repeats: a frame delivered again later (a reconnect's catch-up overlapping)
    for _ in range(data.draw(st.integers(0, 5))):
        original = data.draw(st.integers(0, len(feed) - 1))
        at = data.draw(st.integers(original + 1, len(feed)))
        feed.insert(at, feed[original])
    # pages: a seq range of the log as it was at any moment at or after the range's end,
    # delivered anywhere in the stream (a stale one too), ascending within the page; a page
    # that reaches past the live frames seen so far starts at or before the first unseen one
    # (history pages are contiguous: a client asks ``after`` what it has seen)
    for _ in range(data.draw(st.integers(0, 4))):
        at = data.draw(st.integers(0, len(feed)))
        seen = max([e.seq for e in feed[:at] if not isinstance(e, p.MessageRecord)], default=0)
        moment = data.draw(st.integers(max(1, start - 1), n))
        last = data.draw(st.integers(1, moment))
        first = data.draw(st.integers(1, last if last <= seen else min(last, seen + 1)))
        feed[at:at] = materialise(log, moment)[first - 1 : last]
    room = RoomLog()
    for entry in feed:
        room.apply(entry)
    final = truth(log)
    assert set(room.messages) >= {op.seq for op in log[start - 1 :] if op.kind == "message"}
    assert room.messages == {seq: final[seq] for seq in room.messages}


@settings(max_examples=200, deadline=None)
@given(steps=steps_strategy, data=st.data())
def test_pages_in_any_order_end_as_the_newest(
    steps: list[tuple[int, int, int, int, bool]], data: st.DataObject
) -> None:
    """Whole-room pages taken at any moments, applied in any order, the final one among them."""
    log = build_log(steps)
    n = len(log)
    moments = [*data.draw(st.lists(st.integers(1, n), max_size=4)), n]
    order = data.draw(st.permutations(moments))
    room = RoomLog()
    for moment in order:
        for entry in materialise(log, moment):
            room.apply(entry)
    assert room.messages == truth(log)


@given(steps=steps_strategy)
def test_applying_returns_what_changed(steps: list[tuple[int, int, int, int, bool]]) -> None:
    log = build_log(steps)
    room = RoomLog()
    for op in log:
        before = {seq: record_copy(r) for seq, r in room.messages.items()}
        changed = room.apply(live_frame(op))
        after = room.messages
        moved = {seq for seq in after if before.get(seq) != after[seq]}
        assert set(changed) == moved
        assert room.apply(live_frame(op)) == []


def record_copy(record: p.MessageRecord) -> p.MessageRecord:
    return msgspec.json.decode(msgspec.json.encode(record), type=p.MessageRecord)
