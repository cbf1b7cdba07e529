"""An unplanned failure in the TUI: one line for the user, the traceback (no locals) in a file.

Textual's own handler would print every frame's locals, passwords and tokens included. The
hooks the app overrides are Textual's private ones, so this is also the private-API check
(``-m private_api``) that a Textual release which renames them is noticed here first.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from chat_tui.tui import app as app_module
from chat_tui.tui import crash
from chat_tui.tui.app import ChatApp

SECRET = "hunter2-correct-horse"


class CrashingApp(ChatApp):
    """The real app with one bug planted: mounting it raises with a password in a local."""

    CSS_PATH = str(Path(app_module.__file__).with_name("chat.tcss"))  # not relative to tests/

    def on_mount(self) -> None:
        password = SECRET
        raise RuntimeError(f"planted bug ({len(password)} characters)")


@pytest.mark.private_api
async def test_a_crash_prints_one_line_and_logs_the_traceback_without_locals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    app = CrashingApp("ws://127.0.0.1:1/ws", nick="alice", password=SECRET)

    await app.run_async(headless=True, size=(80, 24))

    out, err = capfd.readouterr()
    assert app.return_code == 1
    assert "Traceback" not in out + err
    assert SECRET not in out + err
    log = crash.log_path()
    assert log.is_relative_to(tmp_path / "state")
    assert app.error_message == f"internal error (RuntimeError); details in {log}"
    logged = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in logged
    assert "RuntimeError: planted bug (21 characters)" in logged
    assert SECRET not in logged
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
