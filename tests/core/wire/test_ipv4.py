"""IPv4 (RFC 791): known header, round-trips, corruption, fragments, padding, helpers."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import ipv4_reprs, payloads
from usnet_core.errors import Malformed
from usnet_core.wire.ethernet import EthernetFrame, EthernetRepr
from usnet_core.wire.ipv4 import (
    HEADER_LEN,
    PROTO_ICMP,
    PROTO_TCP,
    PROTO_UDP,
    Ipv4Packet,
    Ipv4Repr,
    addr_from_str,
    addr_to_str,
    is_broadcast,
    is_multicast,
    netmask,
    network,
)

from .test_checksum import reference_checksum

# A UDP packet header from a capture: 192.168.0.1 -> 192.168.0.199, DF, TTL 64, 0x73 long.
KNOWN_HEADER = bytes.fromhex("45000073000040004011b861c0a80001c0a800c7")


def build(
    *,
    src: int = 0x0A000001,
    dst: int = 0x0A000002,
    proto: int = PROTO_UDP,
    payload: bytes = b"",
    options: bytes = b"",
    frag: int = 0x4000,
    total_len: int | None = None,
    vihl: int | None = None,
) -> bytearray:
    """A header built field by field, checksummed with the test's reference implementation."""
    hlen = HEADER_LEN + len(options)
    if vihl is None:
        vihl = 0x40 | hlen // 4
    if total_len is None:
        total_len = hlen + len(payload)
    header = bytearray(
        struct.pack("!BBHHHBBHII", vihl, 0, total_len, 0x1234, frag, 64, proto, 0, src, dst)
    )
    header += options
    struct.pack_into("!H", header, 10, reference_checksum(bytes(header)))
    return header + payload


def test_known_header() -> None:
    packet = Ipv4Packet(KNOWN_HEADER + bytes(0x73 - 20))
    assert packet.verify_checksum()
    assert packet.checksum == 0xB861
    assert (packet.version, packet.header_len, packet.total_len) == (4, 20, 0x73)
    assert (packet.ttl, packet.protocol, packet.ident) == (64, PROTO_UDP, 0)
    assert packet.dont_frag and not packet.more_frags and not packet.is_fragment
    assert len(packet.options) == 0
    repr_ = Ipv4Repr.parse(packet)
    assert repr_ == Ipv4Repr(
        src=addr_from_str("192.168.0.1"),
        dst=addr_from_str("192.168.0.199"),
        protocol=PROTO_UDP,
        payload_len=0x73 - 20,
    )
    assert bytes(repr_.to_bytes())[:20] == KNOWN_HEADER


@given(ipv4_reprs())
def test_round_trip(repr_: Ipv4Repr) -> None:
    buf = repr_.to_bytes()
    assert len(buf) == repr_.buffer_len
    packet = Ipv4Packet(buf)
    assert packet.verify_checksum()
    assert packet.checksum == reference_checksum(bytes(buf[:10]) + b"\0\0" + bytes(buf[12:20]))
    assert Ipv4Repr.parse(packet) == repr_
    assert packet.is_fragment == repr_.is_fragment


@given(ipv4_reprs(), payloads)
def test_payload_and_offset(repr_: Ipv4Repr, payload: bytes) -> None:
    repr_ = Ipv4Repr(repr_.src, repr_.dst, repr_.protocol, len(payload), ttl=repr_.ttl)
    buf = bytearray(3) + repr_.to_bytes(payload)
    packet = Ipv4Packet(memoryview(buf)[3:])
    assert bytes(packet.payload) == payload
    assert Ipv4Repr.parse(packet) == repr_


@given(ipv4_reprs(st.just(PROTO_TCP)), st.data())
def test_single_byte_corruption_is_detected(repr_: Ipv4Repr, data: st.DataObject) -> None:
    repr_ = Ipv4Repr(repr_.src, repr_.dst, repr_.protocol, min(repr_.payload_len, 40))
    buf = repr_.to_bytes()
    i = data.draw(st.integers(0, HEADER_LEN - 1), label="index")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != buf[i]), label="byte")
    buf[i] = new
    # One byte changes one 16-bit word by a non-multiple of 0xFFFF: the sum always moves.
    with pytest.raises(Malformed):
        Ipv4Repr.parse(buf)


@given(st.binary(max_size=80))
def test_arbitrary_bytes_parse_or_malformed(data: bytes) -> None:
    with contextlib.suppress(Malformed):
        Ipv4Repr.parse(data, verify_checksum=False)


@given(st.binary(min_size=20, max_size=80), st.integers(0, 0x0F), st.integers(0, 100))
def test_plausible_headers_parse_or_malformed(data: bytes, ihl: int, total_len: int) -> None:
    buf = bytearray(data)
    buf[0] = 0x40 | ihl
    struct.pack_into("!H", buf, 2, total_len)
    try:
        packet = Ipv4Packet(buf)
    except Malformed:
        assert ihl < 5 or ihl * 4 > len(buf) or not ihl * 4 <= total_len <= len(buf)
        return
    assert len(packet.options) == ihl * 4 - 20
    assert len(packet.payload) == total_len - ihl * 4
    try:
        Ipv4Repr.parse(packet, verify_checksum=False)
    except Malformed as exc:
        assert exc.reason == "ipv4 source"


