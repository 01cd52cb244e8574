"""wire.tcp: sequence arithmetic, TcpPacket view, TcpRepr parse/emit."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies_tcp import ipv4_addrs, tcp_reprs, u32
from usnet_core.errors import Malformed
from usnet_core.wire import tcp
from usnet_core.wire.tcp import (
    ACK,
    CWR,
    ECE,
    FIN,
    PSH,
    RST,
    SYN,
    URG,
    TcpPacket,
    TcpRepr,
    seq_add,
    seq_diff,
    seq_ge,
    seq_gt,
    seq_in_window,
    seq_le,
    seq_lt,
)

SRC = 0xC0A8010A  # 192.168.1.10
DST = 0x5DB8D822  # 93.184.216.34


def reference_checksum(pseudo_and_segment: bytes) -> int:
    """RFC 1071 the slow, obvious way: add 16-bit words with end-around carry."""
    data = pseudo_and_segment + b"\x00" * (len(pseudo_and_segment) % 2)
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_header(src: int, dst: int, length: int) -> bytes:
    return (
        src.to_bytes(4, "big") + dst.to_bytes(4, "big") + bytes([0, 6]) + length.to_bytes(2, "big")
    )


def expected_sack_cap(r: TcpRepr) -> int:
    fixed = (4 if r.mss is not None else 0) + (4 if r.window_scale is not None else 0)
    if r.timestamp is not None:
        fixed += 12
    elif r.sack_permitted:
        fixed += 4
    return max(0, min(4, (40 - fixed - 4) // 8))


# --- flags -----------------------------------------------------------------------------


def test_flag_values() -> None:
    assert (FIN, SYN, RST, PSH, ACK, URG, ECE, CWR) == (1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80)


# --- sequence arithmetic ---------------------------------------------------------------


def test_seq_wraparound_examples() -> None:
    assert seq_add(0xFFFF_FFFF, 1) == 0
    assert seq_add(0, -1) == 0xFFFF_FFFF
    assert seq_diff(0, 0xFFFF_FFFF) == 1
    assert seq_diff(0xFFFF_FFFF, 0) == -1
    assert seq_diff(0x8000_0000, 0) == -(2**31)
    assert seq_lt(0xFFFF_FFF0, 5)
    assert seq_gt(5, 0xFFFF_FFF0)
    assert seq_le(7, 7) and seq_ge(7, 7)
    assert not seq_lt(7, 7) and not seq_gt(7, 7)
    assert seq_in_window(2, 0xFFFF_FFFE, 5)
    assert not seq_in_window(3, 0xFFFF_FFFE, 5)
    assert not seq_in_window(0xFFFF_FFFD, 0xFFFF_FFFE, 5)
    assert not seq_in_window(5, 5, 0)


@given(u32, st.integers(-(2**31) + 1, 2**31 - 1))
def test_seq_add_diff_compare(a: int, n: int) -> None:
    b = seq_add(a, n)
    assert 0 <= b <= 0xFFFF_FFFF
    assert seq_diff(b, a) == n
    assert seq_diff(a, b) == -n
    assert seq_lt(a, b) == (n > 0)
    assert seq_le(a, b) == (n >= 0)
    assert seq_gt(a, b) == (n < 0)
    assert seq_ge(a, b) == (n <= 0)
    assert seq_gt(b, a) == seq_lt(a, b)


@given(u32, u32)
def test_seq_diff_range(a: int, b: int) -> None:
    d = seq_diff(a, b)
    assert -(2**31) <= d < 2**31
    assert seq_add(b, d) == a


@given(u32, st.integers(0, 64), st.integers(-80, 80))
def test_seq_in_window_matches_enumeration(start: int, size: int, delta: int) -> None:
    x = (start + delta) % 2**32
    members = {(start + i) % 2**32 for i in range(size)}
    assert seq_in_window(x, start, size) == (x in members)


# --- known answer: a Linux SYN ---------------------------------------------------------

# 192.168.1.10:54321 -> 93.184.216.34:80, seq 0x1a2b3c4d, SYN, window 64240,
# MSS 1460 | SACK_PERM TS(3107612, 0) | NOP WS 7: what Linux sends for a connect().
LINUX_SYN_NO_CSUM = bytes.fromhex(
    "d431 0050 1a2b3c4d 00000000 a0 02 faf0 0000 0000020405b4 0402080a 002f6b1c 00000000 01030307"
)


def linux_syn() -> bytes:
    csum = reference_checksum(pseudo_header(SRC, DST, 40) + LINUX_SYN_NO_CSUM)
    return LINUX_SYN_NO_CSUM[:16] + csum.to_bytes(2, "big") + LINUX_SYN_NO_CSUM[18:]


def test_linux_syn_known_answer() -> None:
    segment = linux_syn()
    r = TcpRepr.parse(segment, SRC, DST)
    assert r.src_port == 54321
    assert r.dst_port == 80
    assert r.seq == 0x1A2B3C4D
    assert r.ack == 0
    assert r.flags == SYN
    assert r.window == 64240
    assert r.urgent == 0
    assert r.mss == 1460
    assert r.sack_permitted is True
    assert r.timestamp == (3107612, 0)
    assert r.window_scale == 7
    assert r.sack_blocks == ()
    assert bytes(r.payload) == b""
    assert r.header_len == 40
    assert r.buffer_len == 40
    assert r.seg_len == 1
    assert r.to_bytes(SRC, DST) == segment
    # The same segment built from scratch, not from a parse.
    built = TcpRepr(
        54321, 80, 0x1A2B3C4D, 0, SYN, 64240,
        mss=1460, window_scale=7, sack_permitted=True, timestamp=(3107612, 0),
    )  # fmt: skip
    assert built.to_bytes(SRC, DST) == segment


def test_linux_syn_view_fields() -> None:
    segment = linux_syn()
    p = TcpPacket(segment)
    assert (p.src_port, p.dst_port, p.seq, p.ack) == (54321, 80, 0x1A2B3C4D, 0)
    assert (p.header_len, p.flags, p.window, p.urgent) == (40, SYN, 64240, 0)
    assert p.checksum == int.from_bytes(segment[16:18], "big")
    assert bytes(p.options) == LINUX_SYN_NO_CSUM[20:]
    assert bytes(p.payload) == b""
    assert p.verify_checksum(SRC, DST)
    assert not p.verify_checksum(SRC, DST ^ 1)


def test_non_syn_layout_ts_then_sack() -> None:
    r = TcpRepr(80, 54321, 1, 2, ACK, 500, timestamp=(7, 9), sack_blocks=((100, 200), (300, 400)))
    out = r.to_bytes(SRC, DST)
    assert out[20:32] == bytes.fromhex("0101080a 00000007 00000009")
    assert out[32:36] == bytes.fromhex("0101 0512")
    assert out[36:52] == bytes.fromhex("00000064 000000c8 0000012c 00000190")
    assert r.header_len == 52 and len(out) == 52


def test_syn_sack_perm_without_timestamps_layout() -> None:
    r = TcpRepr(1, 2, 0, 0, SYN, 0, mss=536, sack_permitted=True)
    assert r.to_bytes(SRC, DST)[20:28] == bytes.fromhex("02040218 01010402")


def test_sack_blocks_capped() -> None:
    blocks = tuple((i, i + 1) for i in range(6))
    with_ts = TcpRepr(1, 2, 0, 0, ACK, 0, sack_blocks=blocks, timestamp=(1, 2))
    parsed = TcpRepr.parse(with_ts.to_bytes(SRC, DST), SRC, DST)
    assert parsed.sack_blocks == blocks[:3]
    assert with_ts.header_len == 60
    without = TcpRepr(1, 2, 0, 0, ACK, 0, sack_blocks=blocks)
    parsed = TcpRepr.parse(without.to_bytes(SRC, DST), SRC, DST)
    assert parsed.sack_blocks == blocks[:4]
    assert without.header_len == 56


# --- round trip ------------------------------------------------------------------------


@given(tcp_reprs(), ipv4_addrs, ipv4_addrs)
def test_emit_parse_round_trip(r: TcpRepr, src: int, dst: int) -> None:
    out = r.to_bytes(src, dst)
    assert len(out) == r.buffer_len
    assert r.header_len <= 60 and r.header_len % 4 == 0
    parsed = TcpRepr.parse(out, src, dst)
    expected = dataclasses.replace(r, sack_blocks=r.sack_blocks[: expected_sack_cap(r)])
    assert parsed == expected
    assert parsed.header_len == r.header_len
    assert parsed.seg_len == len(r.payload) + bool(r.flags & SYN) + bool(r.flags & FIN)
    view = TcpPacket(out)
    assert view.verify_checksum(src, dst)
    assert bytes(view.payload) == r.payload
    assert (view.seq, view.ack, view.flags, view.window) == (r.seq, r.ack, r.flags, r.window)


@given(tcp_reprs(max_payload=16), st.integers(0, 16), st.integers(0, 16))
def test_emit_at_offset_leaves_surroundings(r: TcpRepr, before: int, after: int) -> None:
    buf = bytearray(b"\xaa" * (before + r.buffer_len + after))
    r.emit(memoryview(buf), before, SRC, DST)
    assert buf[:before] == b"\xaa" * before
    assert buf[before + r.buffer_len :] == b"\xaa" * after
    assert buf[before : before + r.buffer_len] == r.to_bytes(SRC, DST)


def test_emit_without_checksum_leaves_zero() -> None:
    r = TcpRepr(1, 2, 3, 4, ACK, 5, payload=b"hi")
    buf = bytearray(r.buffer_len)
    r.emit(buf, 0, SRC, DST, checksum=False)
    assert buf[16:18] == b"\x00\x00"
    assert TcpRepr.parse(buf, SRC, DST, verify_checksum=False) == r


def test_emit_rejects_small_buffer_and_bad_fields() -> None:
    r = TcpRepr(1, 2, 3, 4, ACK, 5, payload=b"hi")
    with pytest.raises(ValueError):
        r.emit(bytearray(r.buffer_len - 1), 0, SRC, DST)
    with pytest.raises(ValueError):
        TcpRepr(1, 70000, 3, 4, ACK, 5).to_bytes(SRC, DST)


def test_parse_payload_is_zero_copy() -> None:
    out = TcpRepr(1, 2, 3, 4, ACK | PSH, 5, payload=b"hello").to_bytes(SRC, DST)
    r = TcpRepr.parse(out, SRC, DST)
    assert isinstance(r.payload, memoryview)
    out[-1] = ord("!")
    assert bytes(r.payload) == b"hell!"


# --- corruption and garbage ------------------------------------------------------------


@given(tcp_reprs(), st.data())
def test_single_byte_corruption_detected(r: TcpRepr, data: st.DataObject) -> None:
    out = r.to_bytes(SRC, DST)
    i = data.draw(st.integers(0, len(out) - 1))
    out[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(Malformed):
        TcpRepr.parse(out, SRC, DST)


def _touch_everything(buf: bytes) -> None:
    try:
        p = TcpPacket(buf)
        _ = (p.src_port, p.dst_port, p.seq, p.ack, p.header_len, p.flags, p.window)
        _ = (p.checksum, p.urgent, bytes(p.options), bytes(p.payload))
        p.verify_checksum(SRC, DST)
    except Malformed:
        pass
    for verify in (True, False):
        try:
            r = TcpRepr.parse(buf, SRC, DST, verify_checksum=verify)
        except Malformed:
            continue
        assert r.src_port and r.dst_port
        assert r.window_scale is None or r.window_scale <= 14
        assert len(r.sack_blocks) <= 4


@given(st.binary(max_size=80))
def test_arbitrary_bytes_only_malformed(buf: bytes) -> None:
    _touch_everything(buf)


@given(st.binary(min_size=20, max_size=20), st.integers(0, 15), st.binary(max_size=44))
def test_arbitrary_options_only_malformed(fixed: bytes, offset: int, rest: bytes) -> None:
    # Force a plausible data offset so the option parser itself is exercised.
    buf = fixed[:12] + bytes([offset << 4]) + fixed[13:] + rest
    _touch_everything(buf)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (bytes([8, 10, 0, 0]), "tcp option"),  # timestamps need 10, 4 left
        (bytes([2, 1, 0, 0]), "tcp option"),  # length < 2
        (bytes([2, 0, 0, 0]), "tcp option"),  # length 0 would loop forever
        (bytes([1, 1, 1, 8]), "tcp option"),  # last octet is a kind without length
        (bytes([1, 1, 30, 8]), "tcp option"),  # runs past the header
    ],
)
def test_bad_options_rejected(options: bytes, reason: str) -> None:
    header = bytearray(TcpRepr(1, 2, 0, 0, ACK, 0).to_bytes(SRC, DST))
    header[12] = (20 + len(options)) // 4 << 4
    buf = header + options
    with pytest.raises(Malformed) as info:
        TcpRepr.parse(buf, SRC, DST, verify_checksum=False)
    assert info.value.reason == reason


def _with_options(options: bytes, flags: int = SYN) -> bytes:
    assert len(options) % 4 == 0
    r = TcpRepr(1, 2, 0, 0, flags, 0)
    out = bytearray(r.to_bytes(SRC, DST)) + options
    out[12] = (20 + len(options)) // 4 << 4
    out[16:18] = b"\x00\x00"
    csum = reference_checksum(pseudo_header(SRC, DST, len(out)) + bytes(out))
    out[16:18] = csum.to_bytes(2, "big")
    return bytes(out)


def test_window_scale_capped_at_14() -> None:
    r = TcpRepr.parse(_with_options(bytes([1, 3, 3, 15])), SRC, DST)
    assert r.window_scale == 14  # RFC 7323 2.3


def test_unknown_option_skipped_and_eol_stops() -> None:
    # kind 254 (experimental, len 4), then MSS, then EOL followed by junk.
    opts = bytes([254, 4, 0xAB, 0xCD, 2, 4, 0x05, 0xB4, 0, 2, 1, 0])
    r = TcpRepr.parse(_with_options(opts), SRC, DST)
    assert r.mss == 1460
    assert r.window_scale is None


def test_known_option_with_wrong_length_is_ignored() -> None:
    opts = bytes([2, 3, 5, 1, 8, 6, 0, 0, 0, 0, 1, 1])  # MSS len 3, TS len 6
    r = TcpRepr.parse(_with_options(opts), SRC, DST)
    assert r.mss is None and r.timestamp is None


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_sack_option_lengths(count: int) -> None:
    blocks = b"".join(
        (i * 10).to_bytes(4, "big") + (i * 10 + 5).to_bytes(4, "big") for i in range(count)
    )
    opts = bytes([1, 1, 5, 2 + 8 * count]) + blocks
    r = TcpRepr.parse(_with_options(opts, ACK), SRC, DST)
    assert r.sack_blocks == tuple((i * 10, i * 10 + 5) for i in range(count))


def test_syn_rst_and_port_zero_rejected() -> None:
    with pytest.raises(Malformed):
        TcpRepr.parse(TcpRepr(1, 2, 0, 0, SYN | RST, 0).to_bytes(SRC, DST), SRC, DST)
    with pytest.raises(Malformed):
        TcpRepr.parse(TcpRepr(0, 2, 0, 0, ACK, 0).to_bytes(SRC, DST), SRC, DST)
    with pytest.raises(Malformed):
        TcpRepr.parse(TcpRepr(1, 0, 0, 0, ACK, 0).to_bytes(SRC, DST), SRC, DST)


@pytest.mark.parametrize(
    "buf",
    [b"", b"\x00" * 19, bytes(12) + b"\x40" + bytes(7), bytes(12) + b"\x60" + bytes(7)],
)
def test_view_checks_lengths(buf: bytes) -> None:
    with pytest.raises(Malformed):
        TcpPacket(buf)


def test_checksum_uses_pseudo_header() -> None:
    out = TcpRepr(1, 2, 3, 4, ACK, 5, payload=b"abc").to_bytes(SRC, DST)
    expected = reference_checksum(
        pseudo_header(SRC, DST, len(out)) + bytes(out[:16]) + b"\0\0" + bytes(out[18:])
    )
    assert int.from_bytes(out[16:18], "big") == expected
    with pytest.raises(Malformed):
        TcpRepr.parse(out, SRC, DST + 1)


def test_public_names() -> None:
    assert {"TcpPacket", "TcpRepr", "seq_in_window"} <= set(tcp.__all__)
