"""Address conversion at the API edge: ("10.0.0.1", 80) tuples outside, ints inside."""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from usnet_sync.stack import Stack

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


def split_address(address: object) -> tuple[str, int]:
    """(host, port) or the usnet_sockets "host:port" string, validated like the socket module."""
    if isinstance(address, str):
        host, sep, port_text = address.rpartition(":")
        if not sep or not port_text.isdigit() or int(port_text) > 65535:
            raise ValueError(f"invalid socket address: {address!r}")
        return host, int(port_text)
    if not isinstance(address, tuple) or len(address) < 2:
        raise TypeError("address must be a (host, port) tuple or a 'host:port' string")
    host, port = address[0], address[1]
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise OverflowError("port must be 0-65535.")
    return host, port


def to_endpoint(address: tuple[str, int] | tuple[str, int, int, int]) -> Endpoint:
    """("10.0.0.1", 80) -> (167772161, 80) for IPv4 literals (names raise gaierror)."""
    host, port = split_address(address)
    return parse_host(host), port


def resolve_ips(host: str, stack: Stack | None = None, timeout: float | None = None) -> list[int]:
    """IPv4 literals directly; names through usnet_sync.resolve (in-stack DNS)."""
    try:
        return [parse_host(host)]
    except socket.gaierror:
        pass
    from usnet_sync.resolve import resolve  # noqa: PLC0415 (import cycle)

    return [parse_host(ip) for ip in resolve(host, stack=stack, timeout=timeout)]


def resolve_endpoint(address: object, stack: Stack | None = None) -> Endpoint:
    """(host, port) or "host:port" as (int, port), resolving a name inside the stack."""
    host, port = split_address(address)
    return resolve_ips(host, stack)[0], port


def from_endpoint(endpoint: Endpoint) -> Address:
    """(167772161, 80) -> ("10.0.0.1", 80)."""
    return str(ipaddress.IPv4Address(endpoint[0])), endpoint[1]
