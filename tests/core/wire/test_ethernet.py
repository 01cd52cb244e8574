"""Ethernet II: view, Repr round-trips, MAC helpers, and no exception but Malformed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import ethernet_reprs, mac_addresses, payloads
from usnet_core.errors import Malformed
from usnet_core.wire.ethernet import (
    BROADCAST,
    ETHERTYPE_ARP,
    ETHERTYPE_VLAN,
    HEADER_LEN,
    EthernetFrame,
    EthernetRepr,
    is_multicast_mac,
    mac_from_str,
    mac_to_str,
)

# A broadcast ARP frame as Linux sends it: header, 28-byte ARP, 18 bytes of padding.
ARP_FRAME = bytes.fromhex(
    "ffffffffffff" "525400123456" "0806"
    "0001080006040001" "525400123456" "c0a8010a" "000000000000" "c0a80101"
) + bytes(18)  # fmt: skip


def test_known_frame() -> None:
    frame = EthernetFrame(ARP_FRAME)
    assert frame.dst == BROADCAST
    assert frame.src == bytes.fromhex("525400123456")
    assert frame.ethertype == ETHERTYPE_ARP
    assert len(frame.payload) == 46
    assert EthernetRepr.parse(frame) == EthernetRepr(
        BROADCAST, bytes.fromhex("525400123456"), ETHERTYPE_ARP
    )


def test_vlan_tagged_frame_parses_with_its_tpid() -> None:
    frame = bytes(6) + bytes(6) + b"\x81\x00" + b"\x00\x05\x08\x00" + bytes(42)
    assert EthernetRepr.parse(frame).ethertype == ETHERTYPE_VLAN


@pytest.mark.parametrize("n", range(HEADER_LEN))
def test_truncated(n: int) -> None:
    with pytest.raises(Malformed, match="ethernet truncated"):
        EthernetFrame(bytes(n))


@given(ethernet_reprs, payloads)
def test_round_trip(repr_: EthernetRepr, payload: bytes) -> None:
    frame = repr_.to_bytes(payload)
    assert len(frame) == repr_.buffer_len + len(payload)
    assert EthernetRepr.parse(EthernetFrame(frame)) == repr_
    assert bytes(EthernetFrame(memoryview(frame)).payload) == payload


@given(ethernet_reprs)
def test_emit_at_offset(repr_: EthernetRepr) -> None:
    buf = bytearray(4 + HEADER_LEN)
    repr_.emit(memoryview(buf), 4)
    assert buf[:4] == bytes(4)
    assert EthernetRepr.parse(buf[4:]) == repr_


@given(st.binary(max_size=80))
def test_arbitrary_bytes_parse_or_malformed(data: bytes) -> None:
    try:
        EthernetRepr.parse(data)
    except Malformed:
        assert len(data) < HEADER_LEN


def test_emit_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        EthernetRepr(b"\x00" * 5, bytes(6), 0x0800).emit(bytearray(14))
    with pytest.raises(ValueError):
        EthernetRepr(bytes(6), bytes(6), 0x0800).emit(bytearray(13))


@given(mac_addresses)
def test_mac_string_round_trip(mac: bytes) -> None:
    text = mac_to_str(mac)
    assert len(text) == 17
    assert mac_from_str(text) == mac
    assert mac_from_str(text.upper().replace(":", "-")) == mac


def test_mac_strings() -> None:
    assert mac_to_str(b"\x02\x00\x00\x00\x00\x0a") == "02:00:00:00:00:0a"
    assert mac_from_str("02:00:00:00:00:0A") == b"\x02\x00\x00\x00\x00\x0a"
    assert is_multicast_mac(BROADCAST)
    assert is_multicast_mac(b"\x01\x00\x5e\x00\x00\x01")
    assert not is_multicast_mac(b"\x02\x00\x00\x00\x00\x01")


@pytest.mark.parametrize(
    "bad", ["", "02:00:00:00:00", "02:00:00:00:00:00:00", "2:00:00:00:00:00:0", "zz:00:00:00:00:00",
            "02:00:00:00:00:+1", "0200.0000.0000"],
)  # fmt: skip
def test_mac_from_str_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        mac_from_str(bad)
