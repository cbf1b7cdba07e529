"""The client library: ChatClient and its parts, on asyncio and websockets alone (never Textual).

``ChatClient`` is imported on first use, not here: ``chat-tui send`` needs only ``errors``,
``ids`` and ``sequencing`` from this package and must not pay for importing asyncio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chat_tui.client.client import ChatClient

__all__ = ["ChatClient"]


def __getattr__(name: str) -> object:
    if name == "ChatClient":
        from chat_tui.client.client import ChatClient

        return ChatClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
