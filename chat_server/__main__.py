"""Allow ``python -m chat_server``."""

from chat_server.cli import main

main()
