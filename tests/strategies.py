"""Hypothesis strategies shared by all tests, grouped by protocol.

Add new strategies under the header of their protocol (or a new header), and keep each
strategy producing only values the emitters accept, so round-trip tests stay meaningful.
"""

from __future__ import annotations

from hypothesis import strategies as st
from usnet_core.wire.arp import OP_REPLY, OP_REQUEST, ArpRepr
from usnet_core.wire.ethernet import (
    ETHERTYPE_ARP,
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    ETHERTYPE_VLAN,
    EthernetRepr,
)
from usnet_core.wire.icmpv4 import (
    TYPE_DEST_UNREACHABLE,
    TYPE_ECHO_REPLY,
    TYPE_ECHO_REQUEST,
    TYPE_PARAMETER_PROBLEM,
    TYPE_TIME_EXCEEDED,
    Icmpv4Repr,
)
from usnet_core.wire.ipv4 import Ipv4Repr
from usnet_core.wire.udp import UdpRepr

# ---------------------------------------------------------------------------------------
# Generic
# ---------------------------------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
payloads = st.binary(max_size=256)
"""Short payloads: long enough for odd/even lengths and padding, small enough to be fast."""

# ---------------------------------------------------------------------------------------
# Ethernet
# ---------------------------------------------------------------------------------------

mac_addresses = st.binary(min_size=6, max_size=6)
unicast_mac_addresses = mac_addresses.map(lambda m: bytes([m[0] & 0xFE]) + m[1:])
ethertypes = st.one_of(
    st.sampled_from([ETHERTYPE_IPV4, ETHERTYPE_ARP, ETHERTYPE_IPV6, ETHERTYPE_VLAN]), u16
)
ethernet_reprs = st.builds(
    EthernetRepr, dst=mac_addresses, src=unicast_mac_addresses, ethertype=ethertypes
)

# ---------------------------------------------------------------------------------------
# IPv4
# ---------------------------------------------------------------------------------------

ipv4_addresses = u32
unicast_ipv4_addresses = u32.filter(lambda a: a >> 28 != 0xE and a != 0xFFFFFFFF)
"""Addresses valid as a source: neither multicast (224/4) nor limited broadcast."""


@st.composite
def ipv4_reprs(draw: st.DrawFn, protocol: st.SearchStrategy[int] = u8) -> Ipv4Repr:
    """Any header we can emit: source valid, fragment fields consistent."""
    return Ipv4Repr(
        src=draw(unicast_ipv4_addresses),
        dst=draw(ipv4_addresses),
        protocol=draw(protocol),
        payload_len=draw(st.integers(0, 0xFFFF - 20)),
        ttl=draw(u8),
        ident=draw(u16),
        dont_frag=draw(st.booleans()),
        more_frags=draw(st.booleans()),
        frag_offset=draw(st.integers(0, 0x1FFF)) * 8,
        dscp_ecn=draw(u8),
    )


# ---------------------------------------------------------------------------------------
# ARP
# ---------------------------------------------------------------------------------------

arp_reprs = st.builds(
    ArpRepr,
    operation=st.sampled_from([OP_REQUEST, OP_REPLY]),
    source_hw=mac_addresses,
    source_ip=ipv4_addresses,
    target_hw=mac_addresses,
    target_ip=ipv4_addresses,
)

# ---------------------------------------------------------------------------------------
# ICMPv4
# ---------------------------------------------------------------------------------------

_icmp_echo = st.builds(
    Icmpv4Repr,
    type=st.sampled_from([TYPE_ECHO_REQUEST, TYPE_ECHO_REPLY]),
    code=st.just(0),
    ident=u16,
    seq_no=u16,
    data=payloads,
)
_icmp_dest_unreachable = st.builds(
    Icmpv4Repr,
    type=st.just(TYPE_DEST_UNREACHABLE),
    code=st.integers(0, 15),
    mtu=u16,
    data=payloads,
)
_icmp_time_exceeded = st.builds(
    Icmpv4Repr, type=st.just(TYPE_TIME_EXCEEDED), code=st.integers(0, 1), data=payloads
)
_icmp_parameter_problem = st.builds(
    Icmpv4Repr, type=st.just(TYPE_PARAMETER_PROBLEM), code=u8, pointer=u8, data=payloads
)
_icmp_other = st.builds(
    Icmpv4Repr,
    type=u8.filter(lambda t: t not in (3, 11, 12)),
    code=u8,
    ident=u16,
    seq_no=u16,
    data=payloads,
)
icmpv4_reprs = st.one_of(
    _icmp_echo, _icmp_dest_unreachable, _icmp_time_exceeded, _icmp_parameter_problem, _icmp_other
)

# ---------------------------------------------------------------------------------------
# UDP
# ---------------------------------------------------------------------------------------

udp_reprs = st.builds(UdpRepr, src_port=u16, dst_port=st.integers(1, 0xFFFF))
