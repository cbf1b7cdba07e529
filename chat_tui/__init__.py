"""chat-tui: the terminal client and scripting commands for chat-server."""

__version__ = "0.1.0"
