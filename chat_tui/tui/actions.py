"""Carry out what the user typed in the composer: messages, actions and slash commands.

Each network step runs in a worker of the app, so the screen never waits; failures become
inline notices in the room (or a "not sent" mark on the message), never a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat_server import protocol as p
from chat_tui.client.errors import ClientError, ServerError
from chat_tui.client.ids import new_id
from chat_tui.tui import commands as cmd
from chat_tui.tui.render import room_label
from chat_tui.tui.screens.search import SearchScreen

if TYPE_CHECKING:
    from chat_tui.tui.app import ChatApp

WHO_OFFLINE_MAX = 50  # /who names at most this many offline members (else counts them)
JUMP_PAGES = 40  # at most this many 500-message pages are fetched to reach a search hit
KEYS = (  # /help's second table
    ("alt+up/down", "previous / next room; alt+1..9: room N"),
    ("pageup/down", "scroll; ctrl+end: the newest message"),
    ("ctrl+up/down", "select a message (a click does too)"),
    ("r e d + t", "on it: reply, edit, delete, react, thread"),
    ("up", "in an empty line: edit your last message"),
    ("shift+up/down", "the lines you sent"),
    ("F2, ctrl+p", "members; the command palette"),
    ("esc, ctrl+q", "back to typing; quit"),
)


class Commands:
    """The app's answers to :mod:`chat_tui.tui.commands` values."""

    def __init__(self, app: ChatApp) -> None:
        self.app = app

    def execute(self, command: cmd.Command) -> None:
        """Do what a parsed composer line says."""
        room = self.app.chat.history.room
        match command:
            case cmd.Say(body=body) | cmd.Me(action=body):
                body = f"/me {body}" if isinstance(command, cmd.Me) else body
                removed = self.app.chat.rooms.rooms.get(room or "")
                if room is None:
                    self.app.notice(room, "join a room first: /join #room", "error")
                elif removed is not None and removed.removed is not None:
                    label = room_label(room, self.app.nick)
                    self.app.notice(room, f"you were {removed.removed}: /join {label}", "error")
                else:
                    self.send(room, body)
            case cmd.DirectMessage(nick=nick, body=body):
                if p.nick_key(nick) == p.nick_key(self.app.nick):
                    self.app.notice(room, "that is you: /msg needs someone else's nick", "error")
                    return
                dm = p.dm_room(self.app.nick, nick)
                self.app.room_info(dm)
                self.app.switch_room(dm)
                self.send(dm, body, to=nick)
            case cmd.JoinRoom(room=name):
                self.app.run_worker(self.join(name, switch=True), exit_on_error=False)
            case cmd.LeaveRoom(room=name):
                target = name or room
                if target is not None:
                    self.app.run_worker(self._leave(target), exit_on_error=False)
            case cmd.Reply() | cmd.EditMessage() | cmd.DeleteMessage() | cmd.React():
                self._on_message(room, command)
            case cmd.Who():
                if room is not None:
                    self._who(room)
            case cmd.MoreMembers():
                if room is not None:
                    self.app.run_worker(self.more_members(room), exit_on_error=False)
            case (
                cmd.CreateRoom()
                | cmd.InviteNick()
                | cmd.Remove()
                | cmd.Unban()
                | cmd.SetRole()
                | cmd.SetTopic()
            ):
                self.app.room_admin.execute(command)
            case cmd.SearchFor(query=query):
                self.app.run_worker(self._search(query), exit_on_error=False)
            case cmd.Block(nick=nick) | cmd.Unblock(nick=nick):
                if p.nick_key(nick) == p.nick_key(self.app.nick):
                    self.app.notice(room, "that is you: name someone else", "error")
                    return
                block = isinstance(command, cmd.Block)
                self.app.run_worker(self._block(room, nick, block=block), exit_on_error=False)
            case cmd.ShowBlocks():
                self._blocks(room)
            case cmd.ShowHelp():
                self._help(room)
            case cmd.Quit():
                self.app.exit(0)

    def _on_message(
        self,
        room: str | None,
        command: cmd.Reply | cmd.EditMessage | cmd.DeleteMessage | cmd.React,
    ) -> None:
        """``/reply``, ``/edit``, ``/delete``, ``/react``: find the message, then act."""
        if room is None:
            self.app.notice(room, "join a room first: /join #room", "error")
            return
        seq = self._resolve(room, command.ref)
        if seq is None:
            return
        actions = self.app.message_actions
        match command:
            case cmd.Reply(body=body):
                if actions.allowed("reply", room, seq) is not None:
                    self.send(room, body, reply_to=seq)
            case cmd.EditMessage(body=body):
                actions.edit(room, seq, body)
            case cmd.DeleteMessage():
                actions.delete(room, seq)
            case cmd.React(emoji=emoji, remove=remove):
                actions.react(room, seq, emoji, remove)

    def _resolve(self, room: str, ref: cmd.Ref) -> int | None:
        """The seq ``ref`` names in ``room``: ``^N`` among the loaded messages, ``#seq`` as
        given; None (and a notice) when ``^N`` goes past what is loaded."""
        if ref.seq is not None:
            return ref.seq
        newest = ref.newest or 1
        message = self.app.chat.history.timeline(room).newest(newest)
        if message is None:
            self.app.notice(room, f"there is no message ^{newest} here", "error")
            return None
        return message.seq

    def send(
        self, room: str, body: str, *, to: str | None = None, reply_to: int | None = None
    ) -> None:
        """Send ``body`` to ``room`` (to the person ``to``; answering ``reply_to``)."""
        msg_id = new_id()
        self.app.chat.history.add_pending(room, msg_id, body)
        job = self._deliver(room, body, to, msg_id, reply_to)
        self.app.run_worker(job, exit_on_error=False)
        self.app.call_later(self.app.show_queue)

    async def _deliver(
        self, room: str, body: str, to: str | None, msg_id: str, reply_to: int | None
    ) -> None:
        if self.app.client is None:
            self.app.chat.history.mark_failed(room, msg_id, "not connected")
            return
        try:
            if to is not None:
                await self.app.client.send(body, to=to, id=msg_id)
            else:
                await self.app.client.send(body, room=room, id=msg_id, reply_to=reply_to)
        except ClientError as exc:
            self.app.chat.history.mark_failed(room, msg_id, str(exc))
            self.app.show_queue()
            return
        self.app.chat.history.mark_sent(room, msg_id)
        self.app.show_queue()
        if to is not None and not self.app.room_info(room).members:  # a new conversation
            await self.join(room, switch=False)

    async def join(self, room: str, *, switch: bool) -> None:
        assert self.app.client is not None
        try:
            result = await self.app.client.join(room)
        except ClientError as exc:
            label = room_label(room, self.app.nick)
            self.app.notice(self.app.chat.history.room, f"cannot join {label}: {exc}", "error")
            return
        self.app.room_info(room)
        self.app.joined(result, live=False)
        if switch:
            self.app.switch_room(room)

    async def _leave(self, room: str) -> None:
        assert self.app.client is not None
        chat = self.app.chat
        info = chat.rooms.rooms.get(room)
        label = room_label(room, self.app.nick)
        if info is None and room not in chat.rooms.invites:  # said where you typed it
            self.app.notice(None, f"cannot leave {label}: you are not in it", "error")
            return
        try:
            if info is None or info.removed is None:  # removed: only the greyed entry goes
                await self.app.client.leave(room)
        except ClientError as exc:
            self.app.notice(None, f"cannot leave {label}: {exc}", "error")
            return
        self.forget(room)

    def forget(self, room: str) -> None:
        """Take a room off the screen (left here or elsewhere); another one is shown in
        its place."""
        chat = self.app.chat
        chat.rooms.rooms.pop(room, None)
        chat.rooms.invites.pop(room, None)  # a /leave of it declines an invitation
        chat.history.forget(room)
        remaining = chat.rooms.ordered()
        if chat.history.room is not None:  # another room was shown: it stays
            chat.rooms.refresh_rooms()
        elif remaining:
            self.app.switch_room(remaining[0])
        else:
            chat.rooms.refresh_rooms()
            chat.title_line.update("no room: /join #room")

    async def _block(self, room: str | None, nick: str, *, block: bool) -> None:
        assert self.app.client is not None
        client = self.app.client
        try:
            spelled = await (client.block(nick) if block else client.unblock(nick))
        except ClientError as exc:
            verb = "block" if block else "unblock"
            self.app.notice(room, f"cannot {verb} {nick}: {exc}", "error")
            return
        if block:
            text = f"blocked {spelled}: they cannot message you or see when you are online"
        else:
            text = f"unblocked {spelled}"
        self.app.notice(room, text)

    def _who(self, room: str) -> None:
        info = self.app.room_info(room)
        online = {n.lower() for n in info.online}
        here = sorted((m for m in info.members if m.lower() in online), key=str.lower)
        away = sorted((m for m in info.members if m.lower() not in online), key=str.lower)
        label = room_label(room, self.app.nick)
        count = info.count
        text = f"{label}: {count:,} member{'' if count == 1 else 's'}; online: "
        text += ", ".join(here) or "nobody"
        if len(away) > WHO_OFFLINE_MAX:  # a big room: the panel lists them
            text += f"; {len(away):,} offline"
        elif away:
            text += f"; offline: {', '.join(away)}"
        if info.unlisted:
            text += f"; {info.unlisted:,} more: /members lists them"
        self.app.notice(room, text)

    async def more_members(self, room: str) -> None:
        """The next page of a big room's members, into the panel."""
        info = self.app.room_info(room)
        if info.members_after is None:
            self.app.notice(room, f"all {info.count:,} members are listed")
            return
        assert self.app.client is not None
        try:
            page = await self.app.client.members(room, after=info.members_after)
        except ClientError as exc:
            self.app.notice(room, f"cannot list the members: {exc}", "error")
            return
        info.add_page(page)
        if room == self.app.chat.history.room:
            self.app.chat.show_room(info)

    def _blocks(self, room: str | None) -> None:
        assert self.app.client is not None
        blocked = self.app.client.blocked
        if blocked is None:
            text = "this server does not list your blocks: /unblock nick works all the same"
        elif not blocked:
            text = "you have blocked nobody"
        else:
            text = f"blocked ({len(blocked)}): {', '.join(blocked)}; /unblock nick undoes one"
        self.app.notice(room, text)

    def _help(self, room: str | None) -> None:
        lines = [f"{usage:<15}  {meaning}" for usage, meaning in (*cmd.HELP, *KEYS)]
        self.app.notice(room, "\n".join(lines))

    async def _search(self, query: str) -> None:
        assert self.app.client is not None
        try:
            results = await self.app.client.search(query)
        except ClientError as exc:
            # a refusal's own words ("the search took too long: add a word…"), not its code;
            # a rate limit's text says when to try again
            reason = exc.message if type(exc) is ServerError else str(exc)
            self.app.notice(self.app.chat.history.room, f"search failed: {reason}", "error")
            return
        screen = SearchScreen(query, results.messages, self.app.nick)
        self.app.push_screen(screen, callback=self._jump_callback)

    def _jump_callback(self, choice: tuple[str, int] | None) -> None:
        if choice is not None:
            self.app.run_worker(self.jump(*choice), exit_on_error=False)

    async def jump(self, room: str, seq: int) -> None:
        """Show message ``seq`` of ``room``, fetching older pages until it is loaded."""
        assert self.app.client is not None
        history = self.app.chat.history
        if room not in self.app.chat.rooms.rooms:
            await self.join(room, switch=False)
        self.app.switch_room(room)
        timeline = history.timeline(room)
        for _ in range(JUMP_PAGES):
            first = timeline.first_seq
            if first is None or first <= seq:
                break
            page = await self.app.client.history(room, before=first, limit=p.HISTORY_MAX)
            history.prepend(room, page.messages, page.more)
            if not page.messages:
                break
        history.scroll_to_seq(seq)
        self.app.chat.composer.focus()
