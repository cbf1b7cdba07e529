"""Where a connection comes from: the address every per-address limit is keyed by."""

from __future__ import annotations

from websockets.asyncio.server import ServerConnection


def client_address(ws: ServerConnection) -> str:
    """The client's IP address (the unit of per-address limits)."""
    address = ws.remote_address
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(address)


def peer(ws: ServerConnection) -> str:
    """The client's address as ``host:port``, for logs."""
    address = ws.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
