"""The Textual app behind ``chat-tui connect``: wires one ChatClient to the chat screen.

The client runs in a worker and its events become widget updates; what the user types
becomes client calls, each in a worker, so the screen never waits on the network.
:func:`run` is what the CLI calls; :func:`create_app` builds the app for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input

from chat_server import protocol as p
from chat_tui.client import credentials
from chat_tui.client.client import ChatClient
from chat_tui.client.errors import (
    AuthError,
    Busy,
    ClientError,
    ConnectError,
    InviteNeeded,
    RateLimited,
)
from chat_tui.client.events import (
    Closed,
    Connected,
    JoinResult,
    Status,
    StatusChanged,
    member_count,
)
from chat_tui.client.rooms import notice_record
from chat_tui.client.sequencing import Backoff
from chat_tui.tui import commands as cmd
from chat_tui.tui import crash
from chat_tui.tui.actions import Commands
from chat_tui.tui.message_actions import MessageActions
from chat_tui.tui.notifications import Notifier, NotifySettings
from chat_tui.tui.render import mentions, room_label
from chat_tui.tui.room_admin import RoomAdmin
from chat_tui.tui.screens.chat_screen import ChatScreen
from chat_tui.tui.screens.login import LoginScreen
from chat_tui.tui.textual_internals import alt_digits_are_keys
from chat_tui.tui.widgets.composer import Composer
from chat_tui.tui.widgets.history import HistoryView
from chat_tui.tui.widgets.rooms import INVITE_PREFIX, RoomInfo, RoomList

alt_digits_are_keys()  # before any app reads the terminal; see textual_internals

TYPING_EVERY = 3.0  # seconds between typing notifications (the server relays one per 3 s)
OLDER_PAGE = 200  # messages fetched per step of infinite scroll
QUOTE_PAGE = 20  # entries fetched around a reply's target this client does not hold
THREAD_PAGES = 10  # at most this many pages of a thread are loaded when it opens
DEFAULT_ROOM = "general"
# a login refused for a few seconds at most (two from one address at once) is tried again by
# itself; a longer wait (failed logins) is the person's to decide
LOGIN_RETRY_MAX = 5.0


class ChatApp(App[int]):
    """A full-screen chat on one server."""

    CSS_PATH = "chat.tcss"
    TITLE = "chat"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "quit", priority=True)]

    def __init__(
        self,
        url: str,
        *,
        nick: str | None = None,
        rooms: list[str] | None = None,
        token: str | None = None,
        password: str | None = None,
        bell: bool = True,
        invite: str | None = None,
        notify: NotifySettings | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self.nick = nick or ""
        self.wanted_rooms = list(rooms or [])
        self.token = token
        self.password = password
        self.invite = invite  # a code from the command line, for a new nick
        self.ring = bell
        self.notifier = Notifier(self, notify or NotifySettings())
        self.client: ChatClient | None = None
        self.welcome: p.Welcome | None = None
        self.commands = Commands(self)
        self.message_actions = MessageActions(self)
        self.room_admin = RoomAdmin(self)
        self.chat = ChatScreen()
        self.chat.composer.edit_last = self.edit_last
        self.error_message = ""
        self._typing_sent: dict[str, float] = {}
        self._quotes: dict[str, list[int]] = {}  # room -> reply targets to fetch, in turn
        self._read_due = False
        self.ready = False  # rooms joined and the first room shown (tests wait for it)

    # --- an unplanned failure: one line, the traceback in a file -----------------------------

    def _handle_exception(self, error: Exception) -> None:
        # Textual's private hooks (checked by tests/tui/test_crash.py, marked private_api):
        # it would print a traceback with every frame's locals, passwords included.
        self.error_message = crash.report(error)
        super()._handle_exception(error)

    def _fatal_error(self) -> None:
        self.bell()
        self._close_messages_no_wait()

    # --- start and login ---------------------------------------------------------------------

    def on_mount(self) -> None:
        self.chat.url = urlsplit(self.url).hostname or self.url
        self.push_screen(self.chat)
        client = self._first_client()
        if client is not None:
            self._start(client)
        else:
            self.push_screen(LoginScreen(self.url, self.nick, invite=self.invite))

    def _first_client(self) -> ChatClient | None:
        """A client for the login the command line gave (a saved token, or nick and password)."""
        if self.token is not None:
            return ChatClient(self.url, token=self.token)
        if self.nick and self.password:
            return ChatClient(self.url, nick=self.nick, password=self.password, invite=self.invite)
        return None

    def _start_again(self) -> None:
        client = self._first_client()
        if client is not None:
            self._start(client)

    def _start(self, client: ChatClient, *, remember: bool = False) -> None:
        self.run_worker(self._connect(client, remember), group="session", exclusive=True)

    async def _connect(self, client: ChatClient, remember: bool) -> None:
        login = self.screen if isinstance(self.screen, LoginScreen) else None
        try:
            welcome = await client.connect()
        except InviteNeeded as exc:
            if login is None:
                invite = self.invite or ""
                login = LoginScreen(
                    self.url, self.nick, invite=invite, password=self.password or ""
                )
                await self.push_screen(login)
            login.ask_invite(f"Sign-up refused: {exc}. Type the invite code you were given.")
            return
        except AuthError as exc:
            self._login_failed(login, f"Login refused: {exc}")
            return
        except Busy as exc:  # a server logging a crowd in: again when it says, by itself
            seconds = Backoff().after(0, exc.retry_after)
            text = f"{exc.message[0].upper()}{exc.message[1:]}: trying again by itself in"
            text += f" {math.ceil(seconds)} s…"
            if login is not None:
                login.try_again(text, seconds)
            else:  # started from a saved token: the status line counts down
                self.chat.show_status(Status("reconnecting", seconds, 0, "busy"), 0)
                self.set_timer(seconds, self._start_again)
            return
        except RateLimited as exc:  # judged nothing: the password stays typed
            if login is None:
                self._login_failed(login, str(exc))
            elif exc.retry_after is not None and exc.retry_after <= LOGIN_RETRY_MAX:
                wait = exc.message.strip().rstrip(".")
                login.try_again(f"{wait}: trying again by itself…", exc.retry_after)
            else:
                login.show_error(str(exc))
            return
        except ConnectError as exc:
            if login is not None:
                login.show_error(str(exc))
                return
            self.error_message = str(exc)
            self.exit(ConnectError.exit_code)
            return
        except ClientError as exc:
            self._login_failed(login, str(exc))
            return
        if remember:
            credentials.save_token(self.url, welcome.nick, welcome.token)
        if login is not None:
            self.pop_screen()
        await self._session(client, welcome)

    def _login_failed(self, login: LoginScreen | None, message: str) -> None:
        if login is not None:
            login.show_error(message, clear_password=True)
        else:
            self.push_screen(LoginScreen(self.url, self.nick, message))

    def on_login_screen_submitted(self, event: LoginScreen.Submitted) -> None:
        self.nick = event.nick
        client = ChatClient(self.url, nick=event.nick, password=event.password, invite=event.invite)
        self._start(client, remember=True)

    async def _session(self, client: ChatClient, welcome: p.Welcome) -> None:
        """Join the rooms, show the first one, then turn client events into screen updates."""
        if self.client is not None:  # logged in again: start from what the server says
            self.chat.rooms.rooms.clear()
            self.chat.history.timelines.clear()
        self.client = client
        self.welcome = welcome
        self.nick = welcome.nick
        self.chat.me = welcome.nick
        self.chat.history.me = welcome.nick
        self.chat.rooms.me = welcome.nick
        self.chat.show_status(client.status, client.queued)
        self.room_admin.set_invites(welcome.invites)
        states = {state.room: state for state in welcome.rooms}
        wanted = [room.removeprefix("#") for room in self.wanted_rooms]
        names = list(dict.fromkeys([*wanted, *states])) or [DEFAULT_ROOM]
        for name in names:
            state = states.get(name)
            self.room_info(name, read_seq=state.read_seq if state else 0)
            if state is not None:
                self.chat.rooms.rooms[name].unread = state.unread
        results = await asyncio.gather(
            *(client.join(name) for name in names), return_exceptions=True
        )
        failed: list[str] = []
        for name, result in zip(names, results, strict=True):
            if isinstance(result, JoinResult):
                self.joined(result, live=False)
            elif isinstance(result, ClientError):
                failed.append(f"cannot join {room_label(name, welcome.nick)}: {result}")
                del self.chat.rooms.rooms[name]
                self.chat.history.forget(name)
            else:
                raise result
        self.chat.rooms.refresh_rooms()
        joined = self.chat.rooms.ordered()
        first = next((room for room in wanted if room in joined), joined[0] if joined else None)
        if first is None:
            self.chat.title_line.update("no room: /join #room")
            for line in failed:
                self.notify(line, severity="error", markup=False)
        else:
            for line in failed:
                self.notice(first, line, "error")
        if first is not None:
            self.switch_room(first)
        self.chat.composer.focus()
        self.ready = True
        async for event in client.events():
            self._on_event(event)

    # --- client events -------------------------------------------------------------------

    def _on_event(self, event: object) -> None:
        chat = self.chat
        match event:
            case p.MessageRecord():
                self._show_message(event)
            case p.EditEvent() | p.DeleteEvent() | p.ReactEvent():
                chat.history.apply(event.room, [event])
                if chat.thread.room == event.room:
                    chat.thread.history.apply(event.room, [event])
            case p.Notice():
                self.room_admin.on_notice(event)
            case p.InviteEvent():
                self.room_admin.on_invite(event)
            case p.Left():
                self.room_admin.on_removed(event)
            case p.Presence(room=room, nick=nick, status=status):
                info = self.room_info(room)
                if status in ("online", "joined"):  # joining takes a connection: online
                    info.arrived(nick, new_member=status == "joined")
                elif status == "offline":
                    info.online.discard(nick)
                    chat.stopped_typing(room, nick)
                elif status == "left":
                    info.departed(nick)
                if room == chat.history.room:
                    chat.show_room(info)
            case p.TypingEvent(room=room, nick=nick):
                if p.nick_key(nick) != p.nick_key(self.nick):
                    chat.typed(room, nick)
            case p.ReadEvent(room=room, seq=seq):
                info = self.room_info(room)
                info.read_seq = max(info.read_seq, seq)
                if seq >= chat.history.timeline(room).last_seq:
                    info.unread = 0
                    info.mentioned = False
                    chat.rooms.refresh_rooms()
            case p.Joined():
                self.notifier.joined_at[event.room] = event.last_seq
                info = self.room_info(event.room)
                info.set_members(event.members, event.online, member_count(event))
                info.topic, info.private, info.roles = event.topic, event.private, event.roles
                chat.history.set_floor(event.room, event.floor, event.retention_s)
                if event.room == chat.history.room:
                    chat.show_room(info)
            case Connected(welcome=welcome):
                self.notifier.live = True
                self.welcome = welcome
                self.room_admin.set_invites(welcome.invites)
                assert self.client is not None
                chat.show_status(self.client.status, self.client.queued)
            case StatusChanged(status=status):
                # a reconnect's catch-up comes before the client says it is connected again
                self.notifier.live = status.state == "connected"
                assert self.client is not None
                chat.show_status(self.client.status, self.client.queued)
            case Closed(error=error):
                assert self.client is not None
                chat.show_status(self.client.status, self.client.queued)
                if isinstance(error, AuthError):
                    credentials.remove_token(self.url)
                    self.push_screen(
                        LoginScreen(self.url, self.nick, f"Your session ended: {error}")
                    )

    def _show_message(self, message: p.MessageRecord) -> None:
        chat = self.chat
        known = message.room in chat.rooms.rooms
        info = self.room_info(message.room)
        if not known and self.client is not None:
            self.run_worker(self.commands.join(message.room, switch=False), exit_on_error=False)
        chat.stopped_typing(message.room, message.nick)
        chat.history.add_messages(message.room, [message], live=True)
        if chat.thread.belongs(message):
            chat.thread.history.add_messages(message.room, [message], live=True)
        mine = p.nick_key(message.nick) == p.nick_key(self.nick)
        if mine:  # the server moved your read marker to your own message
            info.read_seq = max(info.read_seq, message.seq)
            return
        self.notifier.message(message)
        current = message.room == chat.history.room
        mentioned = mentions(message.body, message.nick, self.nick)
        if mentioned and self.ring:
            self.bell()
        if current:
            self._mark_read()
        else:
            info.unread += 1
            info.mentioned = info.mentioned or mentioned
            chat.rooms.refresh_rooms()

    def joined(self, result: JoinResult, *, live: bool) -> None:
        info = self.room_info(result.room)
        info.set_members(result.members, result.online, result.member_count)
        info.topic, info.private, info.roles = result.topic, result.private, dict(result.roles)
        self.room_admin.joined(result.room)
        history = self.chat.history
        timeline = history.timeline(result.room)
        timeline.read_seq = max(timeline.read_seq, info.read_seq)
        history.add_messages(result.room, result.messages, live=live)
        history.apply(result.room, result.changes)  # what changed while this client was away
        history.add_events(result.room, [notice_record(n) for n in result.notices])
        self.chat.rooms.refresh_rooms()
        timeline.floor, timeline.retention_s = result.floor, result.retention_s
        first = timeline.first_seq
        timeline.more_before = first is not None and first > result.floor
        if result.room == history.room:
            self.chat.show_room(info)

    def room_info(self, room: str, read_seq: int = 0) -> RoomInfo:
        rooms = self.chat.rooms
        if room not in rooms.rooms:
            rooms.rooms[room] = RoomInfo(room, read_seq=read_seq)
            self.chat.history.timeline(room).read_seq = read_seq
            rooms.refresh_rooms()
        return rooms.rooms[room]

    # --- rooms ---------------------------------------------------------------------------

    def switch_room(self, room: str) -> None:
        chat = self.chat
        if chat.thread.room not in (None, room):
            chat.close_thread()  # a thread belongs to its room
        self.message_actions.leave()  # so does a reply or an edit (its text stays typed)
        info = self.room_info(room)
        chat.history.timeline(room).read_seq = info.read_seq
        chat.history.show_room(room)
        chat.rooms.set_current(room)
        chat.show_room(info)
        self._mark_read()

    def _mark_read(self) -> None:
        """Move the read marker soon (one request per half second, however busy the room)."""
        if not self._read_due:
            self._read_due = True
            self.set_timer(0.5, self._send_read)

    def _send_read(self) -> None:
        """Move the read marker to the newest message when the user can see it."""
        self._read_due = False
        history = self.chat.history
        room = history.room
        if room is None or self.client is None or not history.at_bottom:
            return
        info = self.room_info(room)
        last = history.timeline(room).last_seq
        if last > info.read_seq:
            info.read_seq = last
            self._spawn(self.client.read(room, last))

    def action_room_offset(self, offset: int) -> None:
        names = self.chat.rooms.ordered()
        if names and self.chat.history.room in names:
            index = names.index(self.chat.history.room)
            self.switch_room(names[(index + offset) % len(names)])

    def action_room_number(self, number: int) -> None:
        names = self.chat.rooms.ordered()
        if 0 < number <= len(names):
            self.switch_room(names[number - 1])

    def on_option_list_option_selected(self, event: RoomList.OptionSelected) -> None:
        if isinstance(event.option_list, RoomList) and event.option.id:
            if event.option.id.startswith(INVITE_PREFIX):
                self.room_admin.answer(event.option.id.removeprefix(INVITE_PREFIX))
                return
            self.switch_room(event.option.id)
            self.chat.composer.focus()

    def on_history_view_load_older(self, event: HistoryView.LoadOlder) -> None:
        self.run_worker(self._load_older(event.room, event.before), exit_on_error=False)

    async def _load_older(self, room: str, before: int) -> None:
        assert self.client is not None
        try:
            page = await self.client.history(room, before=before, limit=OLDER_PAGE)
        except ClientError as exc:
            self.chat.history.timeline(room).loading = False
            self.notice(room, f"cannot load older messages: {exc}", "error")
            return
        self.chat.history.timeline(room).floor = page.floor  # where a page stops for good
        self.chat.history.prepend(room, page.messages, page.more)

    def on_history_view_need_quote(self, event: HistoryView.NeedQuote) -> None:
        waiting = self._quotes.setdefault(event.room, [])
        waiting.append(event.seq)
        if len(waiting) == 1:  # else the room's fetcher is at work and takes it in turn
            self.run_worker(self._fetch_quotes(event.room, waiting), exit_on_error=False)

    async def _fetch_quotes(self, room: str, waiting: list[int]) -> None:
        """The messages replies quote, each with a few around it (often quoted too): one
        request at a time per room, none for a target an earlier page brought, so a backlog
        of replies to old messages is not a burst of requests."""
        try:
            while waiting and self.client is not None:
                seq = waiting[0]
                timeline = self.chat.history.timeline(room)
                if timeline.quoted(seq) is None:
                    try:
                        page = await self.client.history(room, around=seq, limit=QUOTE_PAGE)
                    except ClientError:
                        timeline.quotes_asked.discard(seq)  # asked again when drawn again
                    else:
                        self.chat.history.take_quotes(room, page.messages)
                        if self.chat.thread.room == room:
                            self.chat.thread.history.take_quotes(room, page.messages)
                waiting.pop(0)
        finally:  # stopped (logged out, an error): asked again when drawn again
            history = self.chat.history.timeline(room)
            history.quotes_asked.difference_update(waiting)
            waiting.clear()

    def message(self, room: str, seq: int) -> p.MessageRecord | None:
        """Message ``seq`` of ``room`` as shown in the room or in the open thread."""
        found = self.chat.history.timeline(room).message(seq)
        if found is None and self.chat.thread.room == room:
            found = self.chat.thread.history.timeline(room).message(seq)
        return found

    def open_thread(self, room: str, seq: int) -> None:
        """``t``: the thread the message ``seq`` starts or belongs to, in the thread pane."""
        message = self.message(room, seq)
        root = message.thread if message is not None and message.thread is not None else seq
        self.chat.open_thread(room, root)
        self.run_worker(self._load_thread(room, root), exit_on_error=False)

    async def _load_thread(self, room: str, root: int) -> None:
        assert self.client is not None
        after: int | None = None
        for _ in range(THREAD_PAGES):
            try:
                page = await self.client.history(
                    room, thread=root, after=after, limit=p.HISTORY_MAX
                )
            except ClientError as exc:
                self.notice(room, f"cannot open the thread: {exc}", "error")
                if self.chat.thread.root == root:  # not another one opened meanwhile
                    self.chat.close_thread()
                return
            if self.chat.thread.root != root:
                return  # closed, or another thread opened meanwhile
            self.chat.thread.fill(page.messages)
            if not page.more or not page.messages:
                return
            after = page.messages[-1].seq

    def on_history_view_act(self, event: HistoryView.Act) -> None:
        actions = self.message_actions
        handlers = {
            "reply": actions.reply,
            "edit": actions.edit,
            "delete": actions.delete,
            "react": actions.react,
            "thread": self.open_thread,
        }
        handler = handlers.get(event.action)
        if handler is not None:
            event.control.select(None)
            if event.action != "thread":
                self.chat.composer.focus()  # typing goes on there, whatever the answer
            handler(event.room, event.seq)

    def on_history_view_reached_bottom(self, event: HistoryView.ReachedBottom) -> None:
        self._mark_read()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for room in self.chat.rooms.ordered():
            if not p.is_valid_room(room):  # the palette reads titles as markup
                continue
            label = room_label(room, self.nick)
            yield SystemCommand(f"Switch to {label}", f"Show {label}", self._switcher(room))

    def _switcher(self, room: str) -> Callable[[], None]:
        return lambda: self.switch_room(room)

    # --- the composer --------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        room = self.chat.history.room
        if not isinstance(event.input, Composer) or room is None or self.client is None:
            return
        if not event.value or event.value.startswith("/"):
            return
        now = time.monotonic()
        if now - self._typing_sent.get(room, -TYPING_EVERY) >= TYPING_EVERY:
            self._typing_sent[room] = now
            self._spawn(self.client.typing(room))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not isinstance(event.input, Composer):
            return
        line = event.value
        if line.strip():
            event.input.remember(line)
        room = self.chat.history.room
        try:
            command = cmd.parse(line)
        except cmd.CommandError as exc:
            self.notice(room, str(exc), "error")
            return
        if command is None:
            return
        if isinstance(command, cmd.Say | cmd.Me) and self.message_actions.mode is not None:
            body = f"/me {command.action}" if isinstance(command, cmd.Me) else command.body
            self.message_actions.submit(body)
            return
        self.commands.execute(command)

    def action_escape(self) -> None:
        """Escape: leave a reply or an edit (the composer as it was before), else close
        the thread pane; then type."""
        if not self.message_actions.cancel() and self.chat.thread.root is not None:
            self.chat.close_thread()
        self.chat.composer.focus()

    def edit_last(self) -> bool:
        """``up`` in an empty composer: edit your last message here (False: you have none)."""
        room = self.chat.history.room
        return room is not None and self.message_actions.edit_last(room)

    def show_queue(self) -> None:
        """The client only reports queue changes while offline; show every change."""
        if self.client is not None:
            self.chat.show_status(self.client.status, self.client.queued)

    # --- helpers -------------------------------------------------------------------------

    def notice(self, room: str | None, text: str, level: str = "info") -> None:
        """An inline line in ``room`` (the current room when None)."""
        target = room or self.chat.history.room
        if target is None:
            self.notify(text, severity="error" if level == "error" else "information", markup=False)
            return
        self.chat.history.add_notice(target, text, level)

    def _spawn(self, awaitable: Awaitable[None]) -> None:
        async def quietly() -> None:
            with contextlib.suppress(ClientError):
                await awaitable

        self.run_worker(quietly(), exit_on_error=False)

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()

    async def action_quit(self) -> None:
        if self.client is not None:
            await self.client.close()
        self.exit(0)


def create_app(
    url: str = "ws://127.0.0.1:8765/ws",
    *,
    nick: str | None = None,
    rooms: list[str] | None = None,
    token: str | None = None,
    password: str | None = None,
    bell: bool = True,
    invite: str | None = None,
    notify: NotifySettings | None = None,
) -> ChatApp:
    """The app for ``url``, its credentials resolved as ``chat-tui connect`` does.

    The token is the explicit one (or ``CHAT_TOKEN``), else the one stored for ``url``;
    without one, ``nick`` and ``password`` (or ``CHAT_PASSWORD``) log in; without those the
    app asks on its login screen.
    """
    token, nick = resolve_token(url, nick, token)
    if token is None:
        password = password or os.environ.get("CHAT_PASSWORD") or None
    return ChatApp(
        url,
        nick=nick,
        rooms=rooms,
        token=token,
        password=password,
        bell=bell,
        invite=invite,
        notify=notify,
    )


def resolve_token(url: str, nick: str | None, token: str | None) -> tuple[str | None, str | None]:
    """(token, nick): the explicit token or CHAT_TOKEN, else the one ``chat-tui login`` stored."""
    token = token or os.environ.get("CHAT_TOKEN") or None
    if token is not None:
        return token, nick
    stored = credentials.load(url)
    if stored is not None and (nick is None or p.nick_key(nick) == p.nick_key(stored[0])):
        return stored[1], stored[0] or nick
    return None, nick or (stored[0] if stored else None)


def run(
    url: str,
    *,
    nick: str | None,
    rooms: list[str],
    token: str | None,
    password: str | None,
    bell: bool,
    invite: str | None = None,
    notify: NotifySettings | None = None,
) -> int:
    """Run ``chat-tui connect``: the full-screen chat; returns the exit code."""
    app = create_app(
        url,
        nick=nick,
        rooms=rooms,
        token=token,
        password=password,
        bell=bell,
        invite=invite,
        notify=notify,
    )
    code = app.run()
    if app.error_message:
        print(f"chat-tui: {app.error_message}", file=sys.stderr)
    return code or 0
