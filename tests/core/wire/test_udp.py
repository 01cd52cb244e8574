"""UDP (RFC 768): known datagram, checksum rules, round-trips, corruption, robustness."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import ipv4_addresses, payloads, udp_reprs
from usnet_core.errors import Malformed
from usnet_core.wire.checksum import fold, ones_sum, pseudo_ipv4
from usnet_core.wire.ipv4 import PROTO_UDP, addr_from_str
from usnet_core.wire.udp import HEADER_LEN, UdpPacket, UdpRepr

from .test_checksum import reference_checksum

SRC = addr_from_str("10.0.0.2")
DST = addr_from_str("10.0.0.1")
# A DNS query for example.com, A record, from port 53124.
DNS_QUERY = bytes.fromhex("abcd01000001000000000000076578616d706c6503636f6d0000010001")


def reference_udp(src: int, dst: int, sport: int, dport: int, payload: bytes) -> bytes:
    """The datagram built from RFC 768's text, checksummed by the reference implementation."""
    length = HEADER_LEN + len(payload)
    pseudo = struct.pack("!IIBBH", src, dst, 0, PROTO_UDP, length)
    header = struct.pack("!HHHH", sport, dport, length, 0)
    value = reference_checksum(pseudo + header + payload) or 0xFFFF
    return header[:6] + value.to_bytes(2, "big") + payload


def test_known_datagram() -> None:
    wire = reference_udp(SRC, DST, 53124, 53, DNS_QUERY)
    packet = UdpPacket(wire)
    assert (packet.src_port, packet.dst_port, packet.length) == (53124, 53, 8 + len(DNS_QUERY))
    assert packet.verify_checksum(SRC, DST)
    assert not packet.verify_checksum(SRC, DST + 1)
    assert UdpRepr.parse(packet, SRC, DST) == UdpRepr(53124, 53)
    assert bytes(packet.payload) == DNS_QUERY
    assert bytes(UdpRepr(53124, 53).to_bytes(SRC, DST, DNS_QUERY)) == wire


def test_zero_checksum_means_none() -> None:
    buf = UdpRepr(1, 2).to_bytes(SRC, DST, b"hello", checksum=False)
    assert UdpPacket(buf).checksum == 0
    assert UdpRepr.parse(buf, SRC, DST) == UdpRepr(1, 2)
    assert UdpRepr.parse(buf, 0, 0) == UdpRepr(1, 2)


def test_computed_zero_is_sent_as_all_ones() -> None:
    # Choose a 2-byte payload that makes the ones' complement sum exactly 0xFFFF.
    length = HEADER_LEN + 2
    rest = ones_sum(struct.pack("!HHH", 1000, 2000, length)) + pseudo_ipv4(
        SRC, DST, PROTO_UDP, length
    )
    word = fold(rest)  # 0xFFFF - folded(rest): the word that completes the sum
    payload = word.to_bytes(2, "big")
    assert fold(rest + word) == 0
    buf = UdpRepr(1000, 2000).to_bytes(SRC, DST, payload)
    assert UdpPacket(buf).checksum == 0xFFFF
    assert bytes(buf) == reference_udp(SRC, DST, 1000, 2000, payload)
    assert UdpRepr.parse(buf, SRC, DST) == UdpRepr(1000, 2000)


def test_payload_is_cut_at_length() -> None:
    wire = reference_udp(SRC, DST, 5, 6, b"abc") + b"trailing"
    packet = UdpPacket(wire)
    assert bytes(packet.payload) == b"abc"
    assert UdpRepr.parse(packet, SRC, DST) == UdpRepr(5, 6)


@pytest.mark.parametrize("length", [0, 7, 12])
def test_bad_length(length: int) -> None:
    buf = bytearray(reference_udp(SRC, DST, 5, 6, b"abc"))
    struct.pack_into("!H", buf, 4, length)
    with pytest.raises(Malformed, match="udp length"):
        UdpPacket(buf)


def test_truncated() -> None:
    with pytest.raises(Malformed, match="udp truncated"):
        UdpPacket(bytes(7))


def test_destination_port_zero() -> None:
    with pytest.raises(Malformed, match="udp port 0"):
        UdpRepr.parse(reference_udp(SRC, DST, 5, 0, b""), SRC, DST)
    assert UdpRepr.parse(reference_udp(SRC, DST, 0, 7, b""), SRC, DST) == UdpRepr(0, 7)


def test_bad_checksum() -> None:
    buf = bytearray(reference_udp(SRC, DST, 5, 6, b"abc"))
    buf[-1] ^= 0x20
    with pytest.raises(Malformed, match="udp checksum"):
        UdpRepr.parse(buf, SRC, DST)
    assert UdpRepr.parse(buf, SRC, DST, verify_checksum=False) == UdpRepr(5, 6)


@given(udp_reprs, ipv4_addresses, ipv4_addresses, payloads)
def test_round_trip(repr_: UdpRepr, src: int, dst: int, payload: bytes) -> None:
    buf = repr_.to_bytes(src, dst, payload)
    assert len(buf) == repr_.buffer_len(len(payload))
    assert bytes(buf) == reference_udp(src, dst, repr_.src_port, repr_.dst_port, payload)
    packet = UdpPacket(buf)
    assert UdpRepr.parse(packet, src, dst) == repr_
    assert bytes(packet.payload) == payload


@given(udp_reprs, payloads)
def test_emit_at_offset(repr_: UdpRepr, payload: bytes) -> None:
    buf = bytearray(20 + HEADER_LEN + len(payload))
    repr_.emit(memoryview(buf), 20, SRC, DST, payload)
    packet = UdpPacket(memoryview(buf)[20:])
    assert UdpRepr.parse(packet, SRC, DST) == repr_
    assert bytes(packet.payload) == payload


@given(udp_reprs, payloads, st.data())
def test_single_byte_corruption_is_detected(
    repr_: UdpRepr, payload: bytes, data: st.DataObject
) -> None:
    buf = repr_.to_bytes(SRC, DST, payload)
    i = data.draw(st.integers(0, len(buf) - 1), label="index")
    buf[i] = data.draw(st.integers(0, 255).filter(lambda b: b != buf[i]), label="byte")
    try:
        packet = UdpPacket(buf)
        parsed = UdpRepr.parse(packet, SRC, DST)
    except Malformed:
        return
    # A checksum field corrupted to 0 reads as "no checksum" (RFC 768); else fields differ.
    assert packet.checksum == 0 or (parsed, bytes(packet.payload)) != (repr_, payload)


@given(st.binary(max_size=64), ipv4_addresses, ipv4_addresses, st.booleans())
def test_arbitrary_bytes_parse_or_malformed(data: bytes, src: int, dst: int, verify: bool) -> None:
    with contextlib.suppress(Malformed):
        UdpRepr.parse(data, src, dst, verify_checksum=verify)


@given(st.binary(min_size=8, max_size=64), st.data())
def test_plausible_lengths_parse_or_malformed(raw: bytes, data: st.DataObject) -> None:
    buf = bytearray(raw)
    struct.pack_into("!H", buf, 4, data.draw(st.integers(8, len(buf))))
    struct.pack_into("!H", buf, 6, 0)
    assume(buf[2:4] != b"\0\0")
    packet = UdpPacket(buf)
    assert UdpRepr.parse(packet, SRC, DST).src_port == packet.src_port


def test_emit_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        UdpRepr(1, 2).emit(bytearray(10), 0, SRC, DST, b"abc")
    with pytest.raises(ValueError):
        UdpRepr(1, 2).to_bytes(SRC, DST, bytes(0xFFFF - 20 - 7))
