"""The admin commands work on a PostgreSQL deployment: migrate, accounts, tokens."""

from __future__ import annotations

import asyncio

import asyncpg  # type: ignore[import-untyped]
import pytest
from click.testing import CliRunner, Result
from websockets.asyncio.client import connect

from chat_server.cli import main
from chat_server.store.postgres.schema import MIGRATIONS
from tests.raw import request
from tests.scale.cluster import Cluster, Member, PostgresSchema

pytestmark = pytest.mark.slow


async def chat_server(*args: str, password: str = "") -> Result:
    """``chat-server ARGS`` (in a thread: the command runs its own event loop)."""
    runner = CliRunner(env={"CHAT_PASSWORD": password} if password else {})
    return await asyncio.to_thread(runner.invoke, main, list(args))


async def test_migrate_then_manage_accounts_for_a_no_signup_cluster(
    schema: PostgresSchema, cluster: Cluster
) -> None:
    db = ["--database-url", schema.url]
    migrated = await chat_server("db", "migrate", *db)
    assert migrated.exit_code == 0, migrated.output
    assert "is up to date" in migrated.output
    conn = await asyncpg.connect(schema.url)
    try:
        versions = await conn.fetchval("SELECT array_agg(version) FROM schema_migrations")
        assert versions == list(range(1, len(MIGRATIONS) + 1))
    finally:
        await conn.close()
    again = await chat_server("db", "migrate", *db)
    assert again.exit_code == 0, again.output

    added = await chat_server("users", "add", "carol", *db, password="carol-pw")
    assert added.exit_code == 0 and "created carol" in added.output, added.output
    listed = await chat_server("users", "list", *db)
    assert listed.output.splitlines() == ["carol\tactive"]
    created = await chat_server("tokens", "create", "carol", *db)
    assert created.exit_code == 0, created.output
    token = created.output.strip()

    node, other = cluster.start_node("--no-signup"), cluster.start_node("--no-signup")
    carols = [await Member.connect(url, token=token) for url in (node.url, other.url)]
    assert [carol.nick for carol in carols] == ["carol", "carol"]
    revoked = await chat_server("tokens", "revoke", "carol", *db)
    assert "revoked 1 token(s) of carol" in revoked.output, revoked.output
    for carol in carols:  # each node closes its own connections with the revoked token
        await carol.closed()
        assert carol.ws.close_code == 1008
    async with connect(node.url) as ws:
        hello = {"type": "hello", "nick": "mallory", "password": "pw-of-mallory"}
        refused = await request(ws, hello, "welcome")
        assert (refused["type"], refused["code"]) == ("error", "auth_failed")

    both = await chat_server("users", "list", "--db", "x.db", *db)
    assert both.exit_code == 2 and "give one" in both.output
    wrong = await chat_server("db", "migrate", "--database-url", "mysql://localhost/chat")
    assert wrong.exit_code == 2 and "postgresql://" in wrong.output


async def test_users_remove_closes_the_user_on_another_node_and_the_room_carries_on(
    schema: PostgresSchema, cluster: Cluster
) -> None:
    node_a, node_b = cluster.start_node(), cluster.start_node()
    alice = await Member.connect(node_a.url, "alice")
    bob = await Member.connect(node_b.url, "bob")
    carol = await Member.connect(node_b.url, "carol")  # a bystander on bob's node
    try:
        for member in (alice, bob, carol):
            await member.join("lobby")
        removed = await chat_server("users", "remove", "bob", "--database-url", schema.url)
        assert removed.exit_code == 0 and "removed bob" in removed.output, removed.output
        first = await alice.send("right after the removal", "a1", room="lobby")
        await bob.closed()
        assert (bob.ws.close_code, bob.ws.close_reason) == (1008, "token revoked")
        second = await alice.send("once bob is gone", "a2", room="lobby")
        await carol.wait_for(lambda: second["seq"] in carol.view("lobby").live, "a2")
        lobby = carol.view("lobby")
        assert lobby.live_order == [first["seq"], second["seq"]]
        assert [m["body"] for m in lobby.ordered()] == [
            "right after the removal",
            "once bob is gone",
        ]
        assert second["seq"] not in bob.view("lobby").messages
        for node in (node_a, node_b):  # nor can bob come back for it, on either node
            async with connect(node.url) as ws:
                refused = await request(ws, {"type": "hello", "token": bob.token}, "welcome")
                assert (refused["type"], refused["code"]) == ("error", "auth_failed")
    finally:
        for member in (alice, bob, carol):
            await member.close()
