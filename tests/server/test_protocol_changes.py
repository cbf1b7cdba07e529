"""Protocol 2's edit and delete on the wire, without sockets: requests, live entries, and
the history records of a log whose messages change."""

from __future__ import annotations

import json

import pytest

from chat_server import protocol as p
from chat_server.errors import ProtocolError


def decode(frame: object) -> p.AnyClientFrame:
    return p.decode_client_frame(json.dumps(frame))


def refusal(frame: object) -> str:
    with pytest.raises(ProtocolError) as info:
        decode(frame)
    return info.value.code


def test_edit_and_delete_decode_with_their_text_cleaned() -> None:
    edit = decode(
        {"type": "edit", "room": "a", "target": 4, "body": "fixed\x1b[31m", "id": "e1", "ref": "r"}
    )
    assert edit == p.Edit(room="a", target=4, body="fixed", id="e1", ref="r")
    delete = decode({"type": "delete", "room": "a", "target": 4, "id": "d1"})
    assert delete == p.Delete(room="a", target=4, id="d1")
    spaced = decode(
        {"type": "delete", "room": "a", "target": 4, "id": "d2", "reason": " pasted\n a  key "}
    )
    assert isinstance(spaced, p.Delete) and spaced.reason == "pasted a key"
    blank = decode({"type": "delete", "room": "a", "target": 4, "id": "d3", "reason": " \t"})
    assert isinstance(blank, p.Delete) and blank.reason is None


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "edit", "room": "a", "target": 4, "body": "  ", "id": "e"}, "bad_request"),
        ({"type": "edit", "room": "a", "target": 4, "body": "x" * 4001, "id": "e"}, "too_large"),
        ({"type": "edit", "room": "A!", "target": 4, "body": "x", "id": "e"}, "invalid_name"),
        ({"type": "edit", "room": "a", "target": -1, "body": "x", "id": "e"}, "bad_request"),
        ({"type": "edit", "room": "a", "target": "4", "body": "x", "id": "e"}, "bad_request"),
        ({"type": "edit", "room": "a", "target": 4, "body": "x"}, "bad_request"),
        ({"type": "edit", "room": "a", "target": 4, "body": "x", "id": "e\x00"}, "bad_request"),
        ({"type": "edit", "room": "a", "target": 4, "body": "x", "id": ""}, "bad_request"),
        ({"type": "delete", "room": "a", "id": "d"}, "bad_request"),
        ({"type": "delete", "room": "a", "target": 4, "id": "d", "reason": "r" * 501}, "too_large"),
        ({"type": "delete", "room": "a", "target": 4, "id": "d", "reason": 3}, "bad_request"),
        ({"type": "delete", "room": "dm:x", "target": 4, "id": "d"}, "invalid_name"),
    ],
)
def test_invalid_changes(frame: dict[str, object], code: str) -> None:
    assert refusal(frame) == code


def test_live_entries_round_trip_and_leave_out_what_they_lack() -> None:
    edit = p.EditEvent(room="a", seq=5, nick="alice", ts="t", id="e1", target=3, body="new")
    assert p.decode_server_frame(p.encode(edit)) == edit
    delete = p.DeleteEvent(room="a", seq=6, nick="alice", ts="t", id="d1", target=3)
    assert p.decode_server_frame(p.encode(delete)) == delete
    assert json.loads(p.encode(delete)) == {
        "type": "delete", "room": "a", "seq": 6, "nick": "alice", "ts": "t", "id": "d1",
        "target": 3,
    }  # fmt: skip


def test_an_unchanged_message_record_is_protocol_1_byte_for_byte() -> None:
    record = p.MessageRecord("a", 1, "alice", "hi", "t", "k")
    assert p.encode(record) == (
        b'{"room":"a","seq":1,"nick":"alice","body":"hi","ts":"t","id":"k"}'
    )
    hit = p.SearchHit(room="a", seq=1, nick="alice", body="hi", ts="t")
    assert p.encode(hit) == b'{"room":"a","seq":1,"nick":"alice","body":"hi","ts":"t"}'


def test_changed_messages_and_change_entries_carry_their_state() -> None:
    deleted = p.MessageRecord("a", 1, "alice", "", "t", "k", deleted=True, version=3)
    assert json.loads(p.encode(deleted))["deleted"] is True
    entry = p.MessageRecord("a", 2, "alice", "new", "t2", "e", kind="edit", target=1)
    page = p.HistoryPage(room="a", messages=[deleted, entry], more=False)
    decoded = p.decode_server_frame(p.encode(page))
    assert isinstance(decoded, p.HistoryPage) and decoded.messages == [deleted, entry]
