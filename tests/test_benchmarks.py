"""The benchmark harness's own pieces: frame and Engine.IO parsing, percentiles, a tiny run."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus
from websockets.frames import Close
from websockets.http11 import Response

from benchmarks import writer_cpu
from benchmarks.harness import mqtt, procs, wire, wsclient
from benchmarks.harness.context import Context
from benchmarks.harness.stats import Results, percentile
from benchmarks.scenarios import abuse, c100k, erase, resources, retention, scenario_nodes, search
from benchmarks.scenarios.postgres import persist_pg
from benchmarks.scenarios.scenario_nodes import fanout_nodes
from benchmarks.scenarios.terminal import tui_start
from benchmarks.scenarios.traffic import fanout, fanout_mix, metrics_on, persist_mix


def measured(records: Iterable[Mapping[str, object]]) -> dict[tuple[object, object], float]:
    """(system, metric) -> the measured value, from the JSON records of a run."""
    got = {}
    for r in records:
        value = r["value"]
        assert isinstance(value, int | float)
        got[(r["system"], r["metric"])] = float(value)
    return got


def server_frame(payload: bytes, opcode: int = wire.OP_TEXT) -> bytes:
    """An unmasked frame as a server writes it."""
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x80 | opcode, n) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


def test_parse_frames_every_length_form_and_partial_tail() -> None:
    small, medium, large = b"a" * 5, b"b" * 300, b"c" * 70_000
    data = server_frame(small) + server_frame(medium) + server_frame(large, wire.OP_BINARY)
    data += server_frame(b"ping", wire.OP_PING)
    whole, pos = wire.parse_frames(data)
    assert pos == len(data)
    assert [(op, bytes(data[s:e])) for op, s, e in whole] == [
        (wire.OP_TEXT, small),
        (wire.OP_TEXT, medium),
        (wire.OP_BINARY, large),
        (wire.OP_PING, b"ping"),
    ]
    for cut in (0, 1, 3, 9, 200, len(data) - 1):  # a frame cut anywhere waits for the rest
        frames, pos = wire.parse_frames(data[:cut])
        assert frames == whole[: len(frames)]
        assert pos == (frames[-1][2] if frames else 0)
        assert len(frames) < 4


def test_encode_frame_is_masked_with_the_right_length() -> None:
    for n in (0, 125, 126, 65535, 65536):
        frame = wire.encode_frame(b"x" * n)
        assert frame[0] == 0x81 and frame[1] & 0x80
        length = frame[1] & 0x7F
        head = 2 if length < 126 else 4 if length == 126 else 10
        assert len(frame) == head + 4 + n


def test_stamp_and_body_round_trip() -> None:
    text = wire.body(123456789, "s7")
    payload = json.dumps({"type": "message", "body": text}).encode()
    assert wire.stamp(payload) == 123456789
    assert b"@@s7 " in payload
    assert wire.stamp(b'{"body":"no stamp"}') is None
    assert wire.stamp(b"@@12x@@") is None


def test_engineio_packets() -> None:
    kind, info = wire.parse_eio('0{"sid":"abc","pingInterval":25000,"pingTimeout":20000}')
    assert kind == "open" and info["sid"] == "abc"
    assert wire.parse_eio("2") == ("ping", None)
    assert wire.parse_eio('40{"sid":"xyz"}') == ("connect", {"sid": "xyz"})
    assert wire.parse_eio("40") == ("connect", {})
    assert wire.parse_eio('42["response",{"message":"hi"}]') == (
        "event",
        ["response", {"message": "hi"}],
    )
    assert wire.parse_eio('42/chat,["response",1]') == ("event", ["response", 1])
    assert wire.parse_eio("41") == ("disconnect", None)
    event = wire.eio_event("message", {"nickname": "n", "message": 'a "q"'})
    assert wire.parse_eio(event) == ("event", ["message", {"nickname": "n", "message": 'a "q"'}])
    with pytest.raises(ValueError):
        wire.parse_eio("")
    with pytest.raises(ValueError):
        wire.parse_eio("42{}")


def test_mqtt_packets_are_the_spec_bytes() -> None:
    # MQTT 3.1.1: CONNECT (clean session, keep-alive 0), SUBSCRIBE at QoS 0, PUBLISH at QoS 0
    assert mqtt.connect("c1") == b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x00\x00\x02c1"
    assert mqtt.subscribe(7, "fan") == b"\x82\x08\x00\x07\x00\x03fan\x00"
    assert mqtt.publish("fan", b"hi") == b"\x30\x07\x00\x03fanhi"
    assert mqtt.PINGREQ_PACKET == b"\xc0\x00"
    # remaining lengths take 1-4 bytes
    for size, head in ((122, 2), (123, 3), (16_378, 3), (16_379, 4)):
        packet = mqtt.publish("fan", b"x" * size)
        assert len(packet) == head + 5 + size
        packets, pos = mqtt.parse_packets(packet)
        assert pos == len(packet)
        [(kind, flags, start, end)] = packets
        assert (kind, flags) == (mqtt.PUBLISH, 0)
        topic, payload = mqtt.publish_parts(packet, flags, start, end)
        assert topic == "fan" and packet[payload:end] == b"x" * size
    with pytest.raises(ValueError):
        mqtt.publish("t", b"x" * (mqtt.MAX_REMAINING + 1))


def test_mqtt_parse_splits_the_broker_stream_and_waits_for_a_cut_packet() -> None:
    qos1 = b"\x32\x09\x00\x03fan\x00\x05ok"  # a QoS 1 PUBLISH: packet id 5 before the payload
    stream = b"\x20\x02\x00\x00" + b"\x90\x03\x00\x01\x00" + qos1 + b"\xd0\x00"
    packets, pos = mqtt.parse_packets(stream)
    assert pos == len(stream)
    assert [(k, f) for k, f, _, _ in packets] == [
        (mqtt.CONNACK, 0),
        (mqtt.SUBACK, 0),
        (mqtt.PUBLISH, 2),
        (mqtt.PINGRESP, 0),
    ]
    assert mqtt.connack_code(stream, packets[0][2], packets[0][3]) == 0
    _, flags, start, end = packets[2]
    topic, payload = mqtt.publish_parts(stream, flags, start, end)
    assert (topic, stream[payload:end]) == ("fan", b"ok")
    for cut in range(len(stream)):  # a packet cut anywhere waits for the rest
        got, pos = mqtt.parse_packets(stream[:cut])
        assert got == packets[: len(got)]
        assert pos == (got[-1][3] if got else 0)
    with pytest.raises(ValueError):
        mqtt.parse_packets(b"\x30\xff\xff\xff\xff\x01")


def test_percentile_interpolates_between_ranks() -> None:
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 0) == 1 and percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile([3, 1, 2], 50) == 2
    with pytest.raises(ValueError):
        percentile([], 50)


def test_results_records_and_ratios() -> None:
    results = Results()
    for value in (10.0, 30.0, 20.0):
        results.add("fanout-100", "ceiling", "deliveries_per_s", value)
        results.add("fanout-100", "chat", "deliveries_per_s", value * 2)
    records = results.records()
    assert records[1] == {
        "scenario": "fanout-100",
        "system": "chat",
        "metric": "deliveries_per_s",
        "value": 40.0,
        "unit": "1/s",
    }
    chat = results.get("fanout-100", "chat", "deliveries_per_s")
    assert chat is not None and results.ratio(chat) == pytest.approx(2.0)
    table = results.table()
    assert "2.00x ceiling" in table and "20.0-60.0" in table


@pytest.mark.slow
def test_a_scenario_gets_as_many_accounts_as_it_asks_for_after_a_bigger_one(
    tmp_path: Path,
) -> None:
    """One template serves the whole run: a scenario asking for 2 after another asked for
    5 gets 2 (search-1m pairs its two users with them), the same first two."""
    ctx = Context(workdir=tmp_path, quick=True)
    five = ctx.ensure_accounts(5)
    assert len(five) == 5
    assert ctx.ensure_accounts(2) == five[:2]


def test_tiny_fanout_delivers_every_message(tmp_path: Path) -> None:
    """Two subscribers, a few short windows, all three systems: records and no loss.
    (Not ``quick``: a quick run leaves out the seed's latency phase.)"""
    ctx = Context(workdir=tmp_path, quick=False, repetitions=3, window_s=0.2)
    fanout(ctx, 2, systems=("ceiling", "chat", "seed"), latency_rate=50)
    records = ctx.results.records()
    assert all(set(r) == {"scenario", "system", "metric", "value", "unit"} for r in records)
    got = measured(records)
    for system in ("ceiling", "chat", "seed"):
        lost = ctx.results.get("fanout-2", system, "lost")
        assert lost is not None and lost.values == [0, 0, 0]
        assert isinstance(got[(system, "deliveries_per_s")], float)
        assert got[(system, "deliveries_per_s")] > 0
        assert 0 < got[(system, "p50_ms")] <= got[(system, "p99_ms")]
    assert {r["scenario"] for r in records} == {"fanout-2"}


@pytest.mark.slow
@pytest.mark.skipif(procs.mosquitto_binary() is None, reason="mosquitto is not installed")
def test_tiny_fanout_on_mosquitto_delivers_every_message(tmp_path: Path) -> None:
    """mosquitto on its own port and config (QoS 0): the MQTT clients get every message."""
    ctx = Context(workdir=tmp_path, quick=False, repetitions=3, window_s=0.2)
    fanout(ctx, 3, systems=("ceiling", "mosquitto"), latency_rate=50)
    got = measured(ctx.results.records())
    lost = ctx.results.get("fanout-3", "mosquitto", "lost")
    assert lost is not None and lost.values == [0, 0, 0]
    assert got[("mosquitto", "deliveries_per_s")] > 0
    assert 0 < got[("mosquitto", "p50_ms")] <= got[("mosquitto", "p99_ms")]
    [config] = tmp_path.glob("mosquitto-*.conf")
    assert "persistence false" in config.read_text()


def entry_kinds(workdir: Path) -> list[dict[int, int]]:
    """For each chat database of a run: how many rows of each kind its log holds
    (0 message, 1 edit, 2 delete, 3 react) and how many reactions are stored."""
    found = []
    for path in sorted(workdir.glob("chat-*.db")):
        with contextlib.closing(sqlite3.connect(path)) as db:
            kinds: dict[int, int] = dict(
                db.execute("SELECT kind, COUNT(*) FROM messages GROUP BY kind")
            )
            kinds[-1] = db.execute("SELECT COUNT(*) FROM reactions").fetchone()[0]
        found.append(kinds)
    return found


@pytest.mark.slow
def test_tiny_changes_mix_delivers_every_edit_and_reaction(tmp_path: Path) -> None:
    """fanout-2-mix: the same load with and without 10 % reactions and edits, both on chat;
    every change is fanned out and counted like a message (nothing lost), the ratios are
    against plain chat, and only the mixed server stored edits and reactions (about 5 % of
    its entries each, on the publisher's own messages)."""
    ctx = Context(workdir=tmp_path, quick=True, repetitions=3, window_s=0.3)
    fanout_mix(ctx, 2, latency_rate=50)
    records = ctx.results.records()
    assert {r["scenario"] for r in records} == {"fanout-2-mix"}
    got = measured(records)
    for system in ("chat", "chat-mix"):
        lost = ctx.results.get("fanout-2-mix", system, "lost")
        assert lost is not None and lost.values == [0, 0, 0]
        assert got[(system, "deliveries_per_s")] > 0
        assert 0 < got[(system, "p50_ms")] <= got[(system, "p99_ms")]
    assert ctx.results.table().count("x chat") >= 6
    plain, mixed = sorted(entry_kinds(tmp_path), key=lambda k: k.get(1, 0))
    assert set(plain) == {0, -1} and plain[-1] == 0
    total = sum(n for kind, n in mixed.items() if kind >= 0)
    assert 0 < mixed[1] <= total / 20 + 1  # edits
    assert 0 < mixed[3] <= total / 20 + 1  # reactions, each one stored
    assert mixed[-1] == mixed[3]


@pytest.mark.slow
def test_tiny_persist_mix_acks_every_change(tmp_path: Path) -> None:
    """persist-mix: senders in their own rooms, 10 % of their entries reactions and edits of
    their own messages; none refused, each window's figures against plain chat's."""
    ctx = Context(workdir=tmp_path, quick=True, repetitions=1, window_s=0.3)
    persist_mix(ctx, senders=3)
    got = measured(ctx.results.records())
    for system in ("chat", "chat-mix"):
        for suffix in ("", "_saturated"):
            assert got[(system, "errors" + suffix)] == 0
            assert got[(system, "acked_per_s" + suffix)] > 0
    assert "x chat" in ctx.results.table()
    kinds = [k for k in entry_kinds(tmp_path) if k.get(1)]
    assert len(kinds) == 1 and kinds[0][3] > 0


@pytest.mark.slow
def test_tiny_metrics_on_measures_chat_with_and_without_metrics(tmp_path: Path) -> None:
    """metrics-on: fan-out and persist on chat with --metrics against chat without, both
    delivering and acking everything, the ratios against plain chat."""
    ctx = Context(workdir=tmp_path, quick=True, repetitions=1, window_s=0.3)
    metrics_on(ctx, n=2, senders=3)
    records = ctx.results.records()
    assert {r["scenario"] for r in records} == {"fanout-2-metrics", "persist-metrics"}
    got = measured(records)
    for system in ("chat", "chat-metrics"):
        lost = ctx.results.get("fanout-2-metrics", system, "lost")
        assert lost is not None and lost.values == [0]
        assert got[(system, "acked_per_s")] > 0 and got[(system, "errors")] == 0
    assert ctx.results.table().count("x chat") >= 6
    # the metrics calls of an ack, timed in-process: the no-op ones cost less
    assert (
        0
        < got[("chat", "metrics_calls_us_per_ack")]
        < got[("chat-metrics", "metrics_calls_us_per_ack")]
    )
    assert got[("chat-metrics", "metrics_share_of_ack_pct")] > 0


def test_writer_profile_stores_the_mix_it_measures(tmp_path: Path) -> None:
    """``python -m benchmarks writer``: with 25 % changes, one entry in eight is a reaction
    and one an edit, every one of them stored (none refused), and a CPU time is measured."""
    path = tmp_path / "chat-writer.db"
    us = asyncio.run(writer_cpu._measure(path, 8, 0.25, 400))
    assert us > 0
    kinds = entry_kinds(tmp_path)
    # 20 messages per sender first, then 8 entries each: 6 messages, a reaction, an edit
    assert kinds == [{0: 50 * (20 + 6), 1: 50, 3: 50, -1: 50}]


@pytest.mark.slow
def test_tiny_delete_erase_times_deletes_sends_and_the_purge(tmp_path: Path) -> None:
    """delete-erase in a room of 3000: each delete and each reference send acked and
    timed, the purge that follows seen by the probe, every deleted message erased (no text,
    out of the search index)."""
    ctx = Context(workdir=tmp_path, quick=True, repetitions=1)
    erase.delete_erase(ctx, size=3000, count=10)
    got = measured(ctx.results.records())
    for system in ("send", "delete"):
        assert 0 < got[(system, "p50_ms")] <= got[(system, "p99_ms")]
    assert got[("purge", "send_wait_ms")] > 0
    assert "x send" in ctx.results.table()
    (db,) = tmp_path.glob("chat-erase-*.db")
    assert not erase.purge_pending(db)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        deleted = conn.execute(
            "SELECT COUNT(*), SUM(body = '') FROM messages WHERE kind = 0 AND deleted = 1"
        ).fetchone()
        assert deleted == (erase.WARM + 10, erase.WARM + 10)
        hits = conn.execute(
            "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'history'"
        ).fetchone()[0]
        assert hits == conn.execute("SELECT COUNT(*) FROM messages WHERE body LIKE 'history%'"
                                    ).fetchone()[0]  # fmt: skip


@pytest.mark.slow
def test_tui_start_times_the_real_app_to_its_first_screen(tmp_path: Path) -> None:
    """``chat-tui connect`` in a pseudo-terminal until its room's newest message is drawn,
    against importing Textual; both wall times recorded, with the ratio."""
    ctx = Context(workdir=tmp_path, quick=True, repetitions=1)
    tui_start(ctx)
    got = measured(ctx.results.records())
    assert set(got) == {("chat", "wall_ms"), ("textual-import", "wall_ms")}
    assert got[("chat", "wall_ms")] > got[("textual-import", "wall_ms")] > 0
    assert "x textual-import" in ctx.results.table()


@pytest.mark.slow
def test_two_nodes_fanout_delivers_every_message_once(
    tmp_path: Path, database_url: str, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """fanout-2nodes on real PostgreSQL + Redis: two subscribers (on two nodes for
    chat-2nodes, the publisher on the first), every acked message delivered to each exactly
    once; the fresh schemas and Redis keys are gone afterwards."""
    import redis

    ctx = Context(workdir=tmp_path, quick=True, repetitions=3, window_s=0.2)
    used = fanout_nodes(
        ctx, 2, latency_rate=50, window=8, database_url=database_url, redis_url=redis_url
    )
    log = capsys.readouterr().err
    assert "chat-1node: 2 subscribers on 1 node(s)" in log
    assert "chat-2nodes: 2 subscribers on 2 node(s)" in log
    records = ctx.results.records()
    assert {r["scenario"] for r in records} == {"fanout-2nodes"}
    assert {r["system"] for r in records} == {"chat-1node", "chat-2nodes"}
    got = measured(records)
    for system in ("chat-1node", "chat-2nodes"):
        lost = ctx.results.get("fanout-2nodes", system, "lost")
        assert lost is not None and lost.values == [0, 0, 0]  # negative: a duplicate
        assert got[(system, "deliveries_per_s")] > 0
        assert 0 < got[(system, "p50_ms")] <= got[(system, "p99_ms")]
    assert ctx.results.table().count("x chat-1node") >= 4  # 2 nodes against 1 node

    assert len(used) == 2 and asyncio.run(schemas_left(database_url, used)) == []
    client = redis.Redis.from_url(redis_url)
    try:
        assert [k for b in used for k in client.scan_iter(match=f"{b.prefix}:*")] == []
    finally:
        client.close()


async def schemas_left(database_url: str, used: list[scenario_nodes.Backing]) -> list[str]:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT schema_name FROM information_schema.schemata"
            " WHERE schema_name = ANY($1::text[])",
            [b.schema for b in used],
        )
    finally:
        await conn.close()
    return [r["schema_name"] for r in rows]


@pytest.mark.slow
def test_tiny_persist_pg_acks_durable_sends_on_both_systems(
    tmp_path: Path, database_url: str
) -> None:
    """persist-pg on real PostgreSQL: chat and the one-commit-per-message baseline ack every
    send of three senders, in both windows; their schemas are dropped afterwards."""
    ctx = Context(workdir=tmp_path, quick=True, repetitions=3, window_s=0.2)
    used = persist_pg(ctx, senders=3, url=database_url)
    got = measured(ctx.results.records())
    for system in ("chat", "pg-per-commit"):
        for suffix in ("", "_saturated"):
            assert got[(system, "acked_per_s" + suffix)] > 0
            assert got[(system, "errors" + suffix)] == 0
            assert 0 < got[(system, "p50_ms" + suffix)] <= got[(system, "p99_ms" + suffix)]
    assert "x pg-per-commit" in ctx.results.table()
    assert len(used) == 2 and asyncio.run(schemas_left(database_url, used)) == []


@pytest.mark.slow
def test_tiny_search_finds_messages_on_sqlite_and_postgresql(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """search-1m, small: two-word searches in one room and in a user's 50 rooms find
    messages on both stores (the default limit of 50 at most), timed against a ping."""
    monkeypatch.setattr(search, "sizes", lambda ctx: (3000, 60))
    ctx = Context(workdir=tmp_path, quick=True, repetitions=3)
    search.search_1m(ctx, url=database_url, count=10)
    got = measured(ctx.results.records())
    for system in ("sqlite-room", "sqlite-50rooms", "pg-room", "pg-50rooms"):
        assert 0 < got[(system, "hits")] <= 50
        assert 0 < got[(system, "p50_ms")] <= got[(system, "p99_ms")]
    # the same rows in both stores: the same number of hits
    assert got[("sqlite-room", "hits")] == got[("pg-room", "hits")]
    assert got[("sqlite-50rooms", "hits")] == got[("pg-50rooms", "hits")]
    assert ctx.results.table().count("x ping") == 8


@pytest.mark.slow
def test_tiny_history_pages_a_room_on_sqlite_and_postgresql(
    tmp_path: Path, database_url: str
) -> None:
    """history, small: random pages of the same room on both stores, against a ping."""
    ctx = Context(workdir=tmp_path, quick=True, repetitions=2)
    resources.history(ctx, url=database_url, size=3000, count=20)
    got = measured(ctx.results.records())
    for system in ("chat", "chat-pg", "ping"):
        assert 0 < got[(system, "p50_ms")] <= got[(system, "p99_ms")]
    assert ctx.results.table().count("x ping") == 4


@pytest.mark.slow
def test_tiny_c100k_holds_the_connections_and_brings_them_back_after_a_restart(
    tmp_path: Path,
) -> None:
    """c100k with 30 connections: every one logged in from its loopback source address, every
    room message delivered to every member, all back after the server's restart."""
    ctx = Context(workdir=tmp_path, quick=True, connections=30)
    c100k.c100k(ctx)
    got = measured(ctx.results.records())
    for system in ("ceiling", "chat"):
        assert got[(system, "back_pct")] == 100
        assert got[(system, "reconnect_s")] > 0
        assert got[(system, "connects_per_s")] > 0
        assert got[(system, "rss_kb_per_conn_30")] > 0
        assert got[(system, "rss_mb")] > 0
        assert 0 < got[(system, "room_p50_ms")] <= got[(system, "room_p99_ms")]
    assert got[("chat", "room_join_s")] > 0
    assert "x ceiling" in ctx.results.table()


def test_c100k_spreads_clients_over_source_addresses_and_stages() -> None:
    assert c100k.counts(100_000) == [10_000, 50_000, 100_000]
    assert c100k.counts(30_000) == [10_000, 30_000]
    assert c100k.counts(2_000) == [2_000]
    assert [c100k.source(i) for i in (0, 19_999, 20_000, 99_999)] == [
        "127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.6"
    ]  # fmt: skip
    # chat's members log in first and join later; the ceiling's room is their path
    for room in ("", "c100k"):
        clients = c100k.specs(["t0", "t1", "t2"], 0, 3, room_members=2, room=room)
        assert [(c["room"], c["latest"], c["token"]) for c in clients] == [
            (room, True, "t0"), (room, True, "t1"), ("", False, "t2")
        ]  # fmt: skip
    assert c100k.label(10_000) == "10k" and c100k.label(1_500) == "1500"


def test_two_nodes_scenario_is_skipped_with_the_reason_without_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A machine without PostgreSQL still runs the rest of the harness: the scenario says why
    it measured nothing instead of failing the run."""
    monkeypatch.setenv(scenario_nodes.DATABASE_ENV, "postgresql://postgres@127.0.0.1:1/test")
    ctx = Context(workdir=tmp_path, quick=True)
    scenario_nodes.scenario(ctx)
    assert ctx.results.records() == []
    log = capsys.readouterr().err
    assert "fanout-2nodes: SKIPPED: no PostgreSQL at postgresql://postgres@127.0.0.1:1/test" in log
    assert scenario_nodes.DATABASE_ENV in log


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (b'{"type":"welcome","nick":"a","ref":"login"}', ("welcome", "login", None)),
        (
            b'{"type":"error","code":"rate_limited","message":"m","ref":"j1","retry_after":2.5}',
            ("error", "j1", "rate_limited"),
        ),
        (
            b'{"type":"error","code":"auth_failed","message":"m","ref":null}',
            ("error", None, "auth_failed"),
        ),
        # a big reply is read from its ends only; a body quoting a ref is escaped JSON
        (
            b'{"type":"rooms","rooms":['
            + b'{"room":"\\"ref\\":\\"x\\"}","members":1},' * 3000
            + b'{"room":"z","members":1}],"ref":"l0-7"}',
            ("rooms", "l0-7", None),
        ),
    ],
)
def test_hostile_head_reads_type_ref_and_code(
    frame: bytes, expected: tuple[str, str | None, str | None]
) -> None:
    assert wsclient.head(frame) == expected


@pytest.mark.parametrize(
    ("exc", "is_refusal"),
    [
        (InvalidStatus(Response(503, "Service Unavailable", Headers())), True),
        (ConnectionClosed(Close(1008, "too many"), None), True),
        (ConnectionClosed(Close(1013, "slow"), None), True),
        (InvalidMessage("did not receive a valid HTTP response"), True),  # closed at accept
        (ConnectionClosed(Close(1000, ""), None), False),
        (ConnectionClosed(None, None), False),  # dropped without a close frame
        (ConnectionResetError(), True),  # reset at accept
        (ConnectionRefusedError(), False),
    ],
)
def test_hostile_refusals_are_told_from_other_failures(
    exc: BaseException, is_refusal: bool
) -> None:
    assert wsclient.refused(exc) is is_refusal


@pytest.mark.slow
def test_tiny_abuse_runs_every_phase_and_counts_refusals(tmp_path: Path) -> None:
    """Every attack against its own server, a few bystander rounds each: the records say
    how the bystander fared and what the attacker got, the ratios are against idle, and the
    memory attack's room (6 MB, past a connection's 4 MiB budget) gets it refused (1013 or
    rate_limited) without failing the run."""
    ctx = Context(workdir=tmp_path, quick=True, repetitions=1)
    size = abuse.Sizes(rounds=3, seconds=1.0, grace=1.0, hostile=5, silent=20,
                       long_messages=500, haystack=200, engage_s=3.0)  # fmt: skip
    abuse.abuse(ctx, size=size)
    records = ctx.results.records()
    assert all(set(r) == {"scenario", "system", "metric", "value", "unit"} for r in records)
    assert {r["scenario"] for r in records} == {"abuse"}
    assert {r["system"] for r in records} == set(abuse.PHASES)
    got = measured(records)
    every = {"bystander_failed", "bystander_timeouts", "rss_mb", "rss_growth_mb", "log_errors"}
    attack = {"served", "refused", "attacker_errors"}
    for phase in abuse.PHASES:
        metrics = {metric for system, metric in got if system == phase}
        assert every <= metrics, phase
        assert (attack <= metrics) is (phase != "idle"), phase
        assert not attack & metrics or phase != "idle"
        assert got[(phase, "rss_mb")] > 0
        # samples, unless every one failed or one took the whole phase (a lock-out)
        for name in ("login", "history"):
            if (phase, f"{name}_p99_ms") in got:
                assert 0 < got[(phase, f"{name}_p50_ms")] <= got[(phase, f"{name}_p99_ms")]
            else:
                lost = got[(phase, "bystander_failed")] + got[(phase, "bystander_timeouts")]
                assert lost > 0, (phase, name)
    # an idle server answers every request of the bystander
    assert got[("idle", "bystander_failed")] == got[("idle", "bystander_timeouts")] == 0
    assert ("idle", "login_p99_ms") in got and ("idle", "history_p99_ms") in got
    for phase in abuse.PHASES[1:]:  # each attack did something, or was refused
        assert got[(phase, "served")] + got[(phase, "refused")] > 0, phase
    assert got[("memory", "refused")] > 0
    # no attack leaves an ERROR or a traceback in the server's log
    assert all(got[(phase, "log_errors")] == 0 for phase in abuse.PHASES), got
    table = ctx.results.table()
    assert "x idle" in table
    assert not [line for line in table.splitlines() if " served " in line and "x idle" in line]


@pytest.mark.slow
def test_tiny_retention_purge_times_prunes_and_sends_with_and_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """retention-purge in a room of 20,000 (2,000 on PostgreSQL): each prune timed in the
    store, the probe's sends with the room kept and while the server prunes it, and the room
    erased to its end (no text left, none in the search index)."""
    database_url = os.environ.get("CHAT_TEST_DATABASE_URL")
    if database_url:
        monkeypatch.setenv("CHAT_BENCH_DATABASE_URL", database_url)
    ctx = Context(workdir=tmp_path, quick=True, repetitions=1)
    retention.retention_purge(ctx, size=20_000, postgres=bool(database_url), pg_size=2000)
    got = measured(ctx.results.records())
    systems = ("prune", "prune-pg") if database_url else ("prune",)
    for system in systems:
        assert 0 < got[(system, "txn_p50_ms")] <= got[(system, "txn_max_ms")]
    assert got[("prune", "entries_per_s")] > 0
    assert 0 < got[("no-purge", "send_p50_ms")] <= got[("no-purge", "send_p99_ms")]
    (db,) = tmp_path.glob("retention-serve-0.db")
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT floor FROM rooms WHERE name = 'big'").fetchone()[0] > 20_000
        left = conn.execute("SELECT COUNT(*) FROM messages WHERE body LIKE 'history%'")
        assert left.fetchone()[0] == 0
        hits = conn.execute("SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'history'")
        assert hits.fetchone()[0] == 0
