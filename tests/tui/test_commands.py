"""Slash-command parsing (pure)."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from chat_tui.tui import commands as cmd


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("hello", cmd.Say("hello")),
        ("  spaced  ", cmd.Say("  spaced  ")),
        ("//etc/passwd is a path", cmd.Say("/etc/passwd is a path")),
        ("/join #random", cmd.JoinRoom("random")),
        ("/join random", cmd.JoinRoom("random")),
        ("/JOIN #dev", cmd.JoinRoom("dev")),
        ("/leave", cmd.LeaveRoom(None)),
        ("/leave #dev", cmd.LeaveRoom("dev")),
        ("/msg bob hi there", cmd.DirectMessage("bob", "hi there")),
        ("/msg @bob hi", cmd.DirectMessage("bob", "hi")),
        ("/me waves", cmd.Me("waves")),
        ("/reply ^1 sounds good", cmd.Reply(cmd.Ref(1, None), "sounds good")),
        ("/reply ^ yes", cmd.Reply(cmd.Ref(1, None), "yes")),
        ("/reply ^12 ok", cmd.Reply(cmd.Ref(12, None), "ok")),
        ("/reply #42 see  above ", cmd.Reply(cmd.Ref(None, 42), "see  above ")),
        ("/REPLY   ^2   spaced", cmd.Reply(cmd.Ref(2, None), "spaced")),
        ("/reply ^1 /not a command", cmd.Reply(cmd.Ref(1, None), "/not a command")),
        ("/edit ^1 fixed the typo", cmd.EditMessage(cmd.Ref(1, None), "fixed the typo")),
        ("/edit #7 new text", cmd.EditMessage(cmd.Ref(None, 7), "new text")),
        ("/edit ^1", cmd.EditMessage(cmd.Ref(1, None), None)),
        ("/edit ^", cmd.EditMessage(cmd.Ref(1, None), None)),
        ("/edit #7   ", cmd.EditMessage(cmd.Ref(None, 7), None)),
        ("/delete ^1", cmd.DeleteMessage(cmd.Ref(1, None))),
        ("/delete #1234", cmd.DeleteMessage(cmd.Ref(None, 1234))),
        ("/del ^3", cmd.DeleteMessage(cmd.Ref(3, None))),
        ("/del ^ ", cmd.DeleteMessage(cmd.Ref(1, None))),
        ("/react ^1 👍", cmd.React(cmd.Ref(1, None), "👍")),
        ("/react #9 ❤️", cmd.React(cmd.Ref(None, 9), "❤️")),
        ("/react ^2 :tada:", cmd.React(cmd.Ref(2, None), "🎉")),
        ("/react ^ :+1:", cmd.React(cmd.Ref(1, None), "👍")),
        ("/react ^1 :EYES: ", cmd.React(cmd.Ref(1, None), "👀")),
        ("/unreact ^1 👍", cmd.React(cmd.Ref(1, None), "👍", remove=True)),
        ("/unreact #9 :heart:", cmd.React(cmd.Ref(None, 9), "❤️", remove=True)),
        ("/who", cmd.Who()),
        ("/members", cmd.MoreMembers()),
        ("/search deploy friday", cmd.SearchFor("deploy friday")),
        ("/block mallory", cmd.Block("mallory")),
        ("/block @Mallory ", cmd.Block("Mallory")),
        ("/unblock mallory", cmd.Unblock("mallory")),
        ("/blocks", cmd.ShowBlocks()),
        ("/help", cmd.ShowHelp()),
        ("/quit", cmd.Quit()),
        ("/create #ops", cmd.CreateRoom("ops", False, None)),
        ("/create ops --private", cmd.CreateRoom("ops", True, None)),
        (
            "/create #ops -p deploys  and incidents",
            cmd.CreateRoom("ops", True, "deploys and incidents"),
        ),
        ("/create --private #hiring who we hire", cmd.CreateRoom("hiring", True, "who we hire")),
        ("/create #x use -p and --private", cmd.CreateRoom("x", False, "use -p and --private")),
        ("/invite bob", cmd.InviteNick("bob")),
        ("/invite @bob", cmd.InviteNick("bob")),
        ("/kick bob", cmd.Remove("bob", None, ban=False)),
        ("/kick bob  spam,   again ", cmd.Remove("bob", "spam, again", ban=False)),
        ("/ban mallory [red]x[/red]", cmd.Remove("mallory", "[red]x[/red]", ban=True)),
        ("/unban mallory", cmd.Unban("mallory")),
        ("/op bob", cmd.SetRole("bob", "op")),
        ("/deop bob", cmd.SetRole("bob", "member")),
        ("/owner bob", cmd.SetRole("bob", "owner")),
        ("/topic", cmd.SetTopic(None)),
        ("/topic  deploys at 11 ", cmd.SetTopic("deploys at 11")),
        ("/topic -delete", cmd.SetTopic("")),
    ],
)
def test_parse(line: str, command: cmd.Command) -> None:
    assert cmd.parse(line) == command


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/frobnicate", "unknown command /frobnicate"),
        ("/join", "usage: /join #room"),
        ("/join #General", "not a room name"),
        ("/msg bob", "usage: /msg nick text"),
        ("/msg b@d hi", "not a nick"),
        ("/me", "usage: /me action"),
        ("/search   ", "usage: /search words"),
        ("/block", "usage: /block nick"),
        ("/block two nicks", "usage: /block nick"),
        ("/unblock", "usage: /unblock nick"),
        ("/block b@d", "not a nick"),
        ("/reply", r"usage: /reply \^N\|#seq text"),
        ("/reply ^1", r"usage: /reply \^N\|#seq text"),
        ("/reply ^1    ", r"usage: /reply \^N\|#seq text"),
        ("/reply hello there", r"usage: /reply \^N\|#seq text"),
        ("/reply ^0 hi", r"'\^0' is not a message: \^1 is the newest"),
        ("/reply ^abc hi", r"'\^abc' is not a message"),
        ("/reply ^-1 hi", r"'\^-1' is not a message"),
        ("/reply #x hi", "'#x' is not a message"),
        ("/reply # hi", "'#' is not a message"),
        ("/reply #0 hi", "'#0' is not a message"),
        ("/reply ^1x hi", r"'\^1x' is not a message"),
        ("/reply ^²", r"'\^²' is not a message"),
        ("/edit", r"usage: /edit \^N\|#seq \[text\]"),
        ("/edit 3 text", r"usage: /edit \^N\|#seq \[text\]"),
        ("/edit ^0", r"'\^0' is not a message"),
        ("/delete", r"usage: /delete \^N\|#seq"),
        ("/del", r"usage: /delete \^N\|#seq"),
        ("/delete ^1 ^2", r"usage: /delete \^N\|#seq"),
        ("/delete #x", "'#x' is not a message"),
        ("/react", r"usage: /react \^N\|#seq emoji"),
        ("/react ^1", r"usage: /react \^N\|#seq emoji"),
        ("/react 👍", r"usage: /react \^N\|#seq emoji"),
        ("/unreact ^1", r"usage: /unreact \^N\|#seq emoji"),
        ("/react ^0 👍", r"'\^0' is not a message"),
        ("/react ^1 :nope:", "unknown emoji :nope: .*reaction picker"),
        ("/unreact ^1 :nope:", "unknown emoji :nope: .*reaction picker"),
        ("/react ^1 👍 👎", "is not an emoji: 1-32 characters without spaces"),
        ("/react ^1 " + "x" * 33, "is not an emoji: 1-32 characters"),
        ("/create", r"usage: /create #room \[--private\] \[topic\]"),
        ("/create --private", r"usage: /create #room"),
        ("/create #Ops", "not a room name"),
        ("/create #ops " + "t" * 201, "a topic is at most 200 characters"),
        ("/invite", "usage: /invite nick"),
        ("/invite bob carol", "usage: /invite nick"),
        ("/kick", r"usage: /kick nick \[reason\]"),
        ("/ban b@d spam", "not a nick"),
        ("/kick bob " + "r" * 501, "a reason is at most 500 characters"),
        ("/unban", "usage: /unban nick"),
        ("/op", "usage: /op nick"),
        ("/deop", "usage: /deop nick"),
        ("/owner", "usage: /owner nick"),
        ("/topic " + "t" * 201, "a topic is at most 200 characters"),
    ],
)
def test_errors(line: str, message: str) -> None:
    with pytest.raises(cmd.CommandError, match=message):
        cmd.parse(line)


def test_a_ref_names_exactly_one_message() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        cmd.Ref(None, None)
    with pytest.raises(ValueError, match="exactly one"):
        cmd.Ref(1, 2)


def test_help_reads_at_80_columns() -> None:
    """/help shows ``usage`` padded to 15 cells then the meaning: every line fits."""
    for usage, meaning in cmd.HELP:
        assert cell_len(f"{usage:<15} {meaning}") <= 78, usage
    shown = {usage.split()[0] for usage, _ in cmd.HELP}
    assert {"/reply", "/edit", "/delete", "/react"} <= shown


def test_blank_lines_are_nothing() -> None:
    assert cmd.parse("") is None
    assert cmd.parse("   ") is None
