"""The web client's room state (changes.js) in Chromium: entries applied by `version`, as
docs/protocol.md section 9 says, fed as live frames and as overlapping history pages.

The module is the file the page itself imports (from the real server, under the page's CSP);
each test replays a list of entries on a fresh RoomState and reads the messages back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Pages

pytestmark = pytest.mark.slow  # a browser and a server subprocess

Entry = dict[str, Any]

# Apply each entry in turn ("hold" a message as it is now, or "apply" an entry of the log);
# return what each step changed and the messages asked for at the end.
RUN = """async ({ steps, read }) => {
  const { RoomState, kindOf } = await import("/changes.js");
  const state = new RoomState();
  const changed = steps.map(([op, entry]) =>
    op === "hold" ? [state.hold(entry).seq] : state.apply(entry));
  const kinds = steps.map(([, entry]) => kindOf(entry));
  return { changed, kinds, messages: read.map((seq) => state.get(seq) || null) };
}"""

TS = "2026-12-02T10:00:00.000Z"


def msg(seq: int, body: str = "", nick: str = "alice", **fields: Any) -> Entry:
    return {"room": "general", "seq": seq, "nick": nick, "body": body, "ts": TS,
            "id": f"i{seq}", **fields}  # fmt: skip


def live(type_: str, seq: int, target: int, nick: str = "alice", **fields: Any) -> Entry:
    """A live frame (`edit`, `delete`, `react`): its kind is its type."""
    return {"type": type_, "room": "general", "seq": seq, "nick": nick, "ts": f"ts{seq}",
            "id": f"i{seq}", "target": target, **fields}  # fmt: skip


def paged(kind: str, seq: int, target: int, nick: str = "alice", **fields: Any) -> Entry:
    """A change entry of a history page: its kind is `kind`."""
    return {**msg(seq, fields.pop("body", ""), nick), "kind": kind, "target": target, **fields}


@pytest.fixture
def page(pages: Pages) -> Iterator[Page]:
    opened = pages.open()
    expect(opened.locator("#login-screen")).to_be_visible()
    yield opened


def run(page: Page, steps: list[tuple[str, Entry]], *read: int) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(RUN, {"steps": [list(s) for s in steps], "read": read})
    return result


def test_the_worked_example_of_the_protocol(page: Page) -> None:
    """Alice fixes a typo, then deletes; Bob, offline for the delete, catches up, then reads a
    page of all three entries, which changes nothing."""
    steps = [
        ("apply", msg(41, "the pasword is hunter2")),
        ("apply", live("edit", 42, 41, body="the password is hunter2")),
        ("apply", paged("delete", 43, 41, reason="secret")),  # the join's history after 42
        ("apply", msg(41, "", edited="ts42", deleted=True, version=43)),  # a later page
        ("apply", paged("edit", 42, 41, deleted=True)),
        ("apply", paged("delete", 43, 41, reason="secret")),
    ]
    result = run(page, steps, 41)
    assert result["kinds"] == ["message", "edit", "delete", "message", "edit", "delete"]
    assert result["changed"] == [[41], [41], [41], [41], [], []]
    m = result["messages"][0]
    assert (m["deleted"], m["body"], m["version"], m["reactions"]) == (True, "", 43, [])


def test_an_edit_sets_the_text_once_and_an_older_one_is_skipped(page: Page) -> None:
    steps = [
        ("apply", msg(1, "first")),
        ("apply", live("edit", 3, 1, body="third")),
        ("apply", paged("edit", 2, 1, body="third")),  # an older page, after the live frame
        ("apply", live("edit", 3, 1, body="third")),  # the same frame twice
    ]
    result = run(page, steps, 1)
    assert result["changed"] == [[1], [1], [], []]
    m = result["messages"][0]
    assert (m["body"], m["edited"], m["version"], m["deleted"]) == ("third", "ts3", 3, False)


def test_reactions_count_each_person_once_in_order_of_first_use(page: Page) -> None:
    steps = [
        ("apply", msg(1, "react to me")),
        ("apply", live("react", 2, 1, "bob", emoji="👍")),
        ("apply", live("react", 3, 1, "carol", emoji="🎉")),
        ("apply", live("react", 4, 1, "alice", emoji="👍")),
        ("apply", live("react", 4, 1, "alice", emoji="👍")),  # again: nothing
        ("apply", live("react", 5, 1, "BOB", emoji="👍", remove=True)),  # nicks ignore case
        ("apply", live("react", 6, 1, "alice", emoji="👍", remove=True)),  # the last nick
        ("apply", live("react", 7, 1, "alice", emoji="👍")),  # back, after 🎉 now
    ]
    result = run(page, steps, 1)
    assert result["messages"][0]["reactions"] == [
        {"emoji": "🎉", "nicks": ["carol"], "count": 1},
        {"emoji": "👍", "nicks": ["alice"], "count": 1},
    ]
    assert result["changed"][4] == []


def test_past_the_nicks_a_page_lists_the_count_goes_on(page: Page) -> None:
    """A page names at most 50 nicks per emoji and says `count`; live reactions add to it and
    take from it, whether or not their nick was named."""
    named = [f"n{i}" for i in range(50)]
    steps = [
        ("hold", msg(1, "popular", reactions=[{"emoji": "👍", "nicks": named, "count": 60}])),
        ("apply", live("react", 2, 1, "late", emoji="👍")),
        ("apply", live("react", 3, 1, "n0", emoji="👍", remove=True)),  # named
        ("apply", live("react", 4, 1, "unnamed", emoji="👍", remove=True)),  # one of the 10
    ]
    (reaction,) = run(page, steps, 1)["messages"][0]["reactions"]
    assert reaction["count"] == 59
    assert reaction["nicks"] == [*named[1:], "late"]


def test_a_delete_drops_the_reactions_and_a_deleted_entry_counts_as_one(page: Page) -> None:
    reacted = [{"emoji": "👍", "nicks": ["bob"]}]
    steps = [
        ("hold", msg(1, "one", reactions=reacted, version=2)),
        ("apply", paged("react", 3, 1, "bob", emoji="", deleted=True)),  # erased with its message
        ("apply", live("react", 4, 1, "carol", emoji="🎉")),  # too late: it stays deleted
    ]
    m = run(page, steps, 1)["messages"][0]
    assert (m["deleted"], m["body"], m["reactions"], m["version"]) == (True, "", [], 4)


def test_replies_count_on_their_root_once(page: Page) -> None:
    steps = [
        ("apply", msg(1, "root")),
        ("apply", msg(2, "a reply", "bob", reply_to=1, thread=1)),
        ("apply", msg(2, "a reply", "bob", reply_to=1, thread=1)),  # seen again in a page
        ("hold", msg(1, "root", replies=2, version=3)),  # the root as it is now
        ("apply", msg(3, "another", "carol", reply_to=2, thread=1)),  # already counted
    ]
    result = run(page, steps, 1, 3)
    root, reply = result["messages"]
    assert (root["replies"], root["version"]) == (2, 3)
    assert (reply["reply_to"], reply["thread"]) == (2, 1)
    assert result["changed"][1] == [2, 1]  # the reply and its root's count


def test_entries_of_a_message_not_held_are_skipped(page: Page) -> None:
    steps = [
        ("apply", live("edit", 5, 1, body="who?")),
        ("apply", msg(6, "a reply to the unknown", reply_to=1, thread=1)),
        ("hold", msg(1, "as it is now", edited="ts5", version=6, replies=1)),
    ]
    result = run(page, steps, 1)
    assert result["changed"][0] == []
    m = result["messages"][0]
    assert (m["body"], m["replies"], m["version"]) == ("as it is now", 1, 6)
