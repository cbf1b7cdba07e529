"""Parse what the user typed in the composer into a message to send or a slash command.

Pure: no Textual, no client. The screen acts on the returned value; a line that cannot be
parsed gives :class:`CommandError` with the sentence to show inline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from chat_server.protocol import MAX_EMOJI, MAX_REASON, is_valid_nick, is_valid_room
from chat_tui.tui import emoji as emoji_names

HELP: Final = (
    ("/join #room", "join a room (creates it) and switch to it"),
    ("/leave [#room]", "leave the current room (or the one named)"),
    ("/msg nick text", "send a direct message and open the conversation"),
    ("/me action", "say what you are doing: * alice waves"),
    ("/reply ^N text", "reply to a message: ^1 newest, ^2 next, #42 by seq"),
    ("/edit ^N [text]", "change your message (no text: edit it in the composer)"),
    ("/delete ^N", "erase your message's text for everyone"),
    ("/react ^N emoji", "react with 👍 or :name: (/unreact ^N emoji undoes)"),
    ("/who", "list the room's members, online first"),
    ("/members", "a big room: list the next 500 members in the panel"),
    ("/create #room", "a room you own; then --private (invitees only), a topic"),
    ("/invite nick", "invite nick to this room"),
    ("/topic [text]", "set the topic (owner, ops); alone: show it; -delete: clear it"),
    ("/kick nick", "remove nick from this room; a reason may follow"),
    ("/ban nick", "remove nick and keep them out; a reason may follow"),
    ("/unban nick", "let nick back in"),
    ("/op nick", "make nick an op (owner); /deop nick undoes"),
    ("/owner nick", "hand the room on to nick (you become an op)"),
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
class Ref:
    """The message a command is about: the ``newest``-th newest of the room (``^1`` is the
    last one) or the one numbered ``seq`` (``#42``). Exactly one of the two is set."""

    newest: int | None
    seq: int | None

    def __post_init__(self) -> None:
        if (self.newest is None) == (self.seq is None):
            raise ValueError("a Ref names a message by exactly one of newest and seq")


@dataclass(frozen=True)
class Reply:
    ref: Ref
    body: str


@dataclass(frozen=True)
class EditMessage:
    """A new text for one of your messages; ``body`` None puts its text in the composer."""

    ref: Ref
    body: str | None


@dataclass(frozen=True)
class DeleteMessage:
    ref: Ref


@dataclass(frozen=True)
class React:
    """Put ``emoji`` on a message, or take it back (``remove``)."""

    ref: Ref
    emoji: str
    remove: bool = False


@dataclass(frozen=True)
class Who:
    pass


@dataclass(frozen=True)
class MoreMembers:
    """Load the next page of a big room's members into the panel."""


@dataclass(frozen=True)
class CreateRoom:
    room: str
    private: bool
    topic: str | None


@dataclass(frozen=True)
class InviteNick:
    nick: str


@dataclass(frozen=True)
class Remove:
    """``/kick`` (``ban`` False) or ``/ban`` ``nick`` from the current room."""

    nick: str
    reason: str | None
    ban: bool


@dataclass(frozen=True)
class Unban:
    nick: str


@dataclass(frozen=True)
class SetRole:
    """``/op`` (``op``), ``/deop`` (``member``), ``/owner`` (``owner``)."""

    nick: str
    role: Literal["owner", "op", "member"]


@dataclass(frozen=True)
class SetTopic:
    """A new topic for the current room ("": none); None shows the current one."""

    topic: str | None


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
    | Reply
    | EditMessage
    | DeleteMessage
    | React
    | Who
    | MoreMembers
    | CreateRoom
    | InviteNick
    | Remove
    | Unban
    | SetRole
    | SetTopic
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


_REF: Final = re.compile(r"\^([0-9]*)|#([0-9]+)")


def _shown(arg: str) -> str:
    return arg if len(arg) <= 20 else arg[:20] + "…"


def _ref_arg(arg: str, usage: str) -> Ref:
    """``^N``, bare ``^`` (the newest) or ``#seq``: the message a command acts on."""
    if not arg or arg[0] not in "^#":
        raise CommandError(f"usage: {usage}")
    match = _REF.fullmatch(arg)
    if match is None or int(match[1] or match[2] or "1") == 0:
        raise CommandError(
            f"{_shown(arg)!r} is not a message: ^1 is the newest, ^2 the one before, #42 by seq"
        )
    if match[2] is not None:
        return Ref(None, int(match[2]))
    return Ref(int(match[1] or "1"), None)


def _emoji_arg(arg: str, usage: str) -> str:
    if not arg:
        raise CommandError(f"usage: {usage}")
    resolved = emoji_names.resolve(arg)
    if resolved is not None:
        return resolved
    name = emoji_names.shortcode(arg)
    if name is not None:
        raise CommandError(
            f"unknown emoji :{_shown(name)}: (the reaction picker lists some; or paste the emoji)"
        )
    raise CommandError(f"{_shown(arg)!r} is not an emoji: 1-{MAX_EMOJI} characters without spaces")


def _ref_and_text(rest: str, usage: str) -> tuple[Ref, str]:
    """The reference that starts ``rest`` and the text after it (kept as typed)."""
    token, _, text = rest.lstrip(" ").partition(" ")
    return _ref_arg(token, usage), text.lstrip(" ")


MAX_TOPIC: Final = 200  # DESIGN.md: a topic is 0-200 characters, one line
PRIVATE_FLAGS: Final = ("--private", "-p")
ROLE_COMMANDS: Final[dict[str, Literal["owner", "op", "member"]]] = {
    "op": "op",
    "deop": "member",
    "owner": "owner",
}


def _create(arg: str) -> CreateRoom:
    usage = "/create #room [--private] [topic]"
    words = arg.split(" ")
    flags = [index for index, word in enumerate(words[:2]) if word in PRIVATE_FLAGS]
    rest = [word for index, word in enumerate(words) if index not in flags]
    name, _, topic = " ".join(rest).partition(" ")
    if not name:
        raise CommandError(f"usage: {usage}")
    return CreateRoom(_room_arg(name, usage), bool(flags), _topic_arg(topic) or None)


def _topic_arg(topic: str) -> str:
    topic = " ".join(topic.split())
    if len(topic) > MAX_TOPIC:
        raise CommandError(f"a topic is at most {MAX_TOPIC} characters ({len(topic)} given)")
    return topic


def _nick_and_reason(arg: str, usage: str) -> tuple[str, str | None]:
    nick, _, reason = arg.partition(" ")
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON:
        raise CommandError(f"a reason is at most {MAX_REASON} characters")
    return _nick_arg(nick, usage), reason or None


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
        case "reply":
            ref, body = _ref_and_text(rest, "/reply ^N|#seq text")
            if not body.strip():
                raise CommandError("usage: /reply ^N|#seq text")
            return Reply(ref, body)
        case "edit":
            ref, body = _ref_and_text(rest, "/edit ^N|#seq [text]")
            return EditMessage(ref, body if body.strip() else None)
        case "delete" | "del":
            ref, extra = _ref_and_text(rest, "/delete ^N|#seq")
            if extra.strip():
                raise CommandError("usage: /delete ^N|#seq")
            return DeleteMessage(ref)
        case "react" | "unreact":
            usage = f"/{name} ^N|#seq emoji"
            ref, emoji = _ref_and_text(rest, usage)
            return React(ref, _emoji_arg(emoji.strip(), usage), remove=name == "unreact")
        case "who" | "names":
            return Who()
        case "members":
            return MoreMembers()
        case "create":
            return _create(arg)
        case "invite":
            return InviteNick(_nick_arg(arg, "/invite nick"))
        case "kick" | "ban":
            nick, reason = _nick_and_reason(arg, f"/{name} nick [reason]")
            return Remove(nick, reason, ban=name == "ban")
        case "unban":
            return Unban(_nick_arg(arg, "/unban nick"))
        case "op" | "deop" | "owner":
            return SetRole(_nick_arg(arg, f"/{name} nick"), ROLE_COMMANDS[name])
        case "topic":
            if arg.strip() == "-delete":  # irssi's and WeeChat's way to clear it
                return SetTopic("")
            return SetTopic(_topic_arg(arg) if arg else None)
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
    raise CommandError(f"unknown command /{_shown(name)}: /help lists the commands (// sends a /)")
