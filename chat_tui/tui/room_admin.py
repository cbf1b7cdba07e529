"""Rooms with owners (protocol 2) in the app: the room commands, and what notices,
invitations and kicks change on screen.

``/create``, ``/invite``, ``/kick``, ``/ban``, ``/unban``, ``/op``, ``/deop``, ``/owner`` and
``/topic`` each run in a worker; a refusal is an inline line in the room, as other command
errors are. Who may do what is the server's rule: the client asks it and shows the answer.
The room's log says what was done (a ``notice`` entry, drawn as a dim line), so a command
that succeeds adds nothing of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from chat_server import protocol as p
from chat_tui.client.errors import ClientError
from chat_tui.client.rooms import notice_record
from chat_tui.tui import commands as cmd
from chat_tui.tui.render import room_label
from chat_tui.tui.screens.invitation import Answer, InvitationScreen
from chat_tui.tui.widgets.rooms import RoomInfo

if TYPE_CHECKING:
    from chat_tui.tui.app import ChatApp

RoomCommand = cmd.CreateRoom | cmd.InviteNick | cmd.Remove | cmd.Unban | cmd.SetRole | cmd.SetTopic


def apply_notice(info: RoomInfo, notice: p.Notice) -> None:
    """What a notice changes in what the screen knows of its room: the topic, the roles
    (a new owner makes the old one an op), the members (a kick or a ban removes one)."""
    target = notice.target_nick
    if notice.event == "topic":
        info.topic = notice.topic or ""
        return
    if target is None:
        return
    key = p.nick_key(target)
    held = [nick for nick in info.roles if p.nick_key(nick) == key]
    if notice.event == "role":
        for nick in held:
            del info.roles[nick]
        if notice.role == "owner":
            for nick, role in info.roles.items():
                if role == "owner":
                    info.roles[nick] = "op"
        if notice.role in ("owner", "op"):
            info.roles[target] = notice.role
    elif notice.event in ("kick", "ban"):
        for nick in held:
            del info.roles[nick]
        info.departed(target, listed_only=True)


def removed_line(left: p.Left) -> str:
    """``removed by alice: spam``: why a room greyed out."""
    line = f"removed by {left.by}" if left.by else "removed"
    return f"{line}: {left.reason}" if left.reason else line


class RoomAdmin:
    """The room commands of one app, and its answers to notices, invitations and kicks."""

    def __init__(self, app: ChatApp) -> None:
        self.app = app

    # --- commands -----------------------------------------------------------------------

    def execute(self, command: RoomCommand) -> None:
        app = self.app
        room = app.chat.history.room
        client = app.client
        if client is None:
            app.notice(room, "not connected", "error")
            return
        if isinstance(command, cmd.CreateRoom):
            self._run(room, f"create #{command.room}", self._create(command))
            return
        if room is None:
            app.notice(room, "join a room first: /join #room", "error")
            return
        if p.dm_pair(room) is not None:
            app.notice(room, "a direct conversation has no owner, topic or invitations", "error")
            return
        match command:
            case cmd.SetTopic(topic=None):
                self._show_topic(room)
            case cmd.SetTopic(topic=str(topic)):
                self._run(room, "set the topic", client.set_topic(room, topic))
            case cmd.InviteNick(nick=nick):
                self._run(room, f"invite {nick}", client.invite(room, nick))
            case cmd.Remove(nick=nick, reason=reason, ban=True):
                self._run(room, f"ban {nick}", client.ban(room, nick, reason))
            case cmd.Remove(nick=nick, reason=reason):
                self._run(room, f"kick {nick}", client.kick(room, nick, reason))
            case cmd.Unban(nick=nick):
                self._run(room, f"unban {nick}", client.unban(room, nick))
            case cmd.SetRole(nick=nick, role=role):
                verb = {"op": "make {} an op", "member": "deop {}", "owner": "make {} the owner"}
                self._run(room, verb[role].format(nick), client.set_role(room, nick, role))

    async def _create(self, command: cmd.CreateRoom) -> None:
        assert self.app.client is not None
        await self.app.client.create(command.room, private=command.private, topic=command.topic)
        await self.app.commands.join(command.room, switch=True)

    def _show_topic(self, room: str) -> None:
        topic = self.app.room_info(room).topic
        label = room_label(room, self.app.nick)
        self.app.notice(room, f"topic of {label}: {topic}" if topic else f"{label} has no topic")

    def _run(self, room: str | None, what: str, job: Awaitable[object]) -> None:
        async def run() -> None:
            try:
                await job
            except ClientError as exc:
                self.app.notice(room, f"cannot {what}: {exc}", "error")
            self.app.show_queue()

        self.app.run_worker(run(), exit_on_error=False)

    # --- what the server tells ----------------------------------------------------------

    def on_notice(self, notice: p.Notice) -> None:
        """A live notice (or one a catch-up brought): a dim line, and what it changes."""
        app = self.app
        info = app.room_info(notice.room)
        apply_notice(info, notice)
        app.chat.history.add_events(notice.room, [notice_record(notice)])
        if notice.room == app.chat.history.room:
            app.chat.show_room(info)

    def on_removed(self, left: p.Left) -> None:
        """Kicked or banned: the room stays in the list, greyed, with the reason; no more
        of it arrives (a public room can be joined again). Left on another device: the
        room goes from the list."""
        app = self.app
        if left.by is None:
            if left.room in app.chat.rooms.rooms:
                app.commands.forget(left.room)
            return
        info = app.room_info(left.room)
        info.removed = removed_line(left)
        info.online.clear()
        again = "" if info.private else f"; /join #{left.room} to come back"
        app.notice(left.room, f"you were {info.removed}{again}", "error")
        app.chat.rooms.refresh_rooms()
        if left.room == app.chat.history.room:
            app.chat.show_room(info)

    def set_invites(self, invites: list[p.Invitation] | None) -> None:
        """The invitations the welcome lists (the server's word: it replaces ours; None: a
        server that does not say)."""
        if invites is None:
            return
        rooms = self.app.chat.rooms
        rooms.invites = {i.room: i for i in invites}
        rooms.refresh_rooms()

    def on_invite(self, invitation: p.InviteEvent) -> None:
        app = self.app
        rooms = app.chat.rooms
        held = p.Invitation(invitation.room, invitation.by, invitation.private)
        rooms.invites[invitation.room] = held
        rooms.refresh_rooms()
        if invitation.room not in rooms.rooms:
            name = f"#{invitation.room}"
            app.notice(
                None,
                f"{invitation.by} invited you to {name}: /join {name} accepts, /leave {name} "
                "declines (or Enter on it in the room list)",
            )

    def joined(self, room: str) -> None:
        """A room (re)joined: it is no longer an invitation, nor removed."""
        self.app.chat.rooms.invites.pop(room, None)
        self.app.room_info(room).removed = None

    def answer(self, room: str) -> None:
        """Enter on an invitation: ask whether to join it or decline it."""
        invitation = self.app.chat.rooms.invites.get(room)
        if invitation is None:
            return

        def answered(answer: Answer | None) -> None:
            if answer == "join":
                self.app.run_worker(self.app.commands.join(room, switch=True), exit_on_error=False)
            elif answer == "decline":
                self.app.run_worker(self._decline(room), exit_on_error=False)
            self.app.chat.composer.focus()

        self.app.push_screen(InvitationScreen(invitation), callback=answered)

    async def _decline(self, room: str) -> None:
        assert self.app.client is not None
        try:
            await self.app.client.leave(room)
        except ClientError as exc:
            self.app.notice(None, f"cannot decline #{room}: {exc}", "error")
            return
        self.app.chat.rooms.invites.pop(room, None)
        self.app.chat.rooms.refresh_rooms()
        self.app.notice(None, f"declined the invitation to #{room}")
