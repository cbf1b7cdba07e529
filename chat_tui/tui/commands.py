"""Parse what the user typed in the composer into a message to send or a slash command.

Pure: no Textual, no client. The screen acts on the returned value; a line that cannot be
parsed gives :class:`CommandError` with the sentence to show inline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from chat_server.protocol import is_valid_nick, is_valid_room

HELP: Final = (
    ("/join #room", "join a room (creates it) and switch to it"),
    ("/leave [#room]", "leave the current room (or the one named)"),
    ("/msg nick text", "send a direct message and open the conversation"),
    ("/me action", "say what you are doing: * alice waves"),
    ("/who", "list the room's members, online first"),
    ("/search words", "search your rooms; Enter on a result jumps to it"),
    ("/block nick", "refuse nick's direct messages, hide when you are online"),
    ("/unblock nick", "undo /block"),
    ("/blocks", "list whom you blocked"),
    ("/help", "this list"),
    ("/quit", "leave the chat (also ctrl+q)"),
    ("//text", "send a line that starts with /"),
)


@dataclass(frozen=True)
class Say:
    """A line to send to the current room as it is."""

    body: str


@dataclass(frozen=True)
class Me:
    action: str


@dataclass(frozen=True)
class JoinRoom:
    room: str


@dataclass(frozen=True)
class LeaveRoom:
    room: str | None


@dataclass(frozen=True)
class DirectMessage:
    nick: str
    body: str


@dataclass(frozen=True)
class Who:
    pass


@dataclass(frozen=True)
class SearchFor:
    query: str


@dataclass(frozen=True)
class Block:
    nick: str


@dataclass(frozen=True)
class Unblock:
    nick: str


@dataclass(frozen=True)
class ShowBlocks:
    pass


@dataclass(frozen=True)
class ShowHelp:
    pass


@dataclass(frozen=True)
class Quit:
    pass


Command = (
    Say
    | Me
    | JoinRoom
    | LeaveRoom
    | DirectMessage
    | Who
    | SearchFor
    | Block
    | Unblock
    | ShowBlocks
    | ShowHelp
    | Quit
)


class CommandError(ValueError):
    """A line that is not a valid command; ``str(error)`` is shown to the user."""


def _room_arg(arg: str, usage: str) -> str:
    room = arg.removeprefix("#")
    if not room:
        raise CommandError(f"usage: {usage}")
    if not is_valid_room(room):
        raise CommandError(f"{arg!r} is not a room name: 1-64 of a-z, 0-9, _ and -")
    return room


def _nick_arg(arg: str, usage: str) -> str:
    nick = arg.removeprefix("@")
    if not nick or " " in nick:
        raise CommandError(f"usage: {usage}")
    if not is_valid_nick(nick):
        raise CommandError(f"{nick!r} is not a nick: 1-32 of A-Z, a-z, 0-9, _ and -")
    return nick


def parse(line: str) -> Command | None:
    """The command in ``line``, or None for a blank line; raises CommandError."""
    if not line.strip():
        return None
    if not line.startswith("/"):
        return Say(line)
    if line.startswith("//"):
        return Say(line[1:])
    name, _, rest = line[1:].partition(" ")
    name = name.lower()
    arg = rest.strip()
    match name:
        case "join" | "j":
            return JoinRoom(_room_arg(arg.split(" ")[0], "/join #room"))
        case "leave" | "part":
            return LeaveRoom(_room_arg(arg, "/leave [#room]") if arg else None)
        case "msg" | "query":
            nick, _, body = arg.partition(" ")
            nick = nick.removeprefix("@")
            if not nick or not body.strip():
                raise CommandError("usage: /msg nick text")
            if not is_valid_nick(nick):
                raise CommandError(f"{nick!r} is not a nick: 1-32 of A-Z, a-z, 0-9, _ and -")
            return DirectMessage(nick, body.lstrip(" "))
        case "me":
            if not arg:
                raise CommandError("usage: /me action")
            return Me(rest.lstrip(" "))
        case "who" | "names":
            return Who()
        case "search" | "s":
            if not arg:
                raise CommandError("usage: /search words")
            return SearchFor(arg)
        case "block":
            return Block(_nick_arg(arg, "/block nick"))
        case "unblock":
            return Unblock(_nick_arg(arg, "/unblock nick"))
        case "blocks" | "blocked":
            return ShowBlocks()
        case "help" | "h" | "?":
            return ShowHelp()
        case "quit" | "exit" | "q":
            return Quit()
    shown = name if len(name) <= 20 else name[:20] + "…"
    raise CommandError(f"unknown command /{shown}: /help lists the commands (// sends a /)")
