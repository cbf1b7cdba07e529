"""Every ``serve`` option is documented where an operator looks: its own environment variable,
and a row of the README's configuration table naming both."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from chat_server.cli import serve

README = Path(__file__).resolve().parents[2] / "README.md"
OPTIONS = [param for param in serve.params if isinstance(param, click.Option)]


@pytest.mark.parametrize("option", OPTIONS, ids=[option.opts[0] for option in OPTIONS])
def test_a_serve_option_has_an_env_var_and_a_readme_row(option: click.Option) -> None:
    assert isinstance(option.envvar, str) and option.envvar.startswith("CHAT_SERVER_")
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `--")]
    flag = f"`{option.opts[0]}`"
    row = next((line for line in rows if flag in line.split("|")[1]), None)
    assert row is not None, f"no README row for {option.opts[0]}"
    assert f"`{option.envvar}`" in row
