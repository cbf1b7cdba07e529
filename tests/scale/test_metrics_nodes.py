"""``serve --metrics`` on two nodes sharing PostgreSQL and Redis: the node that did not
publish a message sees how long it took to arrive (the broker lag histogram)."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.scale.cluster import PostgresSchema
from tests.support.metrics import metered, scrape, value
from tests.support.raw import uniq


async def test_the_lag_from_publishing_to_delivery_is_measured_across_nodes(
    make_server: ServerFactory, schema: PostgresSchema, redis_url: str
) -> None:
    prefix = uniq("metrics")
    nodes = [
        await metered(
            make_server, database_url=schema.url, redis_url=redis_url, redis_prefix=prefix
        )
        for _ in range(2)
    ]
    room = uniq("r")
    async with nodes[0].login(uniq("a")) as sender, nodes[1].login(uniq("b")) as reader:
        await sender.join(room)
        await reader.join(room)
        for n in range(3):
            await sender.say(room, f"across {n}", f"m{n}")
            assert (await reader.recv_type("message"))["body"] == f"across {n}"
        far = await scrape(nodes[1].running.port)
    assert value(far, "chat_broker_lag_seconds_count") >= 3
    assert 0 < value(far, "chat_broker_lag_seconds_sum") < 30
    assert value(far, "chat_entries_stored_total", kind="message") == 0  # stored by node 0
    assert value(far, "chat_deliveries_total") >= 3
