"""The web client's roles module (roles.js) in Chromium: the buttons it offers agree with the
server's own rules (chat_server/access.py) in every cell, and notices read as one line.

The page comes from the real server, so the module is the file the page itself imports, under the
page's CSP. ``may`` only chooses which buttons the settings panel shows; a button the server would
refuse is a broken promise, a missing one a thing a person cannot do from the browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import product
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from chat_server.access import Role, RoomAction, RoomKind, room_refusal, target_refusal
from tests.browser.conftest import Pages

pytestmark = pytest.mark.slow  # a browser and a server subprocess

ACTORS: tuple[Role, ...] = ("owner", "op", "member")
KINDS: tuple[RoomKind, ...] = ("public", "private")
ROOM_WIDE = ("topic", "invite", "unban")  # acts on the room, or on someone who is not a member
ON_MEMBERS = ("kick", "ban", "op", "deop", "owner", "drop")

# Every cell: what the page says for (actor role, admin, room kind, [target role, self]).
MAY = """async (cells) => {
  const { may } = await import("/roles.js");
  return cells.map(([action, role, admin, kind, target, self]) =>
    may(action, { role, admin }, { private: kind === "private", dm: false },
        { role: target, self }));
}"""


@pytest.fixture
def page(pages: Pages) -> Iterator[Page]:
    opened = pages.open()
    expect(opened.locator("#login-screen")).to_be_visible()
    yield opened


# The page's role buttons as the server's `role` command: the role they give.
NEW_ROLE: dict[str, Role] = {"op": "op", "deop": "member", "drop": "member", "owner": "owner"}
COMMAND: dict[str, RoomAction] = {
    "topic": "topic",
    "invite": "invite",
    "unban": "unban",
    "kick": "kick",
    "ban": "ban",
    **{action: "role" for action in NEW_ROLE},
}


def server_allows(
    action: str, actor: Role, admin: bool, kind: RoomKind, target: Role, own: bool
) -> bool:
    """The server's answer to what the page calls ``action``."""
    command = COMMAND[action]
    if room_refusal(command, kind, actor, admin=admin) is not None:
        return False
    if action in ("topic", "invite"):
        return True
    if action == "unban":  # of someone banned, who is no member
        return target_refusal("unban", actor, "banned", admin=admin) is None
    if (action == "deop" and own) or (action == "drop" and not own):
        return False  # dropping one's own role is "drop", taking someone else's is "deop"
    new_role = NEW_ROLE.get(action, "member")
    answer = target_refusal(command, actor, target, admin=admin, own=own, new_role=new_role)
    return answer is None


def test_the_buttons_offered_are_the_servers_rules_in_every_cell(page: Page) -> None:
    cells: list[tuple[str, Role, bool, RoomKind, Role, bool]] = []
    for action, actor, admin, kind in product(ROOM_WIDE, ACTORS, (False, True), KINDS):
        cells.append((action, actor, admin, kind, "member", False))
    for action, actor, admin, kind, target in product(
        ON_MEMBERS, ACTORS, (False, True), KINDS, ACTORS
    ):
        cells.append((action, actor, admin, kind, target, False))
        if target == actor:  # one's own row in the members list
            cells.append((action, actor, admin, kind, target, True))
    offered: list[bool] = page.evaluate(MAY, cells)
    wrong = [
        (cell, said)
        for cell, said in zip(cells, offered, strict=True)
        if said != server_allows(*cell)
    ]
    assert wrong == [], f"the page offers (True) or hides (False) against the server: {wrong}"
    assert len(cells) == 3 * 3 * 2 * 2 + 6 * 3 * 2 * 2 * 4


def test_no_room_command_is_offered_in_a_direct_conversation(page: Page) -> None:
    offered = page.evaluate(
        """async () => {
          const { may } = await import("/roles.js");
          const actor = { role: "owner", admin: true };
          return ["topic", "invite", "kick", "ban", "unban", "op", "deop", "owner", "drop"]
            .filter((action) => may(action, actor, { private: false, dm: true }));
        }"""
    )
    assert offered == []


NOTICES: list[tuple[dict[str, Any], str]] = [
    ({"event": "kick", "target_nick": "bob", "reason": "spam"}, "alice removed bob: spam"),
    ({"event": "kick", "target_nick": "bob"}, "alice removed bob"),
    ({"event": "ban", "target_nick": "bob", "reason": "  "}, "alice banned bob"),
    ({"event": "ban", "target_nick": "bob", "reason": "ads"}, "alice banned bob: ads"),
    ({"event": "unban", "target_nick": "bob"}, "alice unbanned bob"),
    ({"event": "topic", "topic": "Q3 plans"}, "alice set the topic: Q3 plans"),
    ({"event": "topic", "topic": ""}, "alice cleared the topic"),
    ({"event": "role", "target_nick": "bob", "role": "op"}, "alice made bob an op"),
    ({"event": "role", "target_nick": "bob", "role": "owner"}, "alice made bob the owner"),
    ({"event": "role", "target_nick": "bob", "role": "member"}, "alice made bob a member"),
    ({"event": "role", "target_nick": "Alice", "role": "member"}, "alice gave up their role"),
    ({"event": "invite", "target_nick": "bob"}, "alice invited bob"),
    ({"event": "create", "topic": "hiring"}, "alice created the room: hiring"),
    ({"event": "create"}, "alice created the room"),
    ({"event": "renamed", "target_nick": "bob"}, "alice renamed bob"),  # a newer server's event
]


def test_notices_read_as_one_line(page: Page) -> None:
    said = page.evaluate(
        """async (entries) => {
          const { noticeText } = await import("/roles.js");
          return entries.map((entry) => noticeText({ nick: "alice", ...entry }));
        }""",
        [entry for entry, _ in NOTICES],
    )
    assert said == [text for _, text in NOTICES]


def test_a_notice_changes_the_topic_and_the_roles_it_names(page: Page) -> None:
    after = page.evaluate(
        """async () => {
          const { applyNotice, rolesFrom } = await import("/roles.js");
          const info = { topic: "", roles: rolesFrom({ Alice: "owner", eve: "op", x: "king" }),
                         members: ["Alice", "Bob", "eve"] };
          const steps = [
            { event: "topic", topic: "plans" },
            { event: "role", target_nick: "Bob", role: "op" },
            { event: "role", target_nick: "bob", role: "owner" },  // Alice becomes an op
            { event: "kick", target_nick: "EVE" },                  // her role ends with her place
            { event: "unban", target_nick: "zed" },
          ];
          const changed = steps.map((entry) => applyNotice(info, entry));
          return { changed, topic: info.topic, roles: Object.fromEntries(info.roles),
                   members: info.members };
        }"""
    )
    assert after == {
        "changed": [True, True, True, True, False],
        "topic": "plans",
        "roles": {"alice": "op", "bob": "owner"},
        "members": ["Alice", "Bob"],
    }
