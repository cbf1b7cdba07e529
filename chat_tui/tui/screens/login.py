"""The login screen: nick and a hidden password, shown when no token is stored; and an invite
code, once the server says a new nick needs one."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Input, Label

from chat_server.protocol import is_valid_nick
from chat_tui.tui.render import safe_text


class LoginField(Input):
    """An input that handles Enter and Tab in key order.

    Textual runs Enter and Tab as bindings after the keys already queued behind them, so
    ``nick<Tab>password<Enter>`` typed or pasted at once would all land in the nick. Here
    Enter/Tab move the focus at once, and keys that were queued for this field after it gave
    the focus away are passed on to the field that has it.
    """

    async def _on_key(self, event: events.Key) -> None:
        focused = self.app.focused
        if focused is not self and isinstance(focused, LoginField):
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
            return
        if event.key in ("enter", "tab") and isinstance(self.screen, LoginScreen):
            event.stop()
            event.prevent_default()
            self.screen.field_done(self, event.key)
            return
        await super()._on_key(event)


class LoginScreen(Screen[None]):
    """Posts :class:`LoginScreen.Submitted`; the app answers with :meth:`show_error` or pops it."""

    @dataclass
    class Submitted(Message):
        nick: str
        password: str
        invite: str | None = None  # the code typed, when the field is shown

    def __init__(
        self,
        url: str,
        nick: str = "",
        error: str = "",
        *,
        invite: str | None = None,
        password: str = "",
    ) -> None:
        """``invite``: show the invite-code field, with this code in it ("" for none);
        ``password``: the one the command line gave, kept while a code is asked for."""
        super().__init__()
        self.url = url
        self.nick = nick
        self.password = password
        self.error = error
        self.invite = invite

    def compose(self) -> ComposeResult:
        with Vertical(id="login-box"):
            title = Text("Log in to ", "bold")
            title.append_text(safe_text(self.url, "bold"))
            yield Label(title, id="login-title")
            yield Label(Text("A new nick creates an account with this password.", "dim"))
            yield LoginField(self.nick, placeholder="nick", id="login-nick")
            yield LoginField(
                self.password, placeholder="password", password=True, id="login-password"
            )
            yield LoginField(
                self.invite or "",
                placeholder="invite code (a new nick on this server needs one)",
                id="login-invite",
                classes="" if self.invite is None else "needed",
            )
            yield Label(safe_text(self.error), id="login-error")
            yield Button("Log in", variant="primary", id="login-button")

    def on_mount(self) -> None:
        target = "#login-password" if self.nick else "#login-nick"
        self.query_one(target, Input).focus()

    @property
    def asks_invite(self) -> bool:
        return self.query_one("#login-invite", Input).has_class("needed")

    def ask_invite(self, message: str) -> None:
        """The server refused a new nick for want of a valid invite code: show the field
        (keeping the password, which is the one being chosen) and put the cursor in it."""
        self.query_one("#login-error", Label).update(safe_text(message))
        self.query_one("#login-button", Button).disabled = False
        field = self.query_one("#login-invite", Input)
        field.add_class("needed")
        field.focus()

    def show_error(self, message: str, *, clear_password: bool = False) -> None:
        """Say what went wrong (wrapped, in full); ``clear_password`` after the server
        refused it, else it stays typed (a connection error says nothing against it)."""
        self.query_one("#login-error", Label).update(safe_text(message))
        self.query_one("#login-button", Button).disabled = False
        password = self.query_one("#login-password", Input)
        if clear_password:
            password.value = ""
        password.focus()

    def try_again(self, message: str, seconds: float) -> None:
        """The server asked to wait a moment (another login from this address is being
        checked): say so, and log in again with what is typed once ``seconds`` are over."""
        self.query_one("#login-error", Label).update(safe_text(message))
        self.set_timer(max(seconds, 0.1), self._submit)

    def _submit(self) -> None:
        nick = self.query_one("#login-nick", Input).value.strip()
        password = self.query_one("#login-password", Input).value
        if not is_valid_nick(nick):
            self.show_error("A nick is 1-32 of A-Z, a-z, 0-9, _ and -.")
            self.query_one("#login-nick", Input).focus()
            return
        if not password:
            self.show_error("Type your password (or choose one for a new account).")
            return
        invite = self.query_one("#login-invite", Input).value.strip() if self.asks_invite else ""
        self.query_one("#login-error", Label).update(Text("Logging in…", "dim"))
        self.query_one("#login-button", Button).disabled = True
        self.post_message(self.Submitted(nick, password, invite or None))

    def field_done(self, field: LoginField, key: str) -> None:
        """Enter or Tab in a field: on to the password, or log in."""
        if field.id == "login-nick":
            self.set_focus(self.query_one("#login-password", Input), scroll_visible=False)
        elif field.id == "login-password" and key == "tab" and self.asks_invite:
            self.set_focus(self.query_one("#login-invite", Input), scroll_visible=False)
        elif key == "enter":
            self._submit()
        else:
            self.set_focus(self.query_one("#login-button", Button), scroll_visible=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._submit()
