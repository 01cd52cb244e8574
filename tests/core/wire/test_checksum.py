"""Internet checksum: the big-integer implementation against a word-by-word reference."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from usnet_core.wire.checksum import checksum, fold, ones_sum, pseudo_ipv4, verify


def reference_sum(data: bytes) -> int:
    """RFC 1071 done the slow, obvious way: add words, fold carries back in."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return total


def reference_checksum(data: bytes) -> int:
    return ~reference_sum(data) & 0xFFFF


def test_rfc1071_example() -> None:
    # RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2 after folding.
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert ones_sum(data) == 0xDDF2
    assert checksum(data) == 0x220D


def test_all_zero_is_positive_zero() -> None:
    assert ones_sum(b"") == 0
    assert ones_sum(b"\x00" * 7) == 0
    assert checksum(b"\x00\x00") == 0xFFFF


def test_nonzero_multiple_of_ffff_is_negative_zero() -> None:
    # The % 0xFFFF trick gives 0 here; ones' complement gives 0xFFFF (-0).
    assert ones_sum(b"\xff\xff") == 0xFFFF
    assert ones_sum(b"\x80\x00\x7f\xff") == 0xFFFF
    assert checksum(b"\xff\xff") == 0
    assert fold(0xFFFF * 3) == 0
    assert fold(0) == 0xFFFF


def test_odd_length_pads_with_zero() -> None:
    assert ones_sum(b"\x12") == 0x1200
    assert ones_sum(b"\x12\x34\x56") == 0x1234 + 0x5600


def test_accepts_every_buffer_type() -> None:
    data = bytes(range(1, 40))
    assert ones_sum(bytearray(data)) == ones_sum(memoryview(data)) == ones_sum(data)
    assert ones_sum(memoryview(data)[3:17]) == reference_sum(data[3:17])


@given(st.binary(max_size=2000))
def test_ones_sum_matches_reference(data: bytes) -> None:
    assert ones_sum(data) == reference_sum(data)
    assert checksum(data) == reference_checksum(data)


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_sums_of_even_parts_add_up(a: bytes, b: bytes) -> None:
    if len(a) % 2:
        a += b"\x00"
    assert fold(ones_sum(a) + ones_sum(b)) == reference_checksum(a + b)


@given(st.integers(0, 1 << 80))
def test_fold_matches_end_around_carry(s: int) -> None:
    t = s
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    assert fold(s) == ~t & 0xFFFF


@given(st.binary(max_size=500).map(lambda b: b if len(b) % 2 == 0 else b + b"\x00"))
def test_filled_in_checksum_verifies(data: bytes) -> None:
    # Append the checksum as a final word: the sum then folds to -0.
    buf = data + checksum(data).to_bytes(2, "big")
    assert verify(buf)


@given(
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 255),
    st.integers(0, 0xFFFF),
)
def test_pseudo_ipv4_matches_bytes(src: int, dst: int, proto: int, length: int) -> None:
    header = src.to_bytes(4, "big") + dst.to_bytes(4, "big") + bytes([0, proto])
    header += length.to_bytes(2, "big")
    assert fold(pseudo_ipv4(src, dst, proto, length)) == reference_checksum(header)


def test_verify_rejects_wrong_checksum() -> None:
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert verify(data + b"\x22\x0d")
    assert not verify(data + b"\x22\x0e")
    assert verify(data, initial=0x220D)
