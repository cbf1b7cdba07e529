"""What the tests of messages that change do in a page: find a message by its text, use its
actions as a person would (hover, or tap on a phone), and pull a page's network cable."""

from __future__ import annotations

from dataclasses import dataclass, field

from playwright.sync_api import Locator, Page, WebSocketRoute, expect


def message(page: Page, text: str, where: str = "#log") -> Locator:
    """The message whose own text holds ``text`` (not a reply that quotes it)."""
    return page.locator(f"{where} .msg:not(.pending)", has=page.locator(".body", has_text=text))


def act(page: Page, text: str, action: str) -> Locator:
    """Hover the message holding ``text`` and click one of its actions; the message."""
    item = message(page, text)
    item.hover()
    item.locator(".actions").get_by_role("button", name=action, exact=True).click()
    return item


def actions(item: Locator) -> list[str]:
    """The names of the actions a message offers (hover it or tap it first)."""
    expect(item.locator(".actions")).to_be_visible()
    names: list[str] = item.locator(".actions button").evaluate_all(
        "buttons => buttons.map(b => b.getAttribute('aria-label'))"
    )
    return names


def delete(page: Page, text: str) -> None:
    """Delete the message holding ``text``, answering the question once."""
    item = act(page, text, "Delete")
    confirm = item.locator(".confirm")
    expect(confirm).to_contain_text("Delete")
    confirm.get_by_role("button", name="Delete", exact=True).click()


@dataclass
class Cable:
    """A page's websocket through a plug: pulled, its socket closes and new ones are refused
    (the page keeps retrying with its backoff); plugged again, the page is told it is online."""

    plugged: bool = True
    sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = field(default_factory=list)

    def route(self, page: Page) -> None:
        """Pass as ``before=`` to ``Pages.open``."""

        def connect(page_side: WebSocketRoute) -> None:
            if not self.plugged:
                page_side.close()
                return
            self.sockets.append((page_side, page_side.connect_to_server()))

        page.route_web_socket("**/ws", connect)

    def pull(self) -> None:
        self.plugged = False
        for page_side, server_side in self.sockets:
            page_side.close()
            server_side.close()
        self.sockets.clear()

    def plug(self, page: Page) -> None:
        self.plugged = True
        page.evaluate("window.dispatchEvent(new Event('online'))")
