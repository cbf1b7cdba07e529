"""The web client next to other clients: a terminal user in the same room, a foreign web page."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Pages, join_room, login, say
from tests.e2e.e2e_support import Chat, uniq


def test_a_browser_user_and_a_terminal_user_chat(pages: Pages, chat: Chat) -> None:
    # The terminal side speaks the bare protocol here (chat-tui send is not in the tree yet).
    room = uniq("mixed-")
    page = pages.open()
    nick = uniq("Web_")
    login(page, nick)
    join_room(page, room)
    terminal = chat.signup("Term_")
    terminal.join(room)
    expect(page.locator(f'#member-list [data-nick="{terminal.nick}"]')).to_have_attribute(
        "data-status", "online"
    )
    terminal.say(room, "hello from the terminal")
    expect(page.locator("#log .msg .body").last).to_have_text("hello from the terminal")
    expect(page.locator("#announce")).to_have_text(f"{terminal.nick}: hello from the terminal")
    say(page, "hello from the browser")
    message = terminal.recv_until("message", room=room, nick=nick)
    assert message["body"] == "hello from the browser"


OPEN_WEBSOCKET = """url => new Promise(done => {
    const ws = new WebSocket(url);
    ws.onopen = () => { ws.close(); done("open"); };
    ws.onerror = () => done("refused");
})"""


@pytest.fixture
def foreign_site(tmp_path: Path) -> Iterator[str]:
    """Another web site on this machine (another port: another origin), as an attacker's page."""
    (tmp_path / "index.html").write_text("<!doctype html><title>somewhere else</title>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}/"
    finally:
        site.shutdown()
        site.server_close()


def test_a_page_from_another_origin_cannot_open_the_websocket(
    pages: Pages, foreign_site: str
) -> None:
    """Cross-site websocket hijacking: the server refuses the handshake of a foreign page."""
    page = pages.open()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(foreign_site)
    assert page.evaluate(OPEN_WEBSOCKET, pages.server.url) == "refused"
    assert any("403" in line for line in console), console  # refused by the server, not before

    page.goto(pages.server.http + "/")  # the chat's own page is let in
    assert page.evaluate(OPEN_WEBSOCKET, pages.server.url) == "open"
