"""A big room's members: ``joined`` lists the first ``JOINED_MEMBERS_MAX`` and says how many
there are; ``members`` pages on through the rest, for members only, at a read's cost.

A real server on port 0; the crowd is made through its store (no passwords: cheap)."""

from __future__ import annotations

import contextlib

from chat_server import protocol as p
from tests.conftest import ChatServerUnderTest, ServerFactory
from tests.support.crowd import crowd

CROWD = 600  # above p.JOINED_MEMBERS_MAX


async def test_a_big_room_lists_the_first_page_and_pages_on(make_server: ServerFactory) -> None:
    server: ChatServerUnderTest = await make_server()
    # "m000".."m597" and two people who log in: "a-alice" sorts first, "zz-zed" last
    await crowd(server.running.store, "big", [f"m{n:03}" for n in range(CROWD - 2)])
    async with contextlib.AsyncExitStack() as stack:
        zed = await stack.enter_async_context(server.login("zz-zed"))
        await zed.join("big")
        alice = await stack.enter_async_context(server.login("a-alice"))
        joined, _ = await alice.join("big")
        assert joined["member_count"] == CROWD
        assert len(joined["members"]) == p.JOINED_MEMBERS_MAX
        assert joined["members"][:3] == ["a-alice", "m000", "m001"]
        assert joined["members"][-1] == "m498"
        # online among the listed ones only: zed is online but not on this page
        assert joined["online"] == ["a-alice"]

        page = await alice.request(
            {"type": "members", "room": "big", "after": "M498", "ref": "m1"}, "members"
        )
        assert page == {
            "type": "members",
            "room": "big",
            "members": [f"m{n:03}" for n in range(499, CROWD - 2)] + ["zz-zed"],
            "online": ["zz-zed"],
            "more": False,
            "ref": "m1",
        }
        first = await alice.request({"type": "members", "room": "big", "limit": 2}, "members")
        assert (first["members"], first["online"], first["more"]) == (
            ["a-alice", "m000"], ["a-alice"], True,
        )  # fmt: skip


async def test_a_small_room_lists_everyone_and_its_count(server: ChatServerUnderTest) -> None:
    async with server.login("alice") as alice, server.login("Bob") as bob:
        await alice.join("small")
        joined, _ = await bob.join("small")
        assert (joined["members"], joined["member_count"]) == (["alice", "Bob"], 2)
        assert joined["online"] == ["alice", "Bob"]
        page = await bob.request({"type": "members", "room": "small"}, "members")
        assert (page["members"], page["online"], page["more"]) == (
            ["alice", "Bob"], ["alice", "Bob"], False,
        )  # fmt: skip


async def test_only_members_may_list_and_a_bad_limit_is_refused(
    server: ChatServerUnderTest,
) -> None:
    async with server.login("alice") as alice, server.login("mallory") as mallory:
        await alice.join("club")
        # a stranger is told what ``history`` tells them
        for kind in ("members", "history"):
            refused = await mallory.request({"type": kind, "room": "club", "ref": "x"}, kind)
            assert (refused["type"], refused["code"], refused["ref"]) == (
                "error", "not_member", "x",
            )  # fmt: skip
        other = await mallory.request({"type": "members", "room": "dm:alice:bob"}, "members")
        assert other["code"] == "forbidden"
        for limit in (0, 501, "ten"):
            bad = await alice.request(
                {"type": "members", "room": "club", "limit": limit, "ref": "b"}, "members"
            )
            assert (bad["type"], bad["code"], bad["ref"]) == ("error", "bad_request", "b")
        bad = await alice.request({"type": "members", "room": "club", "after": "no way"}, "x")
        assert bad["code"] == "invalid_name"


async def test_members_spends_the_read_budget(make_server: ServerFactory) -> None:
    server: ChatServerUnderTest = await make_server(read_rate=0.1, read_burst=5)
    async with server.login("alice") as alice, server.login("bob") as bob:
        await alice.join("club")  # (a join is a read too)
        await bob.join("club")
        answers = [
            (await alice.request({"type": "members", "room": "club"}, "members"))["type"]
            for _ in range(4)
        ]
        assert answers == ["members"] * 4  # with the join: the burst of 5
        limited = await alice.request({"type": "members", "room": "club"}, "members")
        assert (limited["code"], limited["retry_after"] > 0) == ("rate_limited", True)
        # another user's budget is their own
        page = await bob.request({"type": "members", "room": "club"}, "members")
        assert page["members"] == ["alice", "bob"]


async def test_a_page_is_cut_to_the_output_budget_and_pages_on(make_server: ServerFactory) -> None:
    """A connection may be sent ``max_buffer`` bytes at once: a page of members past it is
    cut and says ``more``; asking on after its last nick gets the rest."""
    server: ChatServerUnderTest = await make_server(max_buffer=2048)
    nicks = [f"member-{n:03}-" + "x" * 19 for n in range(200)]  # 31 characters each
    await crowd(server.running.store, "wide", nicks)
    store = server.running.store
    async with server.login("a-alice") as alice:
        # a member without a join in this session (whose joined would not fit either)
        user = await store.user_by_nick("a-alice")
        assert user is not None
        await store.join(user.id, "wide", False)
        seen: list[str] = []
        after: str | None = None
        pages = 0
        while pages < len(nicks):
            pages += 1
            frame = {"type": "members", "room": "wide", **({"after": after} if after else {})}
            page = await alice.request(frame, "members")
            assert page["type"] == "members", page
            seen += page["members"]
            if not page["more"]:
                break
            after = page["members"][-1]
        assert seen == ["a-alice", *nicks]
        assert pages >= 3  # 201 nicks of 31 characters in pages of at most 2 KiB


async def test_a_page_hides_the_presence_of_whoever_blocked_you(
    server: ChatServerUnderTest,
) -> None:
    async with server.login("alice") as alice, server.login("mallory") as mallory:
        await alice.join("club")
        await mallory.join("club")
        blocked = await mallory.request({"type": "block", "nick": "alice"}, "blocked")
        assert blocked["type"] == "blocked", blocked
        page = await alice.request({"type": "members", "room": "club"}, "members")
        assert (page["members"], page["online"]) == (["alice", "mallory"], ["alice"])
        theirs = await mallory.request({"type": "members", "room": "club"}, "members")
        assert theirs["online"] == ["alice", "mallory"]
