"""What every command's ``--help`` says besides the options' own help: their variables."""

from __future__ import annotations

import click


def show_envvars(command: click.Command) -> None:
    """Have ``--help`` name each option's environment variable (click's ``show_envvar``), in
    ``command`` and every command under it; call it once the commands are all added."""
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar:
            param.show_envvar = True
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            show_envvars(sub)
