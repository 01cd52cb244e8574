"""Address conversion at the API edge: ("10.0.0.1", 80) tuples outside, ints inside."""

from __future__ import annotations

import ipaddress
import socket

Address = tuple[str, int]
Endpoint = tuple[int, int]


def parse_host(host: str) -> int:
    """An IPv4 literal (or "" / "0.0.0.0" for any) as an int; other names raise gaierror.

    Names are resolved by `usnet_sync.resolve` (in-stack DNS), never by the kernel here.
    """
    if host in ("", "0.0.0.0"):
        return 0
    if host == "<broadcast>":
        return 0xFFFFFFFF
    try:
        return int(ipaddress.IPv4Address(host))
    except ValueError:
        raise socket.gaierror(socket.EAI_NONAME, f"not an IPv4 address: {host!r}") from None


def to_endpoint(address: tuple[str, int] | tuple[str, int, int, int]) -> Endpoint:
    """("10.0.0.1", 80) -> (167772161, 80), validating the port like the socket module."""
    if not isinstance(address, tuple) or len(address) < 2:
        raise TypeError("address must be a (host, port) tuple")
    host, port = address[0], address[1]
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise OverflowError("port must be 0-65535.")
    return parse_host(host), port


def from_endpoint(endpoint: Endpoint) -> Address:
    """(167772161, 80) -> ("10.0.0.1", 80)."""
    return str(ipaddress.IPv4Address(endpoint[0])), endpoint[1]
