"""Hand-built frames for backend tests (independent of usnet_core.wire on purpose)."""

from __future__ import annotations

import ipaddress
import select
import struct
import time
from collections.abc import Callable

from usnet_backends.device import Device

BROADCAST = b"\xff" * 6
ETH_ARP = 0x0806
ETH_IPV4 = 0x0800


def ip4(text: str) -> bytes:
    """Dotted quad to 4 bytes."""
    return ipaddress.IPv4Address(text).packed


def ipv4_checksum(header: bytes) -> int:
    """RFC 1071 checksum of an IPv4 header."""
    s = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return int(~s & 0xFFFF)


def arp_frame(op: int, src_mac: bytes, src_ip: str, dst_mac: bytes, dst_ip: str) -> bytes:
    """A 42-byte Ethernet+ARP frame (op 1 request, broadcast; op 2 reply, unicast)."""
    eth_dst = BROADCAST if op == 1 else dst_mac
    target = b"\0" * 6 if op == 1 else dst_mac
    return struct.pack(
        "!6s6sHHHBBH6s4s6s4s",
        eth_dst, src_mac, ETH_ARP, 1, ETH_IPV4, 6, 4, op,
        src_mac, ip4(src_ip), target, ip4(dst_ip),
    )  # fmt: skip


def parse_arp(frame: bytes) -> dict[str, object]:
    """Fields of an Ethernet+ARP frame."""
    dst, src, etype, htype, ptype, hlen, plen, op, sha, spa, tha, tpa = struct.unpack_from(
        "!6s6sHHHBBH6s4s6s4s", frame
    )
    return {
        "eth_dst": dst, "eth_src": src, "ethertype": etype, "htype": htype, "ptype": ptype,
        "hlen": hlen, "plen": plen, "op": op, "sha": sha,
        "spa": str(ipaddress.IPv4Address(spa)), "tha": tha,
        "tpa": str(ipaddress.IPv4Address(tpa)),
    }  # fmt: skip


def udp_frame(
    src_mac: bytes, dst_mac: bytes, src: str, dst: str, sport: int, dport: int, payload: bytes
) -> bytes:
    """Ethernet+IPv4+UDP (UDP checksum 0: allowed over IPv4)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0x4000, 64, 17, 0,
                      ip4(src), ip4(dst))  # fmt: skip
    hdr = hdr[:10] + struct.pack("!H", ipv4_checksum(hdr)) + hdr[12:]
    return struct.pack("!6s6sH", dst_mac, src_mac, ETH_IPV4) + hdr + udp


def parse_udp(frame: bytes) -> tuple[str, str, int, int, bytes]:
    """(src ip, dst ip, sport, dport, payload) of an Ethernet+IPv4+UDP frame."""
    assert struct.unpack_from("!H", frame, 12)[0] == ETH_IPV4
    ihl = (frame[14] & 0x0F) * 4
    assert frame[23] == 17, "not UDP"
    assert ipv4_checksum(frame[14 : 14 + ihl]) == 0, "bad IPv4 header checksum"
    src = str(ipaddress.IPv4Address(frame[26:30]))
    dst = str(ipaddress.IPv4Address(frame[30:34]))
    sport, dport, length, _ = struct.unpack_from("!HHHH", frame, 14 + ihl)
    payload = frame[14 + ihl + 8 : 14 + ihl + length]
    return src, dst, sport, dport, payload


def wait_for(
    device: Device, match: Callable[[bytes], bool], timeout: float = 3.0
) -> tuple[bytes, list[bytes]]:
    """Poll `device` (waiting on its fd) until a frame matches; return it and the others seen."""
    others: list[bytes] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        select.select([device.fileno()], [], [], left)
        for frame in device.recv_batch():
            if match(frame):
                return frame, others
            others.append(frame)
    raise AssertionError(f"no matching frame within {timeout}s; saw {len(others)} others")


def is_arp(frame: bytes) -> bool:
    """An ARP frame?"""
    return len(frame) >= 42 and struct.unpack_from("!H", frame, 12)[0] == ETH_ARP


def is_udp(frame: bytes) -> bool:
    """An IPv4/UDP frame?"""
    return (
        len(frame) >= 42
        and struct.unpack_from("!H", frame, 12)[0] == ETH_IPV4
        and (frame[23] == 17)
    )


def open_fds() -> set[int]:
    """The fds open in this process right now."""
    import os

    return {int(n) for n in os.listdir("/proc/self/fd")}
