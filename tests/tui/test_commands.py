"""Slash-command parsing (pure)."""

from __future__ import annotations

import pytest

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
        ("/who", cmd.Who()),
        ("/search deploy friday", cmd.SearchFor("deploy friday")),
        ("/block mallory", cmd.Block("mallory")),
        ("/block @Mallory ", cmd.Block("Mallory")),
        ("/unblock mallory", cmd.Unblock("mallory")),
        ("/blocks", cmd.ShowBlocks()),
        ("/help", cmd.ShowHelp()),
        ("/quit", cmd.Quit()),
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
    ],
)
def test_errors(line: str, message: str) -> None:
    with pytest.raises(cmd.CommandError, match=message):
        cmd.parse(line)


def test_blank_lines_are_nothing() -> None:
    assert cmd.parse("") is None
    assert cmd.parse("   ") is None
