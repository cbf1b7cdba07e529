"""Fan-out between server nodes: the Broker protocol, its implementations, and the choice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat_server.broker.base import Broker, LoginHook, PresenceHook, Receiver, SignupHook
from chat_server.broker.local import LocalBroker

if TYPE_CHECKING:
    from chat_server.config import Settings

__all__ = [
    "Broker",
    "LocalBroker",
    "LoginHook",
    "PresenceHook",
    "Receiver",
    "SignupHook",
    "create_broker",
]


def create_broker(settings: Settings) -> Broker:
    """Redis pub/sub when the settings name a Redis URL, otherwise in-process fan-out."""
    if settings.redis_url is not None:
        # Imported here: redis is installed and loaded only for servers that use it.
        try:
            from chat_server.broker.redis import RedisBroker
        except ImportError as exc:
            driver = (exc.name or "redis").partition(".")[0]
            raise ValueError(f"Redis needs {driver}: pip install 'chat[scale]'") from exc

        return RedisBroker(
            settings.redis_url, prefix=settings.redis_prefix, presence_ttl=settings.presence_ttl
        )
    return LocalBroker()
