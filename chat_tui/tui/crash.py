"""What the user sees when the TUI fails in a way nobody planned for: one line, never a traceback.

Textual's default prints a full-screen traceback with every frame's local variables when an
app dies, and those hold passwords, tokens and message bodies. The app instead writes the
traceback, without locals, to ``crash.log`` in the user's log dir (``platformdirs``; on Linux
``$XDG_STATE_HOME/chat-tui/log``), readable by the user only, and prints one line naming it.
"""

from __future__ import annotations

import datetime
import os
import traceback
from pathlib import Path

FILE_NAME = "crash.log"


def log_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_log_dir("chat-tui", appauthor=False)) / FILE_NAME


def report(error: BaseException) -> str:
    """Append ``error``'s traceback (no locals) to the crash log; the one line for the user."""
    path = log_path()
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    text = "".join(traceback.format_exception(error))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(f"--- {stamp}\n{text}")
    except OSError:
        return f"internal error ({type(error).__name__}); the crash log {path} cannot be written"
    return f"internal error ({type(error).__name__}); details in {path}"
