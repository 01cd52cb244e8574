"""Configuration of one Interface: addresses, MTU and the ARP/ICMP knobs."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from usnet_core.wire.ethernet import mac_from_str


@dataclass(frozen=True, slots=True)
class InterfaceConfig:
    """MAC, IPv4 address/prefix, default gateway and MTU (the IP MTU, without Ethernet)."""

    mac: bytes
    ipv4: int
    prefix_len: int
    gateway: int | None = None
    mtu: int = 1500
    default_ttl: int = 64
    # ARP (RFC 826, RFC 1122 2.3.2): cache entries live this long, unresolved next hops
    # are asked `arp_retries` times `arp_retry_interval` apart, then their packets are
    # dropped and the sockets told the host is unreachable.
    arp_cache_ttl: float = 60.0
    arp_cache_size: int = 1024
    arp_retry_interval: float = 1.0
    arp_retries: int = 3
    arp_pending_per_host: int = 16
    arp_pending_hosts: int = 256
    # ICMP errors we send are rate limited like Linux's icmp_ratelimit (RFC 1812 4.3.2.8).
    icmp_error_rate: float = 1000.0
    icmp_error_burst: int = 50

    def __post_init__(self) -> None:
        if len(self.mac) != 6:
            raise ValueError(f"mac must be 6 bytes, got {len(self.mac)}")
        if self.mac[0] & 1:
            raise ValueError("mac must be a unicast address (lowest bit of first octet clear)")
        if not 0 <= self.prefix_len <= 32:
            raise ValueError(f"prefix_len must be 0..32, got {self.prefix_len}")
        if not 68 <= self.mtu <= 65535:
            raise ValueError(f"mtu must be 68..65535 (RFC 791), got {self.mtu}")
        if not 0 < self.ipv4 < 0xFFFFFFFF:
            raise ValueError("ipv4 must be a unicast address")
        if not 1 <= self.default_ttl <= 255:
            raise ValueError(f"default_ttl must be 1..255, got {self.default_ttl}")

    @classmethod
    def build(
        cls,
        mac: str | bytes,
        ipv4: str,
        gateway: str | None = None,
        mtu: int = 1500,
        **knobs: object,
    ) -> InterfaceConfig:
        """Build from strings: `InterfaceConfig.build("02:00:00:00:00:01", "10.0.0.2/24")`."""
        iface = ipaddress.IPv4Interface(ipv4)
        if "/" not in ipv4:
            raise ValueError(f"ipv4 needs a prefix length, e.g. {ipv4}/24")
        gw = int(ipaddress.IPv4Address(gateway)) if gateway is not None else None
        mac_bytes = mac_from_str(mac) if isinstance(mac, str) else bytes(mac)
        return cls(
            mac=mac_bytes,
            ipv4=int(iface.ip),
            prefix_len=iface.network.prefixlen,
            gateway=gw,
            mtu=mtu,
            **knobs,  # type: ignore[arg-type]
        )

    @property
    def netmask(self) -> int:
        """The prefix as a 32-bit mask."""
        return (0xFFFFFFFF << (32 - self.prefix_len)) & 0xFFFFFFFF

    @property
    def network(self) -> int:
        """The network address of the interface's subnet."""
        return self.ipv4 & self.netmask

    @property
    def broadcast(self) -> int:
        """The subnet's directed broadcast address."""
        return self.network | (~self.netmask & 0xFFFFFFFF)

    def on_link(self, addr: int) -> bool:
        """True when `addr` is in the interface's subnet (no gateway needed)."""
        return (addr & self.netmask) == self.network
