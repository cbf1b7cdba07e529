"""The web client after a reload and after a server restart: resume without loss or duplicates."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import WebSocketRoute, expect

from tests.browser.conftest import (
    PASSWORD,
    Pages,
    bodies,
    faulty_network,
    join_room,
    login,
    say,
    seqs,
    write,
)
from tests.server.e2e.e2e_support import Chat, ServerProc, start_server, uniq

pytestmark = pytest.mark.slow  # a browser and a server subprocess

RECONNECT_MS = 30_000  # the backoff grows while the server is away (at most 30 s between tries)


def test_reload_resumes_without_duplicates(pages: Pages, chat: Chat) -> None:
    room = uniq("reload-")
    alice = uniq("Alice_")
    page = pages.open()
    login(page, alice, remember=True)
    join_room(page, room)
    bob = chat.signup("Bob_")
    bob.join(room)
    bob.say(room, "before the reload")
    say(page, "mine, before the reload")
    assert page.evaluate("sessionStorage.getItem('chat.token')") is None
    assert page.evaluate("localStorage.getItem('chat.token')")  # remembered

    page.reload()
    expect(page.locator("#chat-screen")).to_be_visible()  # no login form: the token logs in
    expect(page.locator("#room-title")).to_have_text(f"#{room}")  # back in the same room
    expect(page.locator("#log .msg")).to_have_count(2)
    bob.say(room, "after the reload")
    expect(page.locator("#log .msg .body").last).to_have_text("after the reload")
    say(page, "mine, after the reload")
    assert bodies(page) == [
        "before the reload",
        "mine, before the reload",
        "after the reload",
        "mine, after the reload",
    ]
    assert seqs(page) == [1, 2, 3, 4]

    # remembered: a new tab of the same browser is logged in too
    other_tab = pages.tab(page.context)
    expect(other_tab.locator("#me-nick")).to_have_text(alice)


def test_without_remember_me_the_token_lives_in_this_tab_only(pages: Pages) -> None:
    page = pages.open()
    carol = uniq("Carol_")
    login(page, carol, remember=False)
    assert page.evaluate("localStorage.getItem('chat.token')") is None
    page.reload()
    expect(page.locator("#me-nick")).to_have_text(carol)  # the tab keeps its session
    other_tab = pages.tab(page.context)
    expect(other_tab.locator("#login-screen")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#login-screen")).to_be_visible()
    page.reload()
    expect(page.locator("#login-screen")).to_be_visible()


def test_an_unsent_message_survives_a_reload(pages: Pages, chat: Chat) -> None:
    offline = [True]

    def swallow_sends(frame: dict[str, object], page_side: WebSocketRoute, raw: str) -> bool:
        return offline[0] and frame["type"] == "send"  # lost on the way: no ack ever comes

    room = uniq("unsent-")
    page = pages.open(before=faulty_network(up=swallow_sends))
    login(page, uniq("Dora_"))
    join_room(page, room)
    write(page, "written, then the tab reloaded")
    expect(page.locator("#log .msg.pending")).to_have_attribute("data-state", "pending")
    offline[0] = False
    page.reload()
    expect(page.locator("#room-title")).to_have_text(f"#{room}")
    expect(page.locator("#log .msg.pending")).to_have_count(0)
    expect(page.locator("#log .msg .body")).to_have_text(["written, then the tab reloaded"])
    assert seqs(page) == [1]
    assert page.evaluate("sessionStorage.getItem('chat.outbox')") is None  # acked: forgotten
    reader = chat.signup("Reader_")
    reader.join(room)
    assert [m["body"] for m in reader.history(room, after=0)["messages"]] == [
        "written, then the tab reloaded"
    ]


def test_a_stopping_servers_wait_is_shown_and_kept(pages: Pages) -> None:
    """The server's 1001 says ``retry_after=2.0`` (a stopping server spreading its crowd's
    return): the page says it reconnects in 2-3 s, not in its first backoff's half second,
    and is back by itself."""
    sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = []

    def connect(page_side: WebSocketRoute) -> None:
        sockets.append((page_side, page_side.connect_to_server()))

    page = pages.open(before=lambda page: page.route_web_socket("**/ws", connect))
    login(page, uniq("Erin_"))
    join_room(page, uniq("told-"))
    page_side, server_side = sockets[-1]
    page_side.close(code=1001, reason="retry_after=2.0")
    server_side.close()
    expect(page.locator("#status")).to_have_text(re.compile(r"Reconnecting in [23] s"))
    expect(page.locator("#status")).to_have_text("", timeout=10_000)
    assert len(sockets) == 2  # one try, when told: not one a second before it
    # the page's own reading of a close: only a 1001's whole "retry_after=S", an hour at most
    waits = page.evaluate(
        """async () => {
            const { goingAwayWaitMs } = await import("/connection.js");
            return [[1001, "retry_after=2.5"], [1001, "retry_after=3600.1"],
                    [1008, "retry_after=2.5"], [1001, "retry_after=1e9"],
                    [1001, "retry_after=2.5 "], [1001, ""]]
                .map(([code, reason]) => goingAwayWaitMs(code, reason));
        }"""
    )
    assert waits == [2500, 0, 0, 0, 0, 0]


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[list[ServerProc]]:
    """Servers of one test on one database (the last one is the running one)."""
    started: list[ServerProc] = []
    started.append(start_server(tmp_path / "chat.db", tmp_path / "server-0.log"))
    try:
        yield started
    finally:
        for server in started:
            server.stop()


def test_reconnect_resumes_and_resends_the_outbox(
    pages: Pages, restartable: list[ServerProc], tmp_path: Path
) -> None:
    first = restartable[0]
    room = uniq("restart-")
    page = pages.open(server=first)
    login(page, uniq("Alice_"))
    join_room(page, room)
    terminal = Chat(first)
    bob = terminal.signup("Bob_")
    bob.join(room)
    bob.say(room, "before the restart")
    say(page, "mine, before the restart")
    assert bob.user is not None
    terminal.close_all()

    first.stop()  # closes every connection with 1001
    expect(page.locator("#status")).to_contain_text("Reconnecting")
    write(page, "written while the server was down")
    pending = page.locator("#log .msg.pending")
    expect(pending).to_have_attribute("data-state", "pending")
    expect(pending.locator(".state")).to_have_text("sending…")

    second = start_server(
        first.db, tmp_path / "server-1.log", ["--port", str(first.port)]
    )  # same address, same database
    restartable.append(second)
    terminal = Chat(second)
    try:
        bob = terminal.login(bob.user)
        bob.join(room)
        bob.say(room, "while alice reconnects")
        expect(page.locator("#log .msg")).to_have_count(4, timeout=RECONNECT_MS)
        expect(page.locator("#log .msg.pending")).to_have_count(0)
        expect(page.locator("#status")).to_have_text("")
        assert seqs(page) == [1, 2, 3, 4]  # nothing missed, nothing twice
        shown = bodies(page)
        assert shown[:2] == ["before the restart", "mine, before the restart"]
        assert sorted(shown[2:]) == ["while alice reconnects", "written while the server was down"]
        # the re-sent message was stored once, in the order everyone sees
        stored = [m["body"] for m in bob.history(room, after=0)["messages"]]
        assert stored == shown
    finally:
        terminal.close_all()


def test_joins_over_the_read_budget_are_asked_again_not_dropped(
    pages: Pages, tmp_path: Path
) -> None:
    """A welcome listing more rooms than the server's read burst: every room is joined in the
    end (the refused joins are made again after their retry_after), none disappears."""
    server = start_server(
        tmp_path / "chat.db", tmp_path / "server.log", ["--read-burst", "4", "--read-rate", "20"]
    )
    terminal = Chat(server)
    try:
        alice = uniq("Alice_")
        rooms = sorted(uniq("many-") for _ in range(10))
        page = pages.open(server=server)
        login(page, alice)  # a new account: the browser joins #general
        own = terminal.connect()
        own.hello(alice, PASSWORD)
        bob = terminal.signup("Bob_")
        assert own.user is not None and bob.user is not None
        for room in rooms:  # alice is in 11 rooms, bob says hello in each
            terminal.login(own.user).join(room)  # a connection each: a budget each
            said = terminal.login(bob.user)
            said.join(room)
            said.say(room, f"hello {room}")
        page.reload()  # the welcome lists 11 rooms: 11 joins at once, 4 in the burst
        expect(page.locator("#room-list button.room")).to_have_count(11)
        for room in rooms:
            page.locator("#room-list button.room", has_text=room).click()
            expect(page.locator("#room-title")).to_have_text(f"#{room}")
            expect(page.locator("#log .msg .body")).to_have_text([f"hello {room}"])
        expect(page.locator("#notice")).not_to_contain_text("slow down")
    finally:
        terminal.close_all()
        server.stop()
