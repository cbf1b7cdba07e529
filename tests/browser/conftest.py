"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, a real chat-server.

One browser and one ``chat-server serve`` subprocess per test module (starting either costs
about a second); every test gets fresh browser contexts (separate storage, like separate
people) and unique nicks and rooms. Every page fails its test if a dialog opened (an XSS
payload ran) or a script error escaped.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    WebSocket,
    WebSocketRoute,
    expect,
    sync_playwright,
)

from chat_server.errors import ProtocolError
from chat_server.protocol import decode_client_frame
from tests.server.e2e.e2e_support import Chat
from tests.server.test_tls import (
    certificate as certificate,  # the fixture: a self-signed certificate
)
from tests.support.servers import ServerProcess, spawn

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 10_000  # generous: the machine is shared and slow at times
PASSWORD = "browser-pw-1"

expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        reason = f"{CHROMIUM} is missing (apt-get install chromium); the browser tests need it"
        if os.environ.get("CHAT_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real ``chat-server serve`` for the module (the browser loads its page from it)."""
    tmp = tmp_path_factory.mktemp("web")
    server = spawn(tmp / "chat.db", log=tmp / "server.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def chat(web: ServerProcess) -> Iterator[Chat]:
    """Terminal-side connections (bare websockets) to the module's server."""
    terminal = Chat(web)
    try:
        yield terminal
    finally:
        terminal.close_all()


@dataclass
class Pages:
    """Opens pages, each in its own context (its own storage: another person or device)."""

    browser: Browser
    server: ServerProcess
    contexts: list[BrowserContext] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(
        self,
        width: int = 1100,
        height: int = 700,
        *,
        server: ServerProcess | None = None,
        before: Callable[[Page], None] | None = None,
        **options: Any,
    ) -> Page:
        """A new person (context) on the chat's page of ``server`` (the module's by default).

        ``before`` runs before the page loads (to route its websocket, for instance).
        """
        context = self.browser.new_context(viewport={"width": width, "height": height}, **options)
        self.contexts.append(context)
        return self.tab(context, server, before)

    def tab(
        self,
        context: BrowserContext,
        server: ServerProcess | None = None,
        before: Callable[[Page], None] | None = None,
    ) -> Page:
        """Another tab of the same person (shares localStorage, not sessionStorage)."""
        page = context.new_page()
        self.watch(page)
        if before is not None:
            before(page)
        page.goto((server or self.server).http + "/")
        return page

    def watch(self, page: Page) -> None:
        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()


@pytest.fixture
def pages(browser: Browser, web: ServerProcess) -> Iterator[Pages]:
    opened = Pages(browser, web)
    try:
        yield opened
    finally:
        opened.close()
    assert opened.dialogs == [], f"a dialog opened: untrusted text ran as code: {opened.dialogs}"
    assert opened.errors == [], f"uncaught script errors in the page: {opened.errors}"


@dataclass
class SentFrames:
    """Every frame the watched pages send, decoded as the server decodes it: the types seen,
    and what failed to decode (the page built a frame the server would refuse)."""

    types: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        """Watch ``page``'s websockets (pass as ``before=`` to catch the first frame)."""
        page.on("websocket", self._socket)

    def _socket(self, ws: WebSocket) -> None:
        ws.on("framesent", self._check)

    def _check(self, payload: str | bytes) -> None:
        try:
            decode_client_frame(payload)
        except ProtocolError as exc:
            self.failures.append(f"{exc.code} ({exc}): {payload!r}")
        else:
            self.types.append(json.loads(payload)["type"])


def login(page: Page, nick: str, password: str = PASSWORD, *, remember: bool = False) -> None:
    """Log in (or sign up) through the form, as a person would, and wait for the chat screen."""
    page.get_by_label("Nick").fill(nick)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Remember me").set_checked(remember)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#chat-screen")).to_be_visible()
    expect(page.locator("#me-nick")).to_have_text(nick)


def rooms_drawer(page: Page) -> None:
    """On a phone, open the rooms drawer (the sidebar) with its button, as a person would; on a
    wider screen the sidebar is always there."""
    opener = page.get_by_role("button", name="Rooms", exact=True)
    if opener.is_visible() and opener.get_attribute("aria-expanded") != "true":
        opener.click()
    expect(page.locator("#sidebar")).to_be_visible()


def join_room(page: Page, room: str) -> None:
    rooms_drawer(page)
    page.get_by_label("Join a room").fill(room)
    page.get_by_role("button", name="Join", exact=True).click()
    expect(page.locator("#room-title")).to_have_text(f"#{room}")
    expect(page.locator("#member-list")).not_to_be_empty()


def write(page: Page, text: str) -> None:
    """Type into the composer and press Enter (without waiting for the server)."""
    page.locator("#input").fill(text)
    page.locator("#input").press("Enter")


def say(page: Page, text: str) -> None:
    """Type and send with Enter; wait until the server acknowledged it (no longer pending)."""
    write(page, text)
    sent = page.locator("#log .msg.mine .body", has_text=text)
    expect(sent.last).to_be_visible()
    expect(page.locator("#log .msg.pending")).to_have_count(0)


def bodies(page: Page) -> list[str]:
    """The message bodies on screen, top to bottom (as text, exactly as shown)."""
    result: list[str] = page.locator("#log .msg .body").all_text_contents()
    return result


def seqs(page: Page) -> list[int]:
    values = page.locator("#log .msg:not(.pending)").evaluate_all(
        "items => items.map(item => Number(item.dataset.seq))"
    )
    return [int(v) for v in values]


Fault = Callable[[dict[str, object], WebSocketRoute, str], bool]


def passes(frame: dict[str, object], side: WebSocketRoute, raw: str) -> bool:
    return False


def faulty_network(
    down: Fault = passes, up: Fault = passes, sent: list[dict[str, object]] | None = None
) -> Callable[[Page], None]:
    """Route the page's websocket to the real server through faults.

    ``down(frame, page_side, raw)`` sees each server frame on its way to the page, ``up(frame,
    page_side, raw)`` each page frame on its way to the server; each returns whether it handled
    the frame (dropped it, or sent it itself); otherwise the frame is passed on. ``sent``
    collects every frame the page sent.
    """

    def route(page: Page) -> None:
        def connect(page_side: WebSocketRoute) -> None:
            server_side = page_side.connect_to_server()

            def from_server(raw: str | bytes) -> None:
                text = raw if isinstance(raw, str) else raw.decode()
                if not down(json.loads(text), page_side, text):
                    page_side.send(text)

            def from_page(raw: str | bytes) -> None:
                text = raw if isinstance(raw, str) else raw.decode()
                frame = json.loads(text)
                if sent is not None:
                    sent.append(frame)
                if not up(frame, page_side, text):
                    server_side.send(text)

            server_side.on_message(from_server)
            page_side.on_message(from_page)

        page.route_web_socket("**/ws", connect)

    return route
