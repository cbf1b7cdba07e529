"""A hypothesis state machine over users connecting, sending, losing the network, quitting,
coming back, and the server restarting (on the same port and database).

The invariant, after every step: every connected user's view of each room (the real
``ChatClient``: join backlog, live events, gap filling, resume with ``since``) equals the
room's history as the acks built it, seqs 1..n, no gap, no duplicate; and the acks agree
with what the server stores.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from chat_server.config import Settings
from chat_server.server import Running, start
from chat_tui.client import ChatClient
from tests.conftest import ServerFactory as InProcessFactory
from tests.reliability.conftest import WAIT, Member, eventually, full_history, mint_tokens

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

USERS = ("ann", "ben", "cy")
ROOMS = ("north", "south")
# The join backlog (no ``since``) is the newest 50: below that, a new view is the whole room.
MAX_MESSAGES = 40


class ChatMachine(RuleBasedStateMachine):
    """The model: per room, the (seq, body) pairs acked so far, in seq order."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="chat-stateful-"))
        self.settings = Settings(
            host="127.0.0.1",
            port=0,
            db_path=self.dir / "chat.db",
            synchronous="normal",
            rate_per_second=1000.0,
            rate_burst=1000,
            revocation_check=0.5,
        )
        self.tokens: dict[str, str] = self.run(mint_tokens(self.settings.db_path, list(USERS)))
        self.server: Running | None = None
        self.start_server()
        self.members: dict[str, Member] = {}
        self.acked: dict[str, list[tuple[int, str]]] = {room: [] for room in ROOMS}
        self.sent = 0

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, WAIT * 2))

    def start_server(self) -> None:
        self.server = self.run(start(self.settings))
        if self.settings.port == 0:  # later starts reuse the port: clients reconnect to it
            self.settings = dataclasses.replace(self.settings, port=self.server.port)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    # --- rules --------------------------------------------------------------------------

    @initialize()
    def two_users_online(self) -> None:
        for nick in USERS[:2]:
            self._connect(nick)

    def _connect(self, nick: str) -> None:
        member = Member(self.url, self.tokens[nick])
        self.run(member.start(*ROOMS))
        self.members[nick] = member

    @precondition(lambda self: len(self.members) < len(USERS))
    @rule(data=st.data())
    def connect(self, data: st.DataObject) -> None:
        self._connect(data.draw(st.sampled_from([u for u in USERS if u not in self.members])))

    @precondition(lambda self: self.members)
    @rule(data=st.data(), count=st.integers(1, 4))
    def send(self, data: st.DataObject, count: int) -> None:
        """A few messages, each from a connected user to a room, one after the other."""
        for _ in range(count):
            if self.sent >= MAX_MESSAGES:
                return
            nick = data.draw(st.sampled_from(sorted(self.members)))
            room = data.draw(st.sampled_from(ROOMS))
            self.sent += 1
            body = f"{nick} says {self.sent}"
            ack = self.run(self.members[nick].client.send(body, room=room, id=f"m{self.sent}"))
            self.acked[room].append((ack.seq, body))

    @precondition(lambda self: len(self.members) >= 2)
    @rule(data=st.data())
    def send_during_a_drop(self, data: st.DataObject) -> None:
        """One user's network goes while another user sends: the first must fill the gap."""
        nick = data.draw(st.sampled_from(sorted(self.members)))
        self.drop_user(nick)
        self.send(data, 2)

    @precondition(lambda self: self.members)
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        """The network goes away under one user: the client reconnects and resumes."""
        self.drop_user(data.draw(st.sampled_from(sorted(self.members))))

    def drop_user(self, nick: str) -> None:
        conn = self.members[nick].client._conn  # private: there is no public way to cut a cable
        if conn is not None:
            conn.ws.transport.abort()

    @precondition(lambda self: self.members)
    @rule(data=st.data())
    def quit(self, data: st.DataObject) -> None:
        nick = data.draw(st.sampled_from(sorted(self.members)))
        self.run(self.members.pop(nick).close())

    @rule()
    def restart(self) -> None:
        """An operator restart: 1001 to everyone, then the same port and database."""
        assert self.server is not None
        self.run(self.server.stop())
        self.start_server()

    # --- the invariant ------------------------------------------------------------------

    @invariant()
    def every_view_is_the_stored_history(self) -> None:
        for pairs in self.acked.values():
            assert [seq for seq, _ in pairs] == list(range(1, len(pairs) + 1)), pairs
        for nick, member in self.members.items():
            for room, pairs in self.acked.items():

                def shown(m: Member = member, r: str = room) -> list[tuple[int, str]]:
                    return [(msg.seq, msg.body) for msg in m.seen.get(r, [])]

                def caught_up(r: str = room) -> bool:
                    return len(shown(r=r)) >= len(self.acked[r])

                self.run(eventually(caught_up, f"{nick} to catch up on {room}"))
                assert shown() == pairs, f"{nick}'s view of {room} differs from the history"

    def teardown(self) -> None:
        try:
            if self.members:
                nick = next(iter(self.members))
                for room, pairs in self.acked.items():
                    stored = self.run(full_history(self.url, self.tokens[nick], room))
                    assert [(m.seq, m.body) for m in stored] == pairs
            for member in self.members.values():
                self.run(member.close())
            if self.server is not None:
                self.run(self.server.stop())
        finally:
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)


ChatMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestChatMachine = ChatMachine.TestCase


async def test_a_client_closed_right_after_connecting_leaves_no_session(
    make_server: InProcessFactory, tmp_path: Path
) -> None:
    """Found by the machine's connect/quit steps: close() before the client's task had run
    left the websocket open, a ghost session (online to others) until the server stopped."""
    server = await make_server()
    tokens = await mint_tokens(tmp_path / "chat.db", ["ann"])
    for _ in range(3):
        async with ChatClient(server.url, token=tokens["ann"], reconnect=False):
            pass
    app = server.running.ctx
    await eventually(lambda: app.health()["connections"] == 0, "the sessions to end")
