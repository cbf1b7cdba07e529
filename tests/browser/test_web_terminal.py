"""The web client among other clients: a terminal user, a foreign web page, TLS."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Pages, join_room, login, say
from tests.conftest import spawn_server
from tests.server.e2e.e2e_support import ServerProc, uniq

pytestmark = pytest.mark.slow  # a browser and a server subprocess

TERMINAL_PASSWORD = "terminal-pw-1"


def chat_tui(server: ServerProc, home: Path, *args: str) -> str:
    """Run the real ``chat-tui`` command as a terminal user would; its stdout."""
    exe = Path(sys.executable).parent / "chat-tui"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "chat_tui.cli"]
    env = {
        **os.environ,
        "CHAT_URL": server.url,
        "CHAT_PASSWORD": TERMINAL_PASSWORD,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
    }
    done = subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"chat-tui {args}: {done.returncode} {done.stderr}"
    return done.stdout


def test_a_browser_user_and_a_terminal_user_chat(pages: Pages, tmp_path: Path) -> None:
    room = uniq("mixed-")
    web_nick, term_nick = uniq("Web_"), uniq("Term_")
    page = pages.open()
    login(page, web_nick)
    join_room(page, room)

    chat_tui(pages.server, tmp_path, "send", "--nick", term_nick, "--room", room, "hi from a tty")
    expect(page.locator("#log .msg .body").last).to_have_text("hi from a tty")
    expect(page.locator("#log .msg .nick").last).to_have_text(term_nick)
    expect(page.locator("#announce")).to_have_text(f"{term_nick}: hi from a tty")
    expect(page.locator(f'#member-list [data-nick="{term_nick}"]')).to_be_visible()

    say(page, "hello from the browser")
    out = chat_tui(pages.server, tmp_path, "history", "--nick", term_nick, "--room", room, "--json")
    seen = [json.loads(line) for line in out.splitlines()]
    assert [(m["nick"], m["body"]) for m in seen] == [
        (term_nick, "hi from a tty"),
        (web_nick, "hello from the browser"),
    ]

    # a direct message from the terminal shows up as a conversation with one unread message
    chat_tui(pages.server, tmp_path, "send", "--nick", term_nick, "--to", web_nick, "psst")
    conversation = page.locator("#dm-list button.room")
    expect(conversation).to_have_text(f"@{term_nick}1")
    conversation.click()
    expect(page.locator("#log .msg .body")).to_have_text(["psst"])


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


def test_over_tls_the_page_talks_wss(pages: Pages, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server = spawn_server(cert.parent / "tls.db", "--certfile", str(cert), "--keyfile", str(key))
    try:
        assert server.url.startswith("wss://")
        context = pages.browser.new_context(ignore_https_errors=True)  # a self-signed certificate
        pages.contexts.append(context)
        page = context.new_page()
        pages.watch(page)
        page.goto(server.url.replace("wss://", "https://").removesuffix("/ws") + "/")
        login(page, uniq("Tls_"))
        say(page, "over wss")
        expect(page.locator("#log .msg .body")).to_have_text(["over wss"])
    finally:
        server.stop()
