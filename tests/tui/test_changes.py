"""Protocol 2 in the real app: edits, deletes, reactions and replies from a peer, live and
after a time offline, as the user sees them (in place, the view not moved)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chat_tui.tui.app import create_app
from tests.conftest import ChatServerUnderTest
from tests.support.raw import Client
from tests.tui.conftest import screen_text, seed, token_for, until, widget_text


async def change(peer: Client, frame: dict[str, Any]) -> int:
    """Make one change as ``peer``; the seq of its entry."""
    ack = await peer.request(frame, "ack", "error")
    assert ack["type"] == "ack", ack
    seq: int = ack["seq"]
    return seq


@pytest.mark.slow
async def test_a_peers_changes_show_in_place(server: ChatServerUnderTest) -> None:
    token = await token_for(server, "alice")
    [first, second] = await seed(server, "bob", "general", ["teh first words", "second line"])
    app = create_app(server.url, token=token, rooms=["general"])
    async with app.run_test(size=(100, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await until(pilot, lambda: "second line" in screen_text(app), "the history shows")
        async with server.login("bob") as bob:
            await bob.join("general")
            await change(
                bob,
                {
                    "type": "edit",
                    "room": "general",
                    "target": first,
                    "body": "the first words",
                    "id": "e1",
                },
            )
            await until(pilot, lambda: "the first words (edited)" in screen_text(app), "edit")
            assert "teh" not in screen_text(app)
            await change(
                bob,
                {"type": "react", "room": "general", "target": second, "emoji": "👍", "id": "r1"},
            )
            await until(pilot, lambda: "👍 1" in screen_text(app), "the reaction shows")
            reply = await bob.say("general", "I agree", "s1")
            assert reply["type"] == "ack"
            await change(
                bob,
                {
                    "type": "send",
                    "room": "general",
                    "body": "quoting",
                    "reply_to": first,
                    "id": "s2",
                },
            )
            await until(pilot, lambda: "↳ bob: the first words" in screen_text(app), "the quote")
            await until(pilot, lambda: "1 reply (t)" in screen_text(app), "the root counts it")
            await change(bob, {"type": "delete", "room": "general", "target": first, "id": "d1"})
            await until(pilot, lambda: "message deleted" in screen_text(app), "the delete")
            text = screen_text(app)
            assert "↳ deleted message" in text, "the reply's quote follows its target"
            assert "the first words" not in text, "no trace of the erased text"
            assert "1 reply (t)" in text, "the answers to a deleted message stay reachable"


@pytest.mark.slow
async def test_a_change_above_the_view_does_not_move_it(
    fast_server: ChatServerUnderTest,
) -> None:
    token = await token_for(fast_server, "alice")
    await seed(fast_server, "bob", "general", [f"line {n}" for n in range(80)])
    app = create_app(fast_server.url, token=token, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        history = app.chat.history
        await until(pilot, lambda: "line 79" in screen_text(app), "the newest lines show")
        loaded = [m.seq for m in history.timeline("general").messages]
        assert len(loaded) >= 30, "a page of history is loaded"
        history.scroll_to(y=history._seq_line[loaded[15]], animate=False, immediate=True)
        await pilot.pause()
        before = screen_text(app)
        assert f"line {loaded[15] - 1}" in before and "line 79" not in before
        async with fast_server.login("bob") as bob:
            await bob.join("general")
            for number, seq in enumerate(loaded[:10]):  # all above the view
                await change(
                    bob,
                    {
                        "type": "react",
                        "room": "general",
                        "target": seq,
                        "emoji": "🎉",
                        "id": f"r{number}",
                    },
                )
            last = history.timeline("general").message(loaded[9])
            await until(pilot, lambda: last is not None and bool(last.reactions), "applied")
        await pilot.pause()
        assert screen_text(app) == before, "the lines under the user's eyes stay put"


@pytest.mark.slow
async def test_a_delete_made_while_offline_is_applied_on_resume(
    make_server: Callable[..., Any],
) -> None:
    first_server: ChatServerUnderTest = await make_server()
    token = await token_for(first_server, "alice")
    [secret, other] = await seed(first_server, "bob", "general", ["my password is hunter2", "ok"])
    app = create_app(first_server.url, token=token, rooms=["general"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "the room is shown")
        await until(pilot, lambda: "hunter2" in screen_text(app), "the message shows")
        port = first_server.running.port
        await first_server.running.stop()
        status = app.chat.status_line
        await until(pilot, lambda: "reconnecting" in widget_text(status), "offline")
        second: ChatServerUnderTest = await make_server(port=port)
        async with second.login("bob") as bob:
            await bob.join("general")
            await change(bob, {"type": "delete", "room": "general", "target": secret, "id": "d"})
            await change(
                bob,
                {"type": "edit", "room": "general", "target": other, "body": "okay", "id": "e"},
            )
        await until(
            pilot, lambda: "message deleted" in screen_text(app), "applied on resume", timeout=20
        )
        await until(pilot, lambda: "okay (edited)" in screen_text(app), "the edit too")
        assert "hunter2" not in "\n".join(app.chat.history.all_text())


@pytest.mark.slow
async def test_replies_to_old_messages_fetch_their_quotes_a_few_at_a_time(
    fast_server: ChatServerUnderTest,
) -> None:
    """A backlog of replies to 30 messages the client does not hold: every quote shows,
    from a handful of requests one after the other, not a burst of 30."""
    token = await token_for(fast_server, "alice")
    targets = await seed(fast_server, "bob", "general", [f"old {n}" for n in range(30)])
    await seed(fast_server, "bob", "general", [f"filler {n}" for n in range(200)])
    async with fast_server.login("carol") as carol:
        await carol.join("general")
        for number, target in enumerate(targets):
            await change(
                carol,
                {"type": "send", "room": "general", "reply_to": target, "body": f"re {number}",
                 "id": f"q{number}"},
            )  # fmt: skip
    app = create_app(fast_server.url, token=token, rooms=["general"])
    asked: list[int | None] = []
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.client is not None, "connected")
        client = app.client
        assert client is not None
        history = client.history

        async def counted(room: str, **kwargs: Any) -> Any:
            asked.append(kwargs.get("around"))
            return await history(room, **kwargs)

        client.history = counted  # type: ignore[method-assign]
        await until(pilot, lambda: app.ready, "the room is shown")
        quotes = [f"↳ bob: old {number}" for number in range(30)]

        def all_quoted() -> bool:
            text = "\n".join(app.chat.history.all_text())
            return all(quote in text for quote in quotes)

        await until(pilot, all_quoted, "every quote shows")
    around = [seq for seq in asked if seq is not None]
    assert 0 < len(around) <= 5, around
