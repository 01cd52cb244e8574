"""DNS messages (RFC 1035): a real response, names, compression limits, round-trips, fuzz."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies_dns import dns_reprs, names
from usnet_core.errors import Malformed
from usnet_core.wire.dns import (
    CLASS_IN,
    HEADER_LEN,
    RCODE_NXDOMAIN,
    TYPE_A,
    TYPE_CNAME,
    TYPE_OPT,
    DnsPacket,
    DnsQuestion,
    DnsRecord,
    DnsRepr,
    check_name,
    name_from_str,
    name_to_str,
    name_wire_len,
    names_equal,
)
from usnet_core.wire.ipv4 import addr_from_str

# A resolver's answer to "www.github.com A", compressed as servers do it, with EDNS.
REAL_RESPONSE = bytes.fromhex(
    "1a2b 8180 0001 0002 0000 0001"  # id, QR RD RA, 1 question, 2 answers, 1 additional
    "03777777 06676974687562 03636f6d 00"  # 12: www.github.com
    "0001 0001"  # A IN
    "c00c 0005 0001 00000e10 0002 c010"  # 32: -> www.github.com CNAME 3600 -> github.com
    "c010 0001 0001 0000003c 0004 8c527904"  # 46: github.com A 60 140.82.121.4
    "00 0029 1000 00000000 0000"  # 62: OPT, 4096-byte UDP payload
)
WWW = (b"www", b"github", b"com")
GITHUB = (b"github", b"com")


def header(ident: int = 1, flags: int = 0x8180, qd: int = 0, an: int = 0) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, 0, 0)


def rr(rtype: int, rdlength: int, rdata: bytes) -> bytes:
    """A record owned by the root, class IN, TTL 0, with the given rdlength field and data."""
    return b"\x00" + struct.pack("!HHIH", rtype, CLASS_IN, 0, rdlength) + rdata


def test_real_response() -> None:
    msg = DnsRepr.parse(REAL_RESPONSE)
    assert msg.ident == 0x1A2B
    assert msg.response and msg.recursion_desired and msg.recursion_available
    assert not (msg.truncated or msg.authoritative) and msg.rcode == 0
    assert msg.questions == (DnsQuestion(WWW, TYPE_A, CLASS_IN),)
    assert msg.answers == (
        DnsRecord(WWW, TYPE_CNAME, CLASS_IN, 3600, GITHUB),
        DnsRecord(GITHUB, TYPE_A, CLASS_IN, 60, addr_from_str("140.82.121.4")),
    )
    assert msg.authorities == ()
    assert msg.additionals == (DnsRecord((), TYPE_OPT, 4096, 0, b""),)
    view = DnsPacket(REAL_RESPONSE)
    assert (view.ident, view.response, view.opcode, view.rcode, view.truncated) == (
        0x1A2B, True, 0, 0, False,
    )  # fmt: skip
    assert (view.qdcount, view.ancount, view.nscount, view.arcount) == (1, 2, 0, 1)
    assert view.read_name(12) == (WWW, 28)
    assert view.read_name(32) == (WWW, 34)  # a pointer: the name ends after 2 octets
    # Emitting writes the names out in full; the meaning is the same.
    again = msg.to_bytes()
    assert len(again) == msg.buffer_len > len(REAL_RESPONSE)
    assert DnsRepr.parse(again) == msg
    assert DnsRepr.parse(bytearray(REAL_RESPONSE)) == DnsRepr.parse(memoryview(REAL_RESPONSE))


def test_query_bytes() -> None:
    query = DnsRepr.query(0xABCD, name_from_str("example.com"))
    wire = bytes.fromhex("abcd01000001000000000000076578616d706c6503636f6d0000010001")
    assert bytes(query.to_bytes()) == wire
    assert DnsRepr.parse(wire) == query


def test_trailing_octets_are_ignored() -> None:
    assert DnsRepr.parse(REAL_RESPONSE + b"\0\0junk") == DnsRepr.parse(REAL_RESPONSE)


def test_nxdomain_flags() -> None:
    msg = DnsRepr(ident=7, response=True, authoritative=True, rcode=RCODE_NXDOMAIN)
    view = DnsPacket(msg.to_bytes())
    assert view.rcode == RCODE_NXDOMAIN and view.flags == 0x8503


# -- names ---------------------------------------------------------------------------------


def test_name_text_forms() -> None:
    assert name_from_str("www.Example.com.") == (b"www", b"Example", b"com")
    assert name_from_str("") == name_from_str(".") == ()
    assert name_from_str("bücher.de") == (b"xn--bcher-kva", b"de")
    assert name_to_str(()) == "."
    assert name_to_str((b"a.b", b"c\\", b"\x00 x")) == "a\\.b.c\\\\.\\000\\032x"
    for bad in ("a..b", ".a", "x" * 64 + ".com", ".".join(["x" * 63] * 4)):
        with pytest.raises(ValueError):
            name_from_str(bad)
    assert names_equal((b"WwW", b"COM"), (b"www", b"com"))
    assert not names_equal((b"www",), (b"www", b"com"))
    assert not names_equal((b"\xc4",), (b"\xe4",))  # only ASCII folds (RFC 4343)


def test_name_length_limits() -> None:
    ok = (b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 61)
    too_long = (b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 62)
    assert name_wire_len(ok) == 255 and name_wire_len(too_long) == 256
    check_name(ok)
    with pytest.raises(ValueError):
        check_name(too_long)
    with pytest.raises(ValueError):
        check_name((b"",))
    with pytest.raises(ValueError):
        DnsRepr.query(1, too_long).to_bytes()
    wire = DnsRepr.query(1, ok).to_bytes()
    assert DnsRepr.parse(wire).questions[0].name == ok
    # Grow the last label by one octet in place: 256 octets must not parse.
    raw = bytearray(wire[:HEADER_LEN])
    for label in too_long:
        raw += bytes([len(label)]) + label
    raw += b"\0\0\1\0\1"
    with pytest.raises(Malformed, match="dns name too long"):
        DnsRepr.parse(raw)


def test_name_too_long_through_pointers() -> None:
    # Each name adds a 63-octet label in front of the previous one: 65, 129, 193, 257.
    body = bytearray(b"\x3f" + b"a" * 63 + b"\0")
    starts = [HEADER_LEN]
    for fill in b"bcd":
        starts.append(HEADER_LEN + len(body))
        body += b"\x3f" + bytes([fill]) * 63 + struct.pack("!H", 0xC000 | starts[-2])
    view = DnsPacket(header() + body)
    assert name_wire_len(view.read_name(starts[2])[0]) == 193
    with pytest.raises(Malformed, match="dns name too long"):
        view.read_name(starts[3])


@pytest.mark.parametrize(
    ("body", "start"),
    [
        (b"\xc0\x0c", 0),  # points at itself
        (b"\x01a\xc0\x0c", 0),  # a label, then back to that label: a loop
        (b"\xc0\x0e\xc0\x0c", 0),  # two pointers pointing at each other
        (b"\x01a\xc0\x10\x00\x01b\x00", 0),  # forward pointer
        (b"\xc0\x02", 0),  # into the header
        (b"\x01a\x00\x01b\xc0\x10", 3),  # into its own name's label
    ],
)
def test_bad_compression_pointers(body: bytes, start: int) -> None:
    view = DnsPacket(header() + body)
    with pytest.raises(Malformed, match="dns compression pointer"):
        view.read_name(HEADER_LEN + start)


@pytest.mark.parametrize(("hops", "ok"), [(127, True), (128, False)])
def test_pointer_hops_are_capped(hops: int, ok: bool) -> None:
    # Pointers to pointers, each one back: no loop, but without a cap a 64 KiB message
    # could make every name walk thousands of them.
    body = bytearray(b"\x01a\x00")
    previous = HEADER_LEN
    for _ in range(hops):
        here = HEADER_LEN + len(body)
        body += struct.pack("!H", 0xC000 | previous)
        previous = here
    view = DnsPacket(header() + body)
    if ok:
        assert view.read_name(previous) == ((b"a",), previous + 2)
    else:
        with pytest.raises(Malformed, match="dns compression pointer"):
            view.read_name(previous)


def test_valid_backward_pointer_into_a_name() -> None:
    # "a.b" at 12, then "c" + pointer to "b" (offset 14): c.b
    view = DnsPacket(header() + b"\x01a\x01b\x00\x01c\xc0\x0e")
    assert view.read_name(17) == ((b"c", b"b"), 21)


@pytest.mark.parametrize("octet", [0x40, 0x80, 0x7F, 0xBF])
def test_reserved_label_types(octet: int) -> None:
    with pytest.raises(Malformed, match="dns label type"):
        DnsPacket(header() + bytes([octet]) + b"x" * 70).read_name(HEADER_LEN)


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"\x00" * 11, "dns truncated"),
        (header(qd=1), "dns name truncated"),
        (header(qd=1) + b"\x03ab", "dns name truncated"),
        (header(qd=1) + b"\xc0", "dns name truncated"),
        (header(qd=1) + b"\x00\x00\x01\x00", "dns question truncated"),
        (header(an=1) + rr(TYPE_A, 0, b"")[:-1], "dns record truncated"),
        (header(an=1) + rr(TYPE_A, 4, b"\x01"), "dns rdata truncated"),
        (header(an=1) + rr(TYPE_A, 3, b"abc"), "dns a length"),
        (header(an=1) + rr(TYPE_CNAME, 2, b"\x00\x00"), "dns rdata length"),
        (header(an=1) + rr(TYPE_CNAME, 2, b"\x01a"), "dns name truncated"),
    ],
)
def test_truncated_and_inconsistent(wire: bytes, reason: str) -> None:
    with pytest.raises(Malformed) as info:
        DnsRepr.parse(wire)
    assert info.value.reason == reason


def test_cname_target_may_point_back_but_not_into_itself() -> None:
    base = header(qd=1, an=1) + b"\x01a\x00\x00\x01\x00\x01"  # question a. at 12
    good = base + b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x05\x00\x04\x01b\xc0\x0c"
    assert DnsRepr.parse(good).answers[0].data == (b"b", b"a")
    # rdata starts at 31: a pointer to 31 points at itself.
    bad = base + b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x05\x00\x02\xc0\x1f"
    with pytest.raises(Malformed, match="dns compression pointer"):
        DnsRepr.parse(bad)


def test_a_record_outside_class_in_keeps_raw_data() -> None:
    msg = DnsRepr(ident=1, answers=(DnsRecord((b"x",), TYPE_A, 3, 5, b"\1\2\3"),))
    assert DnsRepr.parse(msg.to_bytes()) == msg


def test_emit_rejects_what_parse_could_not_return() -> None:
    bad_records = [
        DnsRecord((), TYPE_A, CLASS_IN, 0, b"\1\2\3\4"),
        DnsRecord((), TYPE_A, CLASS_IN, 0, 1 << 32),
        DnsRecord((), TYPE_CNAME, CLASS_IN, 0, b"\0"),
        DnsRecord((), 16, CLASS_IN, 0, 5),
        DnsRecord((), 16, CLASS_IN, 1 << 32, b""),
        DnsRecord((), 1 << 16, CLASS_IN, 0, b""),
    ]
    for record in bad_records:
        with pytest.raises(ValueError):
            DnsRepr(ident=1, answers=(record,)).to_bytes()
    for msg in (DnsRepr(ident=1 << 16), DnsRepr(ident=1, rcode=16)):
        with pytest.raises(ValueError):
            msg.to_bytes()
    with pytest.raises(ValueError):
        DnsRepr(ident=1).emit(bytearray(11))


def test_emit_at_offset() -> None:
    msg = DnsRepr.parse(REAL_RESPONSE)
    buf = bytearray(5 + msg.buffer_len + 3)
    assert msg.emit(memoryview(buf), 5) == 5 + msg.buffer_len
    assert DnsRepr.parse(buf[5:]) == msg


# -- properties -----------------------------------------------------------------------------


@given(dns_reprs)
def test_round_trip(msg: DnsRepr) -> None:
    wire = msg.to_bytes()
    assert len(wire) == msg.buffer_len
    assert DnsRepr.parse(wire) == msg
    view = DnsPacket(wire)
    assert (view.ident, view.qdcount, view.ancount) == (
        msg.ident, len(msg.questions), len(msg.answers),
    )  # fmt: skip


@given(names)
def test_name_text_round_trip_for_hostnames(name: tuple[bytes, ...]) -> None:
    check_name(name)
    text = name_to_str(name)
    plain = all(
        label.isascii() and label.replace(b"-", b"").replace(b"_", b"").isalnum() for label in name
    )
    if plain:
        assert name_from_str(text) == name


@given(st.binary(max_size=600))
def test_arbitrary_bytes_only_malformed(data: bytes) -> None:
    with contextlib.suppress(Malformed):
        DnsRepr.parse(data)


@given(st.binary(max_size=64), st.integers(0, 8), st.integers(0, 8))
def test_arbitrary_sections_behind_a_header(body: bytes, qd: int, an: int) -> None:
    # A plausible header makes the parser reach the names and records.
    with contextlib.suppress(Malformed):
        DnsRepr.parse(header(qd=qd, an=an) + body)


@given(st.data())
def test_mutated_real_response_only_malformed(data: st.DataObject) -> None:
    wire = bytearray(REAL_RESPONSE)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(wire) - 1))
        wire[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wire)))
    with contextlib.suppress(Malformed):
        DnsRepr.parse(wire[:cut])
