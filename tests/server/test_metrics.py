"""``serve --metrics``: /metrics moves as people use the server, with no nick or room in a
label; without the flag there is no /metrics at all."""

from __future__ import annotations

import asyncio

from chat_server.metrics import (
    CLOSE_CODES,
    ENTRY_KINDS,
    OTHER,
    PAGE_TTL,
    RESUME_OUTCOMES,
    PrometheusMetrics,
    resume_outcome,
)
from chat_server.protocol import ERROR_CODES
from tests.conftest import ServerFactory
from tests.support.metrics import get, metered, scrape, value
from tests.support.raw import uniq


async def test_metrics_move_as_people_log_in_send_read_and_get_refused(
    make_server: ServerFactory,
) -> None:
    server = await metered(make_server, rate_per_second=0.1, rate_burst=3)
    port = server.running.port
    room = uniq("r")
    alice, bob = uniq("a"), uniq("b")
    before = await scrape(port)
    async with server.login(alice, "alice-pw") as a, server.login(bob, "bob-pw") as b:
        async with server.client() as intruder:
            refused = await intruder.request(
                {"type": "hello", "nick": alice, "password": "wrong-pw"}, "welcome"
            )
            assert refused["code"] == "auth_failed"
        await a.join(room)
        await b.join(room)
        ack = await a.say(room, "hello bob", "m1")
        assert (await b.recv_type("message"))["body"] == "hello bob"
        page = await a.request({"type": "history", "room": room, "limit": 10}, "history")
        assert page["type"] == "history"
        bad = await a.request({"type": "join", "room": "No Such Room!"}, "joined")
        assert bad["code"] == "invalid_name"
        refusal: dict[str, object] = {}
        for n in range(10):  # the burst is 3: two more sends pass, then the refusal
            reply = await a.request(
                {"type": "send", "room": room, "body": "more", "id": f"x{n}"}, "ack"
            )
            if reply["type"] == "error":
                refusal = reply
                break
        assert refusal.get("code") == "rate_limited"
        # bob comes back: once up to date, once from a seq the room never had
        async with server.resume(b.token) as again:
            await again.join(room, since=ack["seq"] + 2)
            await again.join(room, since=ack["seq"] + 100)
        during = await scrape(port)
    await asyncio.sleep(0.2)  # the server sees both connections close
    after = await scrape(port)

    def moved(name: str, **labels: str) -> float:
        return value(during, name, **labels) - value(before, name, **labels)

    assert value(during, "chat_connections") == 2
    assert value(during, "chat_users_online") == 2
    assert value(after, "chat_connections") == 0
    assert moved("chat_failed_logins_total") == 1
    assert moved("chat_errors_total", code="auth_failed") == 1
    assert moved("chat_errors_total", code="invalid_name") == 1
    assert moved("chat_errors_total", code="rate_limited") == 1
    assert moved("chat_rate_limited_total") == 1
    assert moved("chat_entries_stored_total", kind="message") == 3
    assert moved("chat_acks_total") == 3
    assert moved("chat_ack_latency_seconds_count") == 3
    assert moved("chat_ack_latency_seconds_sum") > 0
    # each message went to both connections in the room
    assert moved("chat_deliveries_total") >= 6
    assert moved("chat_history_page_seconds_count") == 1
    assert moved("chat_resumes_total", outcome="caught_up") == 1
    assert moved("chat_resumes_total", outcome="reset") == 1
    assert moved("chat_commit_batch_size_count") >= 1
    assert moved("chat_commit_batch_size_sum") >= 3
    assert moved("chat_commit_seconds_count") == moved("chat_commit_batch_size_count")
    closes = value(after, "chat_connection_closes_total", code="1000")
    assert closes - value(before, "chat_connection_closes_total", code="1000") == 3
    assert value(after, "chat_slow_consumer_closes_total") == 0


async def test_no_label_ever_holds_a_nick_or_a_room(make_server: ServerFactory) -> None:
    server = await metered(make_server)
    room, nick = uniq("room"), uniq("nick")
    async with server.login(nick) as client:
        await client.join(room)
        await client.say(room, "a body", "m1")
        await client.request({"type": "history", "room": room}, "history")
        await client.request({"type": "history", "room": uniq("gone")}, "history")
        await client.join(room, since=1)
        samples = await scrape(server.running.port)
    allowed: dict[str, set[str]] = {
        "code": {*ERROR_CODES, *(str(c) for c in CLOSE_CODES), OTHER},
        "kind": set(ENTRY_KINDS),
        "outcome": set(RESUME_OUTCOMES),
    }
    assert samples
    for name, labels in samples:
        for key, label in labels:
            assert nick not in label and room not in label, (name, key, label)
            if key != "le":  # a histogram's bucket bound
                assert label in allowed[key], (name, key, label)


async def test_without_the_flag_there_is_no_metrics_page(make_server: ServerFactory) -> None:
    server = await make_server()
    status, _, _ = await asyncio.to_thread(get, server.running.port, "/metrics")
    assert status == 404


def test_a_resume_is_caught_up_paged_or_reset() -> None:
    assert resume_outcome(since=10, last_seq=10, more=False) == "caught_up"
    assert resume_outcome(since=4, last_seq=10, more=False) == "caught_up"
    assert resume_outcome(since=4, last_seq=900, more=True) == "paged"
    assert resume_outcome(since=11, last_seq=10, more=False) == "reset"


async def test_a_page_is_served_again_until_its_time_is_over(make_server: ServerFactory) -> None:
    """Anyone who reaches the port may ask for /metrics: asking often costs no more than
    one page per ``page_ttl`` (PAGE_TTL, a second, by default)."""
    server = await make_server(metrics=True)
    metrics = server.running.ctx.metrics
    assert isinstance(metrics, PrometheusMetrics) and metrics.page_ttl == PAGE_TTL == 1.0
    metrics.page_ttl = 3600  # however slow this machine is, the second scrape comes within it
    port = server.running.port
    first = await scrape(port)
    async with server.login(uniq("n")):
        again = await scrape(port)
    assert value(first, "chat_connections") == value(again, "chat_connections") == 0
    metrics.page_ttl = 0
    async with server.login(uniq("n")):
        assert value(await scrape(port), "chat_connections") == 1
