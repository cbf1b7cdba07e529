"""Signing up in the browser on an invite-only server: the ``#invite=CODE`` link that
``chat-server invites create`` prints opens the signup form with the code filled in, and a
new nick without a code is asked for one (told apart from a wrong password)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, Pages, login
from tests.server.cli_support import assert_ok, cli
from tests.support.servers import ServerProcess, spawn

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """This module's server signs up only with invite codes."""
    tmp = tmp_path_factory.mktemp("web")
    server = spawn(tmp / "chat.db", "--signup", "invite", log=tmp / "server.log")
    try:
        yield server
    finally:
        server.stop()


def new_code(web: ServerProcess, *args: str) -> tuple[str, str]:
    """``chat-server invites create ARGS`` on the module's database: (code, link)."""
    made = cli("invites", "create", *args, "--public-url", web.http, "--db", str(web.db))
    assert_ok(made)
    code, link = made.stdout.splitlines()
    return code, link


def open_link(pages: Pages, link: str) -> Page:
    context = pages.browser.new_context(viewport={"width": 1100, "height": 700})
    pages.contexts.append(context)
    page = context.new_page()
    pages.watch(page)
    page.goto(link)
    return page


def test_the_invite_link_opens_the_signup_form_with_the_code(
    pages: Pages, web: ServerProcess
) -> None:
    code, link = new_code(web, "--room", "welcome")
    assert link == f"{web.http}/#invite={code}"
    page = open_link(pages, link)
    expect(page.locator("#login-screen")).to_be_visible()
    expect(page.get_by_label("Invite code")).to_have_value(code)
    expect(page.locator("#login-hint")).to_have_text(
        "You were invited: pick a nick and a password to create your account."
    )
    expect(page.get_by_label("Nick")).to_be_focused()
    assert "invite" not in page.url  # the code left the address bar
    login(page, "Invitee")
    expect(page.locator("#room-list button.room", has_text="welcome")).to_be_visible()


def test_a_new_nick_without_a_code_is_asked_for_one(pages: Pages, web: ServerProcess) -> None:
    code, _ = new_code(web)
    page = pages.open()
    expect(page.get_by_label("Invite code")).to_be_hidden()
    page.get_by_label("Nick").fill("Walkin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_have_text(
        "An invite code is needed to sign up here. Enter the invite code you were given."
    )
    field = page.get_by_label("Invite code")
    expect(field).to_be_visible()
    expect(field).to_be_focused()
    expect(page.get_by_label("Password")).to_have_value(PASSWORD)  # kept

    field.fill("wrong-code")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_contain_text("The invite code is not valid")
    field.fill(code)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#chat-screen")).to_be_visible()
    expect(page.locator("#me-nick")).to_have_text("Walkin")


def test_a_wrong_password_is_not_taken_for_a_missing_code(pages: Pages, web: ServerProcess) -> None:
    _, link = new_code(web)
    login(open_link(pages, link), "Member")
    page = pages.open()
    page.get_by_label("Nick").fill("Member")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_have_text("Wrong nick or password.")
    expect(page.get_by_label("Invite code")).to_be_hidden()
    login(page, "Member")  # the right password: no code needed
