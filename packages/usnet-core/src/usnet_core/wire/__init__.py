"""Wire formats: per protocol, a read-only view over a buffer and a Repr of its meaning.

Parsing any bytes either succeeds or raises `usnet_core.errors.Malformed` with a short,
stable reason. The modules are the namespaces (`wire.ipv4.PROTO_UDP`,
`wire.icmpv4.PORT_UNREACHABLE`); the main classes are re-exported here.
"""

from __future__ import annotations

from usnet_core.wire import arp, checksum, dns, ethernet, icmpv4, ipv4, udp
from usnet_core.wire.arp import ArpPacket, ArpRepr
from usnet_core.wire.dns import DnsPacket, DnsRepr
from usnet_core.wire.ethernet import EthernetFrame, EthernetRepr, mac_from_str, mac_to_str
from usnet_core.wire.icmpv4 import Icmpv4Packet, Icmpv4Quote, Icmpv4Repr
from usnet_core.wire.ipv4 import Ipv4Packet, Ipv4Repr, addr_from_str, addr_to_str
from usnet_core.wire.udp import UdpPacket, UdpRepr

# wire/tcp.py (TcpPacket, TcpRepr, ...) is re-exported below by its owner.

__all__ = [
    "ArpPacket",
    "ArpRepr",
    "DnsPacket",
    "DnsRepr",
    "EthernetFrame",
    "EthernetRepr",
    "Icmpv4Packet",
    "Icmpv4Quote",
    "Icmpv4Repr",
    "Ipv4Packet",
    "Ipv4Repr",
    "UdpPacket",
    "UdpRepr",
    "addr_from_str",
    "addr_to_str",
    "arp",
    "checksum",
    "dns",
    "ethernet",
    "icmpv4",
    "ipv4",
    "mac_from_str",
    "mac_to_str",
    "udp",
]
