"""Textual's private internals, in one place: let alt+1..9 reach the app as keys, and write
an escape sequence of our own (a desktop notification) to the terminal.

xterm-like terminals (and tmux) send ESC followed by the digit for alt+1..9, which switch rooms
(as in IRC clients). Textual's private table of escape sequences maps those to the characters
a macOS keyboard types with Option (¡ ™ £ ...), so the bindings would never fire; without the
entries its parser reads ESC as alt. Textual has no public API for this.

:func:`check` is the capability check: the table is where, and of the shape, it was when this
was written. When it is not, :func:`alt_digits_are_keys` does nothing but log why at debug
level (alt+up and alt+down still switch rooms), and tests/tui/test_textual_internals.py fails,
so a Textual release that moves the table is noticed before users are.

Textual has no public API to write to the terminal either (its own ``App.bell`` writes to
the private ``App._driver``): :func:`write_to_terminal` does the same when the driver is
there with a ``write`` method, and otherwise writes nothing (the notification is lost, the
app is fine).
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

from textual.app import App

log = logging.getLogger(__name__)

TABLE_MODULE = "textual._ansi_sequences"
TABLE_NAME = "ANSI_SEQUENCES_KEYS"
ALT_DIGITS = tuple(f"\x1b{digit}" for digit in "123456789")


def check(module: str | ModuleType = TABLE_MODULE) -> dict[str, object]:
    """Textual's table of escape sequences, or LookupError saying what is not as expected.

    Expected: a ``dict`` (mutable, whatever its annotation says) in which ESC followed by a
    digit, where present, maps to the one character Option types on a Mac.
    """
    if isinstance(module, str):
        try:
            module = importlib.import_module(module)
        except ImportError as exc:
            raise LookupError(f"cannot import {module}: {exc}") from None
    table = getattr(module, TABLE_NAME, None)
    if not isinstance(table, dict):
        raise LookupError(f"{module.__name__}.{TABLE_NAME} is not a dict: {type(table).__name__}")
    for sequence in ALT_DIGITS:
        if sequence in table and not isinstance(table[sequence], str):
            raise LookupError(f"{TABLE_NAME}[{sequence!r}] is not a character: {table[sequence]!r}")
    return table


def alt_digits_are_keys(module: str | ModuleType = TABLE_MODULE) -> bool:
    """Take ESC+1..9 out of Textual's table; False (changing nothing) when the check fails."""
    try:
        table = check(module)
    except LookupError as exc:
        log.debug("alt+1..9 are left as Textual reads them: %s", exc)
        return False
    for sequence in ALT_DIGITS:
        table.pop(sequence, None)
    return True


def write_to_terminal(app: App[Any], data: str) -> bool:
    """Write ``data`` (already safe: no untrusted escape in it) to ``app``'s terminal as is;
    False when Textual's driver is not there (not running, or a release that moved it)."""
    write = getattr(getattr(app, "_driver", None), "write", None)
    if not callable(write):
        log.debug("no terminal to write to: Textual's App._driver.write is not there")
        return False
    write(data)
    return True
