"""The ``chat-tui`` command (the client commands arrive with the client library)."""

from __future__ import annotations

import click

from chat_tui import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chat-tui")
def main() -> None:
    """Terminal client for chat-server."""