@pytest.mark.parametrize(
    ("frag", "more", "offset"),
    [(0x2000, True, 0), (0x2000 | 185, True, 1480), (185, False, 1480), (0x4000 | 1, False, 8)],
)
def test_fragments_are_recognised(frag: int, more: bool, offset: int) -> None:
    packet = Ipv4Packet(build(frag=frag, payload=bytes(16)))
    assert packet.is_fragment
    assert (packet.more_frags, packet.frag_offset) == (more, offset)
    repr_ = Ipv4Repr.parse(packet)
    assert repr_.is_fragment
    assert (repr_.more_frags, repr_.frag_offset) == (more, offset)
    assert repr_.to_bytes(bytes(16)) == build(frag=frag, payload=bytes(16))


def test_whole_datagrams_are_not_fragments() -> None:
    for frag in (0, 0x4000):
        assert not Ipv4Packet(build(frag=frag)).is_fragment
        assert not Ipv4Repr.parse(build(frag=frag)).is_fragment


def test_ethernet_padding_is_ignored() -> None:
    # 20-byte header + 8-byte UDP header: the frame carries 18 bytes of padding after it.
    ip = build(payload=bytes.fromhex("d4310035000800ff"))
    frame = EthernetRepr(bytes(6), bytes(6), 0x0800).to_bytes(ip + b"\xee" * 18)
    packet = Ipv4Packet(EthernetFrame(frame).payload)
    assert packet.total_len == 28
    assert bytes(packet.payload) == bytes.fromhex("d4310035000800ff")
    assert Ipv4Repr.parse(packet).payload_len == 8


def test_options_are_skipped() -> None:
    options = bytes.fromhex("94040000")  # router alert (RFC 2113)
    packet = Ipv4Packet(build(options=options, payload=b"abcd"))
    assert packet.header_len == 24
    assert bytes(packet.options) == options
    assert bytes(packet.payload) == b"abcd"
    assert Ipv4Repr.parse(packet).payload_len == 4


@pytest.mark.parametrize(
    ("buf", "reason"),
    [
        (bytes(19), "ipv4 truncated"),
        (build(vihl=0x65), "ipv4 version"),
        (build(vihl=0x44), "ipv4 header length"),
        (build(vihl=0x46), "ipv4 truncated"),
        (build(total_len=19), "ipv4 total length"),
        (build(total_len=21), "ipv4 total length"),
        (build(options=bytes(4), total_len=22, payload=b"ab"), "ipv4 total length"),
    ],
)
def test_checked_constructor(buf: bytes, reason: str) -> None:
    with pytest.raises(Malformed) as info:
        Ipv4Packet(buf)
    assert info.value.reason == reason


def test_bad_checksum() -> None:
    buf = build()
    buf[10] ^= 1
    assert not Ipv4Packet(buf).verify_checksum()
    with pytest.raises(Malformed, match="ipv4 checksum"):
        Ipv4Repr.parse(buf)
    assert Ipv4Repr.parse(buf, verify_checksum=False).src == 0x0A000001


@pytest.mark.parametrize("src", ["224.0.0.1", "239.255.255.250", "255.255.255.255"])
def test_multicast_or_broadcast_source(src: str) -> None:
    with pytest.raises(Malformed, match="ipv4 source"):
        Ipv4Repr.parse(build(src=addr_from_str(src)))


def test_emit_without_checksum_leaves_zero() -> None:
    repr_ = Ipv4Repr(1, 2, PROTO_ICMP, 0)
    buf = repr_.to_bytes(checksum=False)
    assert Ipv4Packet(buf).checksum == 0
    assert Ipv4Repr.parse(buf, verify_checksum=False) == repr_


def test_emit_rejects_bad_repr() -> None:
    with pytest.raises(ValueError):
        Ipv4Repr(1, 2, PROTO_UDP, 0xFFFF - 19).emit(bytearray(20))
    with pytest.raises(ValueError):
        Ipv4Repr(1, 2, PROTO_UDP, 0, frag_offset=4).emit(bytearray(20))
    with pytest.raises(ValueError):
        Ipv4Repr(1, 2, PROTO_UDP, 0).emit(bytearray(19))
    with pytest.raises(ValueError):
        Ipv4Repr(1, 2, PROTO_UDP, 4).to_bytes(b"abc")


def test_address_helpers() -> None:
    assert addr_from_str("10.0.0.1") == 0x0A000001
    assert addr_to_str(0xC0A80001) == "192.168.0.1"
    assert is_multicast(addr_from_str("224.0.0.251"))
    assert not is_multicast(addr_from_str("240.0.0.1"))
    assert is_broadcast(0xFFFFFFFF) and not is_broadcast(addr_from_str("10.0.0.255"))
    assert netmask(24) == 0xFFFFFF00 and netmask(0) == 0 and netmask(32) == 0xFFFFFFFF
    assert network(addr_from_str("10.1.2.3"), 16) == addr_from_str("10.1.0.0")
    for bad in ("10.0.0", "10.0.0.256", "a.b.c.d", "", "010.0.0.1"):
        with pytest.raises(ValueError):
            addr_from_str(bad)
    for bad_prefix in (-1, 33):
        with pytest.raises(ValueError):
            netmask(bad_prefix)


@given(st.integers(0, 0xFFFFFFFF))
def test_address_string_round_trip(addr: int) -> None:
    assert addr_from_str(addr_to_str(addr)) == addr
