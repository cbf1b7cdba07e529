"""Fan-out between server nodes: the Broker protocol and its implementations."""

from chat_server.broker.base import Broker, Receiver
from chat_server.broker.local import LocalBroker

__all__ = ["Broker", "LocalBroker", "Receiver"]
