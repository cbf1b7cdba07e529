"""Redis killed with SIGKILL under a two-node stream: nothing stored is lost, and the real
client (``ChatClient``: gap detection, ``history after``) shows every member the whole room.

tests/scale/test_failures.py already restarts Redis gracefully (SIGTERM) under one sender
with raw websocket clients; here Redis dies without a goodbye while users on both nodes send,
and what is checked is what the client library shows its users.
"""

from __future__ import annotations

import asyncio

import pytest

from chat_tui.client import ChatClient
from tests.reliability.conftest import WAIT, Member, assert_no_gap, eventually, full_history
from tests.reliability.fault_support import kill9
from tests.scale.cluster import Cluster, PrivateRedis, wait_health
from tests.scale.conftest import cluster, private_redis, schema  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]


async def _token(url: str, nick: str) -> str:
    async with ChatClient(url, nick=nick, password=f"pw-{nick}", reconnect=False) as signup:
        assert signup.welcome is not None
        return signup.welcome.token


async def test_redis_killed_and_restarted_under_a_two_node_stream(
    cluster: Cluster,  # noqa: F811
    private_redis: PrivateRedis,  # noqa: F811
) -> None:
    node_a = cluster.start_node(redis_url=private_redis.url)
    node_b = cluster.start_node(redis_url=private_redis.url)
    urls = {"alice": node_a.url, "carol": node_a.url, "bob": node_b.url, "dave": node_b.url}
    tokens = {nick: await _token(url, nick) for nick, url in urls.items()}
    members = {nick: Member(urls[nick], tokens[nick]) for nick in urls}
    acked: dict[str, list[int]] = {"alice": [], "bob": []}
    phase = {"restarted": False}
    after_restart = {"alice": 0, "bob": 0}

    async def stream(nick: str) -> None:
        """Send until Redis is back, then ten more (bounded: at most 400)."""
        for n in range(400):
            ack = await asyncio.wait_for(
                members[nick].client.send(f"{nick} {n}", room="feed", id=f"{nick}-{n}"), WAIT
            )
            acked[nick].append(ack.seq)
            if phase["restarted"]:
                after_restart[nick] += 1
                if after_restart[nick] >= 10:
                    return
            await asyncio.sleep(0.01)
        raise AssertionError("the stream never saw Redis come back")

    try:
        for member in members.values():
            await asyncio.wait_for(member.start("feed"), WAIT)
        senders = [asyncio.create_task(stream(nick)) for nick in acked]
        await eventually(lambda: members["dave"].last("feed") >= 10, "the stream on node B")

        kill9(private_redis)
        await wait_health(node_a.url, "degraded")
        await wait_health(node_b.url, "degraded")
        during = sum(map(len, acked.values()))
        await eventually(lambda: sum(map(len, acked.values())) >= during + 10, "sends in outage")

        private_redis.start()  # empty: nothing of the old Redis survived
        await wait_health(node_a.url, "ok")
        await wait_health(node_b.url, "ok")
        phase["restarted"] = True
        await asyncio.wait_for(asyncio.gather(*senders), 60)

        stored = await asyncio.wait_for(full_history(node_b.url, tokens["dave"], "feed"), WAIT)
        assert_no_gap(stored)
        everything = sorted(acked["alice"] + acked["bob"])
        assert [m.seq for m in stored] == everything, "an acked message is missing or doubled"
        for nick, member in members.items():
            await eventually(lambda: member.last("feed") == len(stored), f"{nick} caught up")  # noqa: B023
            shown = [(m.seq, m.body) for m in member.seen["feed"]]
            assert shown == [(m.seq, m.body) for m in stored], f"{nick} was shown a gap"
        assert node_a.proc.poll() is None and node_b.proc.poll() is None
    finally:
        for member in members.values():
            await member.close()
