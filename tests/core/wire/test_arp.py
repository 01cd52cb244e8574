"""ARP (RFC 826) for Ethernet/IPv4: known answer, round-trips, and robustness."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import arp_reprs
from usnet_core.errors import Malformed
from usnet_core.wire.arp import BUFFER_LEN, OP_REPLY, OP_REQUEST, ArpPacket, ArpRepr
from usnet_core.wire.ethernet import EthernetFrame
from usnet_core.wire.ipv4 import addr_from_str

# "Who has 192.168.1.1? Tell 192.168.1.10", as the Linux kernel builds it, in a padded frame.
ARP_REQUEST_FRAME = bytes.fromhex(
    "ffffffffffff" "525400123456" "0806"
    "0001" "0800" "06" "04" "0001"
    "525400123456" "c0a8010a"
    "000000000000" "c0a80101"
) + bytes(18)  # fmt: skip


def test_known_request() -> None:
    packet = ArpPacket(EthernetFrame(ARP_REQUEST_FRAME).payload)
    assert packet.operation == OP_REQUEST
    repr_ = ArpRepr.parse(packet)
    assert repr_ == ArpRepr(
        operation=OP_REQUEST,
        source_hw=bytes.fromhex("525400123456"),
        source_ip=addr_from_str("192.168.1.10"),
        target_hw=bytes(6),
        target_ip=addr_from_str("192.168.1.1"),
    )
    assert bytes(repr_.to_bytes()) == ARP_REQUEST_FRAME[14 : 14 + BUFFER_LEN]


def test_view_fields() -> None:
    packet = ArpPacket(ARP_REQUEST_FRAME[14:])
    assert packet.source_hw == bytes.fromhex("525400123456")
    assert packet.source_ip == 0xC0A8010A
    assert packet.target_hw == bytes(6)
    assert packet.target_ip == 0xC0A80101


@pytest.mark.parametrize(
    ("offset", "fmt", "value"),
    [(0, "!H", 6), (2, "!H", 0x86DD), (4, "!B", 8), (5, "!B", 16)],
)
def test_non_ethernet_ipv4_is_unsupported(offset: int, fmt: str, value: int) -> None:
    buf = bytearray(ARP_REQUEST_FRAME[14:])
    struct.pack_into(fmt, buf, offset, value)
    with pytest.raises(Malformed, match="arp unsupported"):
        ArpPacket(buf)


def test_unknown_operation() -> None:
    buf = bytearray(ARP_REQUEST_FRAME[14:])
    struct.pack_into("!H", buf, 6, 3)  # RARP request
    assert ArpPacket(buf).operation == 3
    with pytest.raises(Malformed, match="arp operation"):
        ArpRepr.parse(buf)


def test_truncated() -> None:
    with pytest.raises(Malformed, match="arp truncated"):
        ArpPacket(ARP_REQUEST_FRAME[14 : 14 + BUFFER_LEN - 1])


@given(arp_reprs)
def test_round_trip(repr_: ArpRepr) -> None:
    buf = repr_.to_bytes()
    assert len(buf) == repr_.buffer_len == BUFFER_LEN
    assert ArpRepr.parse(ArpPacket(buf)) == repr_
    assert ArpRepr.parse(memoryview(bytes(buf) + bytes(18))) == repr_


@given(arp_reprs)
def test_emit_at_offset(repr_: ArpRepr) -> None:
    buf = bytearray(14 + BUFFER_LEN)
    repr_.emit(buf, 14)
    assert ArpRepr.parse(memoryview(buf)[14:]) == repr_


@given(st.binary(max_size=60))
def test_arbitrary_bytes_parse_or_malformed(data: bytes) -> None:
    try:
        repr_ = ArpRepr.parse(data)
    except Malformed:
        return
    assert repr_.operation in (OP_REQUEST, OP_REPLY)


@given(st.binary(min_size=BUFFER_LEN, max_size=BUFFER_LEN))
def test_valid_header_with_arbitrary_body(body: bytes) -> None:
    data = bytes.fromhex("0001080006040002") + body[8:]
    repr_ = ArpRepr.parse(data)
    assert repr_.operation == OP_REPLY
    assert repr_.to_bytes() == data


def test_emit_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        ArpRepr(OP_REQUEST, bytes(5), 0, bytes(6), 0).emit(bytearray(BUFFER_LEN))
    with pytest.raises(ValueError):
        ArpRepr(OP_REQUEST, bytes(6), 0, bytes(6), 0).emit(bytearray(BUFFER_LEN), 1)
