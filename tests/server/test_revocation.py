"""A token revoked anywhere (another process on the same database: the command line, or
another node) closes its connections at once, not at the next full sweep."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from chat_server.auth import token_hash
from tests.conftest import ServerFactory


async def test_a_token_deleted_by_another_process_closes_its_connections(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    # the full sweep (expiry) never runs in this test: only the revocation poll can close
    server = await make_server(revocation_check=1000.0, revocation_poll=0.05)
    async with server.login("alice") as alice, server.login("bob") as bob:
        await alice.join("general")
        await bob.join("general")
        with sqlite3.connect(tmp_path / "chat.db") as db:  # as `chat-server tokens revoke`
            db.execute("DELETE FROM tokens WHERE hash = ?", (token_hash(alice.token),))
        async with asyncio.timeout(5):
            await alice.ws.wait_closed()
        assert alice.ws.close_code == 1008
        assert alice.ws.close_reason == "token revoked"
        # bob's connection is untouched and still chats
        ack = await bob.say("general", "still here", "b1")
        assert ack["seq"] == 1
