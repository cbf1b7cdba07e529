"""Where a connection comes from: the address every per-address limit is keyed by.

The address is the TCP peer's, unless that peer is a proxy named with ``--trusted-proxy``:
then it is the right-most address of ``X-Forwarded-For`` that is not itself a trusted proxy
(what the nearest untrusted hop told the first trusted one). Anyone can write an
``X-Forwarded-For`` header, so it is read only from a trusted peer, and only as far back as
the chain of trusted proxies goes: the addresses further left were written by the client.

An IPv6 client is counted by its /64 network, the block one household or office gets (and
one attacker gets too, 2**64 addresses of it); an IPv4 address in IPv6 clothing
(``::ffff:192.0.2.1``) is the IPv4 address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import ClassVar

from websockets.asyncio.server import ServerConnection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

IPV6_PREFIX = 64


def parse_ip(text: str) -> IPAddress | None:
    """The IP address ``text`` names (``[v6]`` brackets allowed), or None."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


class TrustedProxies:
    """The networks whose ``X-Forwarded-For`` is believed (``--trusted-proxy``)."""

    __slots__ = ("networks",)

    def __init__(self, cidrs: Iterable[str] = ()) -> None:
        """Raises ValueError for a string that is not an address or a CIDR network."""
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs
        )

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, ip: IPAddress | None) -> bool:
        return ip is not None and any(ip in network for network in self.networks)


NO_PROXIES = TrustedProxies()


def forwarded_client(
    peer: IPAddress, forwarded_for: Sequence[str], trusted: TrustedProxies
) -> IPAddress:
    """The client's IP address, from the TCP peer and the ``X-Forwarded-For`` values.

    Pure. A peer outside ``trusted`` is the client, whatever the header says. From a trusted
    peer, the header's addresses are read right to left (each proxy appends the address it
    got the request from) up to the first one that is not a trusted proxy. An entry that is
    not an address stops the walk at the last trusted hop: a proxy wrote nonsense, so nothing
    left of it can be placed, and the proxy itself is the best address known.
    """
    if not trusted.trusts(peer):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    client = peer
    for hop in reversed(hops):
        ip = parse_ip(hop)
        if ip is None:
            return client
        client = ip
        if not trusted.trusts(ip):
            return client
    return client  # every hop is a trusted proxy: the furthest one is the client


def limit_key(ip: IPAddress) -> str:
    """What a per-address limit counts: the IPv4 address, or the IPv6 address's /64."""
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


class ProxiedConnection(ServerConnection):
    """A server connection that knows which proxies' ``X-Forwarded-For`` to believe
    (the server's connection class sets :attr:`trusted_proxies`), and, once its handshake
    is shed (:func:`shed_handshake`), the client the request named."""

    trusted_proxies: ClassVar[TrustedProxies] = NO_PROXIES
    handshake_shed = False
    forwarded_ip: IPAddress | None = None  # once shed: the client a trusted proxy named


def _trusted(ws: ServerConnection) -> TrustedProxies:
    return ws.trusted_proxies if isinstance(ws, ProxiedConnection) else NO_PROXIES


def peer_ip(ws: ServerConnection) -> IPAddress | None:
    """The TCP peer's IP address (None for a Unix socket or a closed transport)."""
    address = ws.remote_address
    if isinstance(address, tuple) and address:
        return parse_ip(str(address[0]))
    return None


def behind_trusted_proxy(ws: ServerConnection) -> bool:
    """Whether the TCP peer is a trusted proxy: the client is known only from the request."""
    return _trusted(ws).trusts(peer_ip(ws))


def _forwarded(ws: ServerConnection) -> IPAddress | None:
    ip = peer_ip(ws)
    request = ws.request
    if ip is None or request is None:
        return ip
    if isinstance(ws, ProxiedConnection) and ws.handshake_shed:
        return ws.forwarded_ip or ip
    return forwarded_client(ip, request.headers.get_all("X-Forwarded-For"), _trusted(ws))


def shed_handshake(ws: ServerConnection) -> None:
    """Once the connection is logged in, drop its handshake's headers (request and
    response: a quarter of an idle connection's memory), keeping the client they named.

    websockets keeps the request object for the connection's life (its parser holds it,
    and the connection tells the handshake from later frames by it), so its headers are
    emptied in place."""
    if not isinstance(ws, ProxiedConnection) or ws.request is None:
        return
    client = _forwarded(ws)
    if client != peer_ip(ws):  # behind a trusted proxy
        ws.forwarded_ip = client
    ws.handshake_shed = True
    ws.request.headers.clear()
    ws.response = None


def client_address(ws: ServerConnection) -> str:
    """The client's address as per-address limits count it (see the module docstring).

    Before the handshake request has arrived it is the TCP peer's."""
    ip = _forwarded(ws)
    if ip is None:
        return str(ws.remote_address)
    return limit_key(ip)


def peer(ws: ServerConnection) -> str:
    """The client's address as ``host:port``, for logs; ``client via proxy:port`` when a
    trusted proxy forwarded it."""
    address = ws.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        hop = f"{address[0]}:{address[1]}"
        ip = peer_ip(ws)
        client = _forwarded(ws)
        if client is not None and client != ip:
            return f"{client} via {hop}"
        return hop
    return str(address)
