"""``python -m chat_tui``: the same as the ``chat-tui`` command."""

from chat_tui.cli import main

main()
