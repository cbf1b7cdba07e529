"""chat-server: a lightweight asyncio websocket chat server."""

__version__ = "0.1.0"
