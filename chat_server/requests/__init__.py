"""Request handlers, one module per family; importing this package fills the table."""

from chat_server.requests import (
    account,
    blocking,
    changes,
    markers,
    messages,
    moderation,
    rooms,
)
from chat_server.requests.registry import HANDLERS, Hangup, handles

__all__ = [
    "HANDLERS",
    "Hangup",
    "account",
    "blocking",
    "changes",
    "handles",
    "markers",
    "messages",
    "moderation",
    "rooms",
]
