"""The private part of Textual the TUI relies on is still there; without it, the TUI carries on."""

from __future__ import annotations

import logging
from types import MappingProxyType, ModuleType

import pytest
from textual._xterm_parser import XTermParser
from textual.app import App

import chat_tui.tui.app  # noqa: F401 - applies the change at start-up, as the CLI does
from chat_tui.tui import textual_internals as ti


@pytest.mark.private_api
def test_the_capability_check_passes_on_the_installed_textual() -> None:
    assert isinstance(ti.check(), dict)
    assert ti.alt_digits_are_keys()  # and applying it again changes nothing


@pytest.mark.private_api
def test_alt_digits_reach_the_app_as_keys() -> None:
    parser = XTermParser()
    events = [*parser.feed("\x1b1"), *parser.feed("")]  # "" flushes what is pending
    assert [getattr(event, "key", None) for event in events] == ["alt+1"]


def fake_textual(**attributes: object) -> ModuleType:
    module = ModuleType("textual._ansi_sequences")
    vars(module).update(attributes)
    return module


@pytest.mark.parametrize(
    ("module", "why"),
    [
        ("textual._no_such_module", "cannot import"),
        (fake_textual(), "is not a dict: NoneType"),
        (fake_textual(ANSI_SEQUENCES_KEYS=MappingProxyType({"\x1b1": "¡"})), "is not a dict"),
        (fake_textual(ANSI_SEQUENCES_KEYS={"\x1b1": ("alt+1",)}), "is not a character"),
    ],
)
def test_a_textual_without_the_table_as_expected_is_left_alone(
    module: str | ModuleType, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    table = getattr(module, "ANSI_SEQUENCES_KEYS", None)
    before = dict(table) if table is not None else None
    with pytest.raises(LookupError, match=why):
        ti.check(module)
    with caplog.at_level(logging.DEBUG, logger=ti.__name__):
        assert ti.alt_digits_are_keys(module) is False  # no exception: the TUI carries on
    assert why in caplog.text
    assert (dict(table) if table is not None else None) == before  # nothing changed


def test_the_change_takes_out_the_alt_digits_only() -> None:
    table: dict[str, object] = {"\x1b1": "¡", "\x1b9": "ª", "\x1b0": "º", "\r": "enter"}
    assert ti.alt_digits_are_keys(fake_textual(ANSI_SEQUENCES_KEYS=table))
    assert table == {"\x1b0": "º", "\r": "enter"}


@pytest.mark.private_api
async def test_a_running_app_has_the_driver_a_notification_is_written_to() -> None:
    app: App[None] = App()
    async with app.run_test():
        assert ti.write_to_terminal(app, "\x1b]777;notify;title;body\x1b\\")


def test_without_a_driver_nothing_is_written_and_the_app_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger=ti.__name__):
        assert ti.write_to_terminal(App(), "\x1b]9;body\x1b\\") is False  # not running
    assert "App._driver.write is not there" in caplog.text
