"""ChatClient and a big room: ``join`` says how many members there are and lists the first
page; ``members`` and ``all_members`` page through the rest."""

from __future__ import annotations

import pytest

from chat_server import protocol as p
from chat_tui.client.errors import ServerError
from tests.client.conftest import RestartableServer
from tests.support.crowd import crowd


async def test_join_counts_the_members_and_pages_list_the_rest(chat: RestartableServer) -> None:
    assert chat.running is not None
    nicks = [f"m{n:03}" for n in range(p.JOINED_MEMBERS_MAX + 5)]
    await crowd(chat.running.store, "lobby", nicks)
    async with chat.client(await chat.account("alice")) as alice:
        joined = await alice.join("lobby")
        assert joined.member_count == len(nicks) + 1
        assert joined.members == ["alice", *nicks[: p.JOINED_MEMBERS_MAX - 1]]
        assert joined.online == ["alice"]
        page = await alice.members("lobby", after=joined.members[-1], limit=3)
        assert (page.members, page.online, page.more) == (nicks[499:502], [], True)
        everyone = [member async for member in alice.all_members("lobby")]
        assert everyone == [("alice", True), *((nick, False) for nick in nicks)]
        with pytest.raises(ServerError) as refused:
            await alice.members("elsewhere")
        assert refused.value.code == "not_member"


async def test_a_small_room_lists_everyone(chat: RestartableServer) -> None:
    async with chat.client(await chat.account("alice")) as alice:
        joined = await alice.join("general")
        assert (joined.members, joined.member_count) == (["alice"], 1)
