"""The client address per-address limits count: the X-Forwarded-For rule, table-driven.

203.0.113.0/24 and 198.51.100.0/24 are documentation networks: here they are only text in a
header, never a destination.
"""

from __future__ import annotations

import ipaddress

import pytest

from chat_server.addresses import TrustedProxies, forwarded_client, limit_key, parse_ip

PROXIES = TrustedProxies(["10.0.0.0/8", "192.168.1.1", "fd00::/8"])


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        # an untrusted peer is the client, whatever it writes
        ("198.51.100.7", ["203.0.113.9"], "198.51.100.7"),
        ("198.51.100.7", [], "198.51.100.7"),
        # a trusted proxy names the client
        ("10.0.0.5", ["203.0.113.9"], "203.0.113.9"),
        ("192.168.1.1", ["203.0.113.9"], "203.0.113.9"),
        # the right-most address that is not a proxy: what the client wrote is to its left
        ("10.0.0.5", ["1.1.1.1, 203.0.113.9"], "203.0.113.9"),
        ("10.0.0.5", ["1.1.1.1, 203.0.113.9, 10.0.0.7"], "203.0.113.9"),
        ("10.0.0.5", ["1.1.1.1", "203.0.113.9, 10.0.0.7"], "203.0.113.9"),  # repeated header
        (" 10.0.0.5", [" 203.0.113.9 ,10.1.2.3 "], "203.0.113.9"),
        # every hop a proxy: the furthest one
        ("10.0.0.5", ["10.9.9.9, 10.0.0.7"], "10.9.9.9"),
        # no header from a proxy: the proxy itself
        ("10.0.0.5", [], "10.0.0.5"),
        ("10.0.0.5", [""], "10.0.0.5"),
        # nonsense stops the walk at the last trusted hop
        ("10.0.0.5", ["203.0.113.9, unknown"], "10.0.0.5"),
        ("10.0.0.5", ["203.0.113.9, unknown, 10.0.0.7"], "10.0.0.7"),
        ("10.0.0.5", ["unknown, 203.0.113.9"], "203.0.113.9"),
        # IPv6, brackets, IPv4 in IPv6 clothing
        ("fd00::1", ["2001:db8::5"], "2001:db8::5"),
        ("fd00::1", ["[2001:db8::5]"], "2001:db8::5"),
        ("::ffff:10.0.0.5", ["::ffff:203.0.113.9"], "203.0.113.9"),
        ("2001:db8::1", ["203.0.113.9"], "2001:db8::1"),
    ],
)
def test_forwarded_for_rule(peer: str, header: list[str], client: str) -> None:
    ip = parse_ip(peer)
    assert ip is not None
    assert str(forwarded_client(ip, header, PROXIES)) == client


@pytest.mark.parametrize("header", [["203.0.113.9"], ["10.0.0.7, 203.0.113.9"]])
def test_without_trusted_proxies_the_header_is_ignored(header: list[str]) -> None:
    peer = ipaddress.ip_address("10.0.0.5")
    assert forwarded_client(peer, header, TrustedProxies()) == peer


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),  # one household's block is one address
        ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ],
)
def test_limit_key(address: str, key: str) -> None:
    ip = parse_ip(address)
    assert ip is not None
    assert limit_key(ip) == key


@pytest.mark.parametrize("text", ["", "unknown", "203.0.113.9:443", "1.2.3", "[::1"])
def test_not_an_address(text: str) -> None:
    assert parse_ip(text) is None


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "proxy.example", "10.0.0.0/8/8", ""])
def test_bad_trusted_proxy_is_refused(cidr: str) -> None:
    with pytest.raises(ValueError):
        TrustedProxies([cidr])
