"""A scripted peer for Interface tests: builds frames with the wire modules, reads replies."""

from __future__ import annotations

import random
from collections.abc import Callable

from usnet_core.iface import Interface, InterfaceConfig
from usnet_core.wire import arp, ethernet, icmpv4, ipv4
from usnet_core.wire.arp import ArpRepr
from usnet_core.wire.ethernet import EthernetFrame, EthernetRepr
from usnet_core.wire.icmpv4 import Icmpv4Repr
from usnet_core.wire.ipv4 import Ipv4Packet, Ipv4Repr, addr_from_str
from usnet_core.wire.udp import UdpPacket, UdpRepr

US_MAC = bytes.fromhex("020000000002")
US_IP = addr_from_str("10.0.0.2")
PEER_MAC = bytes.fromhex("020000000001")
PEER_IP = addr_from_str("10.0.0.1")
GW_MAC = bytes.fromhex("0200000000fe")
GW_IP = addr_from_str("10.0.0.254")
FAR_IP = addr_from_str("192.0.2.7")


def seeded_entropy(seed: int = 1) -> Callable[[int], bytes]:
    """A reproducible stand-in for os.urandom."""
    rng = random.Random(seed)
    return rng.randbytes


def make_iface(**knobs: object) -> Interface:
    """An Interface at 10.0.0.2/24 with gateway 10.0.0.254, strict (bugs raise)."""
    cfg = InterfaceConfig(
        mac=US_MAC,
        ipv4=US_IP,
        prefix_len=24,
        gateway=GW_IP,
        **knobs,  # type: ignore[arg-type]
    )
    return Interface(cfg, entropy=seeded_entropy(), strict=True)


def eth(
    payload: bytes | bytearray,
    ethertype: int = ethernet.ETHERTYPE_IPV4,
    dst: bytes = US_MAC,
    src: bytes = PEER_MAC,
) -> bytearray:
    return EthernetRepr(dst, src, ethertype).to_bytes(payload)


def ip_packet(
    proto: int, payload: bytes | bytearray, src: int = PEER_IP, dst: int = US_IP, **fields: object
) -> bytearray:
    header = Ipv4Repr(src, dst, proto, len(payload), **fields)  # type: ignore[arg-type]
    return header.to_bytes(payload)


def udp_frame(
    sport: int, dport: int, data: bytes, src: int = PEER_IP, dst: int = US_IP, **ip_fields: object
) -> bytearray:
    dgram = UdpRepr(sport, dport).to_bytes(src, dst, data)
    return eth(ip_packet(ipv4.PROTO_UDP, dgram, src, dst, **ip_fields))


def arp_frame(
    op: int,
    target_ip: int = US_IP,
    src_mac: bytes = PEER_MAC,
    src_ip: int = PEER_IP,
    target_mac: bytes = b"\0" * 6,
    dst: bytes = ethernet.BROADCAST,
) -> bytearray:
    body = ArpRepr(op, src_mac, src_ip, target_mac, target_ip).to_bytes()
    return eth(body, ethernet.ETHERTYPE_ARP, dst=dst, src=src_mac)


def icmp_frame(msg: Icmpv4Repr, src: int = PEER_IP, dst: int = US_IP) -> bytearray:
    return eth(ip_packet(ipv4.PROTO_ICMP, msg.to_bytes(), src, dst))


def learn_peer(iface: Interface, now: float = 0.0) -> None:
    """Teach the Interface the peer's and the gateway's MACs via ARP replies to it."""
    for mac, ip in ((PEER_MAC, PEER_IP), (GW_MAC, GW_IP)):
        iface.receive(arp_frame(arp.OP_REQUEST, src_mac=mac, src_ip=ip), now)
    iface.transmit(now)


def parse_arp(frame: bytes | bytearray) -> tuple[EthernetRepr, ArpRepr]:
    view = EthernetFrame(frame)
    assert view.ethertype == ethernet.ETHERTYPE_ARP
    return EthernetRepr.parse(view), ArpRepr.parse(view.payload)


def parse_ip(frame: bytes | bytearray) -> tuple[EthernetRepr, Ipv4Repr, memoryview]:
    view = EthernetFrame(frame)
    assert view.ethertype == ethernet.ETHERTYPE_IPV4
    packet = Ipv4Packet(view.payload)
    return EthernetRepr.parse(view), Ipv4Repr.parse(packet), packet.payload


def parse_udp(frame: bytes | bytearray) -> tuple[Ipv4Repr, UdpRepr, bytes]:
    _, header, payload = parse_ip(frame)
    assert header.protocol == ipv4.PROTO_UDP
    packet = UdpPacket(payload)
    return header, UdpRepr.parse(packet, header.src, header.dst), bytes(packet.payload)


def parse_icmp(frame: bytes | bytearray) -> tuple[Ipv4Repr, Icmpv4Repr]:
    _, header, payload = parse_ip(frame)
    assert header.protocol == ipv4.PROTO_ICMP
    return header, Icmpv4Repr.parse(payload)


__all__ = [
    "FAR_IP", "GW_IP", "GW_MAC", "PEER_IP", "PEER_MAC", "US_IP", "US_MAC", "arp_frame",
    "eth", "icmp_frame", "icmpv4", "ip_packet", "learn_peer", "make_iface", "parse_arp",
    "parse_icmp", "parse_ip", "parse_udp", "seeded_entropy", "udp_frame",
]  # fmt: skip
