"""ICMPv4 (RFC 792): known echo, errors, quotes, round-trips, corruption, robustness."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import icmpv4_reprs
from usnet_core.errors import Malformed
from usnet_core.wire.icmpv4 import (
    ADMIN_PROHIBITED,
    FRAG_NEEDED,
    HEADER_LEN,
    PORT_UNREACHABLE,
    QUOTE_MAX_LEN,
    TYPE_DEST_UNREACHABLE,
    TYPE_ECHO_REPLY,
    TYPE_ECHO_REQUEST,
    TYPE_PARAMETER_PROBLEM,
    TYPE_TIME_EXCEEDED,
    Icmpv4Packet,
    Icmpv4Repr,
    error_quote,
    is_error,
    parse_quote,
)
from usnet_core.wire.ipv4 import PROTO_UDP, Ipv4Repr
from usnet_core.wire.udp import UdpRepr

from .test_checksum import reference_checksum

# `ping` on Linux: id 0x0b1c, seq 1, 8-byte timestamp then bytes 0x10..0x37 (56 bytes).
PING_DATA = bytes.fromhex("5f3c8a6600000000") + bytes(range(0x10, 0x38))


def ping_bytes(icmp_type: int) -> bytes:
    """The echo message built by hand, checksummed by the reference implementation."""
    body = bytes([icmp_type, 0, 0, 0]) + bytes.fromhex("0b1c0001") + PING_DATA
    return body[:2] + reference_checksum(body).to_bytes(2, "big") + body[4:]


def test_known_echo_request() -> None:
    wire = ping_bytes(TYPE_ECHO_REQUEST)
    packet = Icmpv4Packet(wire)
    assert packet.verify_checksum()
    assert (packet.type, packet.code, packet.ident, packet.seq_no) == (8, 0, 0x0B1C, 1)
    repr_ = Icmpv4Repr.parse(packet)
    assert repr_ == Icmpv4Repr(TYPE_ECHO_REQUEST, 0, ident=0x0B1C, seq_no=1, data=PING_DATA)
    reply = Icmpv4Repr(TYPE_ECHO_REPLY, 0, repr_.ident, repr_.seq_no, data=repr_.data)
    assert bytes(reply.to_bytes()) == ping_bytes(TYPE_ECHO_REPLY)


def test_frag_needed_carries_mtu() -> None:
    quote = Ipv4Repr(0x0A000002, 0x0A000001, PROTO_UDP, 1472).to_bytes()[:28]
    repr_ = Icmpv4Repr(TYPE_DEST_UNREACHABLE, FRAG_NEEDED, mtu=1400, data=quote)
    buf = repr_.to_bytes()
    assert buf[4:8] == bytes.fromhex("00000578")
    packet = Icmpv4Packet(buf)
    assert packet.mtu == 1400
    assert Icmpv4Repr.parse(packet) == repr_


def test_parameter_problem_pointer() -> None:
    repr_ = Icmpv4Repr(TYPE_PARAMETER_PROBLEM, 0, pointer=9, data=bytes(28))
    buf = repr_.to_bytes()
    assert Icmpv4Packet(buf).pointer == 9
    assert Icmpv4Repr.parse(buf) == repr_


def test_unknown_type_parses_and_round_trips() -> None:
    body = bytes([42, 7, 0, 0, 1, 2, 3, 4]) + b"xyz"
    wire = body[:2] + reference_checksum(body).to_bytes(2, "big") + body[4:]
    repr_ = Icmpv4Repr.parse(wire)
    assert (repr_.type, repr_.code, bytes(repr_.data)) == (42, 7, b"xyz")
    assert bytes(repr_.to_bytes()) == wire


def test_error_types() -> None:
    assert is_error(TYPE_DEST_UNREACHABLE) and is_error(TYPE_TIME_EXCEEDED)
    assert is_error(TYPE_PARAMETER_PROBLEM)
    assert not is_error(TYPE_ECHO_REQUEST) and not is_error(TYPE_ECHO_REPLY)
    assert ADMIN_PROHIBITED == 13


@given(icmpv4_reprs)
def test_round_trip(repr_: Icmpv4Repr) -> None:
    buf = repr_.to_bytes()
    assert len(buf) == repr_.buffer_len
    packet = Icmpv4Packet(buf)
    assert packet.verify_checksum()
    assert packet.checksum == reference_checksum(bytes(buf[:2]) + b"\0\0" + bytes(buf[4:]))
    assert Icmpv4Repr.parse(packet) == repr_


@given(icmpv4_reprs)
def test_emit_at_offset(repr_: Icmpv4Repr) -> None:
    buf = bytearray(34 + repr_.buffer_len)
    repr_.emit(memoryview(buf), 34)
    assert Icmpv4Repr.parse(memoryview(buf)[34:]) == repr_


@given(icmpv4_reprs, st.data())
def test_single_byte_corruption_is_detected(repr_: Icmpv4Repr, data: st.DataObject) -> None:
    buf = repr_.to_bytes()
    i = data.draw(st.integers(0, len(buf) - 1), label="index")
    buf[i] = data.draw(st.integers(0, 255).filter(lambda b: b != buf[i]), label="byte")
    with pytest.raises(Malformed, match="icmpv4 checksum"):
        Icmpv4Repr.parse(buf)


@given(st.binary(max_size=64), st.booleans())
def test_arbitrary_bytes_parse_or_malformed(data: bytes, verify: bool) -> None:
    try:
        repr_ = Icmpv4Repr.parse(data, verify_checksum=verify)
    except Malformed as exc:
        assert exc.reason in ("icmpv4 truncated", "icmpv4 checksum")
        return
    assert repr_.buffer_len == len(data)
    if verify:
        assert bytes(repr_.to_bytes())[8:] == data[8:]


def test_truncated() -> None:
    with pytest.raises(Malformed, match="icmpv4 truncated"):
        Icmpv4Packet(bytes(7))


def _offending_datagram(payload_len: int) -> bytes:
    udp = UdpRepr(40000, 9).to_bytes(0x0A000001, 0x0A000002, bytes(payload_len))
    return bytes(Ipv4Repr(0x0A000001, 0x0A000002, PROTO_UDP, len(udp)).to_bytes(udp))


def test_error_quote_limits_and_padding() -> None:
    big = _offending_datagram(1000)
    assert len(error_quote(big)) == QUOTE_MAX_LEN == 576 - 20 - 8
    assert error_quote(big, max_len=28) == big[:28]
    small = _offending_datagram(2)
    assert error_quote(small + bytes(16)) == small  # Ethernet padding is not quoted
    assert error_quote(b"\x45") == b"\x45"


def test_parse_quote() -> None:
    quote = error_quote(_offending_datagram(1000))
    reply = Icmpv4Repr(TYPE_DEST_UNREACHABLE, PORT_UNREACHABLE, data=quote).to_bytes()
    inner = parse_quote(Icmpv4Repr.parse(reply).data)
    assert (inner.src, inner.dst, inner.protocol) == (0x0A000001, 0x0A000002, PROTO_UDP)
    assert struct.unpack_from("!HH", inner.payload) == (40000, 9)


@pytest.mark.parametrize(
    "data",
    [
        bytes(27),
        b"\x65" + bytes(27),  # not version 4
        b"\x44" + bytes(27),  # IHL below 5
        b"\x46" + bytes(29),  # options, but fewer than 8 bytes after them
    ],
)
def test_parse_quote_rejects(data: bytes) -> None:
    with pytest.raises(Malformed, match="icmpv4 quote"):
        parse_quote(data)


@given(st.binary(max_size=80))
def test_parse_quote_arbitrary_bytes(data: bytes) -> None:
    try:
        quote = parse_quote(data)
    except Malformed:
        return
    assert len(quote.payload) >= 8


def test_header_len() -> None:
    assert Icmpv4Repr.header_len == HEADER_LEN == 8
