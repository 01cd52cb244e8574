"""DNS messages (RFC 1035 4): the message view, its Repr, questions, records and names.

Names are tuples of raw labels (`(b"www", b"example", b"com")`; the root is `()`), compared
without regard to ASCII case (RFC 4343). Parsing follows compression pointers (RFC 1035
4.1.4) under the rules of RFC 9267: a pointer must point before the name (or name part) that
contains it, never into the header, and a decompressed name stays within 255 octets. So a
pointer loop cannot make the parser spin; it raises Malformed like any other fault.
A (class IN) and CNAME records are decoded; every other type keeps its raw rdata, skipped by
rdlength. Emitting writes names uncompressed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, TypeAlias

from usnet_core.errors import Malformed
from usnet_core.wire.checksum import Buffer

__all__ = [
    "CLASS_IN",
    "HEADER_LEN",
    "MAX_LABEL_LEN",
    "MAX_NAME_LEN",
    "OPCODE_QUERY",
    "RCODE_FORMERR",
    "RCODE_NOERROR",
    "RCODE_NOTIMP",
    "RCODE_NXDOMAIN",
    "RCODE_REFUSED",
    "RCODE_SERVFAIL",
    "TYPE_A",
    "TYPE_AAAA",
    "TYPE_CNAME",
    "TYPE_MX",
    "TYPE_NS",
    "TYPE_OPT",
    "TYPE_PTR",
    "TYPE_SOA",
    "TYPE_TXT",
    "DnsPacket",
    "DnsQuestion",
    "DnsRecord",
    "DnsRepr",
    "Name",
    "RData",
    "check_name",
    "name_from_str",
    "name_to_str",
    "name_wire_len",
    "names_equal",
]

Name: TypeAlias = tuple[bytes, ...]
"""A domain name as its labels, most specific first; `()` is the root."""

RData: TypeAlias = int | Name | bytes
"""Record data: an IPv4 address (A, class IN), a Name (CNAME), or raw rdata bytes."""

HEADER_LEN = 12
MAX_NAME_LEN = 255  # RFC 1035 2.3.4: wire form, length octets and the root label included
MAX_LABEL_LEN = 63
# A name of 255 octets has at most 127 labels, so no sane encoding needs more pointers;
# the cap bounds the work per name however a message chains its pointers.
_MAX_POINTERS = 127

TYPE_A = 1
TYPE_NS = 2
TYPE_CNAME = 5
TYPE_SOA = 6
TYPE_PTR = 12
TYPE_MX = 15
TYPE_TXT = 16
TYPE_AAAA = 28
TYPE_OPT = 41
CLASS_IN = 1

OPCODE_QUERY = 0
RCODE_NOERROR = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4
RCODE_REFUSED = 5

_HEADER = struct.Struct("!HHHHHH")
_QFIXED = struct.Struct("!HH")  # type, class
_RFIXED = struct.Struct("!HHIH")  # type, class, ttl, rdlength
_FLAG_QR = 0x8000
_FLAG_AA = 0x0400
_FLAG_TC = 0x0200
_FLAG_RD = 0x0100
_FLAG_RA = 0x0080
_FLAG_AD = 0x0020
_FLAG_CD = 0x0010


# ---------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------


def names_equal(a: Name, b: Name) -> bool:
    """True when two names are the same, ignoring ASCII case (RFC 4343)."""
    return len(a) == len(b) and all(x.lower() == y.lower() for x, y in zip(a, b, strict=True))


def name_wire_len(name: Name) -> int:
    """Octets the name takes uncompressed on the wire (length octets and root included)."""
    return sum(len(label) for label in name) + len(name) + 1


def check_name(name: Name) -> None:
    """Raise ValueError unless every label is 1..63 octets and the name fits 255 octets."""
    for label in name:
        if not 1 <= len(label) <= MAX_LABEL_LEN:
            raise ValueError(f"DNS label must be 1..{MAX_LABEL_LEN} octets: {label!r}")
    if name_wire_len(name) > MAX_NAME_LEN:
        raise ValueError(f"DNS name longer than {MAX_NAME_LEN} octets")


def name_from_str(text: str) -> Name:
    """`"www.example.com"` (a trailing dot is allowed) as a Name; ValueError if invalid.

    Non-ASCII labels are IDNA-encoded; no backslash escapes are interpreted.
    """
    if text in ("", "."):
        return ()
    body = text[:-1] if text.endswith(".") else text
    labels: list[bytes] = []
    for part in body.split("."):
        if not part:
            raise ValueError(f"empty label in DNS name {text!r}")
        labels.append(part.encode("ascii") if part.isascii() else part.encode("idna"))
    name = tuple(labels)
    check_name(name)
    return name


def name_to_str(name: Name) -> str:
    """Presentation form without the trailing dot ("." for the root); odd octets as \\DDD."""
    if not name:
        return "."
    return ".".join(_label_text(label) for label in name)


def _label_text(label: bytes) -> str:
    out: list[str] = []
    for octet in label:
        if octet in b".\\":
            out.append("\\" + chr(octet))
        elif 0x21 <= octet <= 0x7E:
            out.append(chr(octet))
        else:
            out.append(f"\\{octet:03d}")
    return "".join(out)


def _read_name(mv: memoryview, offset: int) -> tuple[Name, int]:
    """The name at `offset` and the offset just after it in place (not after a pointer)."""
    labels: list[bytes] = []
    length = 1  # the root label's length octet
    pos = offset
    floor = offset  # RFC 9267 2: a pointer must point before the part that holds it
    end = -1
    limit = len(mv)
    hops = 0
    while True:
        if pos >= limit:
            raise Malformed("dns name truncated")
        octet = mv[pos]
        kind = octet & 0xC0
        if kind == 0xC0:
            if pos + 1 >= limit:
                raise Malformed("dns name truncated")
            target = (octet & 0x3F) << 8 | mv[pos + 1]
            if end < 0:
                end = pos + 2
            hops += 1
            if target >= floor or target < HEADER_LEN or hops > _MAX_POINTERS:
                raise Malformed("dns compression pointer")
            pos = floor = target
        elif kind == 0:
            if octet == 0:
                return tuple(labels), (pos + 1 if end < 0 else end)
            length += octet + 1
            if length > MAX_NAME_LEN:
                raise Malformed("dns name too long")
            if pos + 1 + octet > limit:
                raise Malformed("dns name truncated")
            labels.append(bytes(mv[pos + 1 : pos + 1 + octet]))
            pos += 1 + octet
        else:
            # 0x40 and 0x80 are the extended label types RFC 6891 5 retired.
            raise Malformed("dns label type")


def _write_name(buf: bytearray | memoryview, offset: int, name: Name) -> int:
    for label in name:
        buf[offset] = len(label)
        buf[offset + 1 : offset + 1 + len(label)] = label
        offset += 1 + len(label)
    buf[offset] = 0
    return offset + 1


# ---------------------------------------------------------------------------------------
# The message view
# ---------------------------------------------------------------------------------------


class DnsPacket:
    """Read-only view of a DNS message; the constructor checks that the header is there.

    The sections are variable-length and compressed; `DnsRepr.parse` walks them.
    """

    __slots__ = ("_mv",)

    _mv: memoryview

    def __init__(self, buf: Buffer) -> None:
        mv = memoryview(buf)
        if len(mv) < HEADER_LEN:
            raise Malformed("dns truncated")
        self._mv = mv

    def _u16(self, offset: int) -> int:
        value: int = struct.unpack_from("!H", self._mv, offset)[0]
        return value

    @property
    def ident(self) -> int:
        """The ID that pairs a response with its query."""
        return self._u16(0)

    @property
    def flags(self) -> int:
        """The second header word: QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode."""
        return self._u16(2)

    @property
    def response(self) -> bool:
        """QR: a response, not a query."""
        return bool(self.flags & _FLAG_QR)

    @property
    def opcode(self) -> int:
        """Kind of query (OPCODE_QUERY for a standard one)."""
        return self.flags >> 11 & 0xF

    @property
    def truncated(self) -> bool:
        """TC: the message was cut to fit the transport."""
        return bool(self.flags & _FLAG_TC)

    @property
    def rcode(self) -> int:
        """Response code (RCODE_NOERROR, RCODE_NXDOMAIN, ...), the header's 4 bits."""
        return self.flags & 0xF

    @property
    def qdcount(self) -> int:
        """Number of questions."""
        return self._u16(4)

    @property
    def ancount(self) -> int:
        """Number of answer records."""
        return self._u16(6)

    @property
    def nscount(self) -> int:
        """Number of authority records."""
        return self._u16(8)

    @property
    def arcount(self) -> int:
        """Number of additional records."""
        return self._u16(10)

    def read_name(self, offset: int) -> tuple[Name, int]:
        """The (decompressed) name at `offset` and the offset after it; Malformed if bad."""
        if not 0 <= offset < len(self._mv):
            raise Malformed("dns name truncated")
        return _read_name(self._mv, offset)


# ---------------------------------------------------------------------------------------
# Reprs
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DnsQuestion:
    """One entry of the question section."""

    name: Name
    qtype: int = TYPE_A
    qclass: int = CLASS_IN

    def matches(self, other: DnsQuestion) -> bool:
        """Same type and class, and the same name ignoring case."""
        return (
            self.qtype == other.qtype
            and self.qclass == other.qclass
            and names_equal(self.name, other.name)
        )


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """One resource record; `data` is an int for A (class IN), a Name for CNAME, else bytes.

    `ttl` is the raw 32-bit field (RFC 2181 8 says to read values above 2**31 - 1 as 0).
    """

    name: Name
    rtype: int
    rclass: int
    ttl: int
    data: RData

    def _rdata(self) -> bytes:
        """The rdata octets to emit; ValueError if `data` does not fit the type."""
        data = self.data
        if self.rtype == TYPE_A and self.rclass == CLASS_IN:
            if not isinstance(data, int) or not 0 <= data <= 0xFFFFFFFF:
                raise ValueError("an A record's data must be an IPv4 address as an int")
            return data.to_bytes(4, "big")
        if self.rtype == TYPE_CNAME:
            if not isinstance(data, tuple):
                raise ValueError("a CNAME record's data must be a Name")
            check_name(data)
            out = bytearray(name_wire_len(data))
            _write_name(out, 0, data)
            return bytes(out)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ValueError(f"type {self.rtype} record data must be bytes")
        if len(data) > 0xFFFF:
            raise ValueError("rdata longer than 65535 octets")
        return bytes(data)


def _parse_record(mv: memoryview, offset: int) -> tuple[DnsRecord, int]:
    name, pos = _read_name(mv, offset)
    if pos + _RFIXED.size > len(mv):
        raise Malformed("dns record truncated")
    rtype, rclass, ttl, rdlength = _RFIXED.unpack_from(mv, pos)
    start = pos + _RFIXED.size
    end = start + rdlength
    if end > len(mv):
        raise Malformed("dns rdata truncated")
    data: RData
    if rtype == TYPE_A and rclass == CLASS_IN:
        if rdlength != 4:
            raise Malformed("dns a length")
        data = int.from_bytes(mv[start:end], "big")
    elif rtype == TYPE_CNAME:
        target, after = _read_name(mv, start)
        if after != end:
            raise Malformed("dns rdata length")
        data = target
    else:
        data = bytes(mv[start:end])
    return DnsRecord(name, rtype, rclass, ttl, data), end


@dataclass(frozen=True, slots=True)
class DnsRepr:
    """The meaning of a DNS message: header flags and the four sections.

    The header's Z bit is dropped; `rcode` is the header's 4 bits (EDNS extended rcodes
    stay in the OPT record, a raw additional record).
    """

    ident: int
    response: bool = False
    opcode: int = OPCODE_QUERY
    authoritative: bool = False
    truncated: bool = False
    recursion_desired: bool = True
    recursion_available: bool = False
    authentic_data: bool = False
    checking_disabled: bool = False
    rcode: int = RCODE_NOERROR
    questions: tuple[DnsQuestion, ...] = ()
    answers: tuple[DnsRecord, ...] = ()
    authorities: tuple[DnsRecord, ...] = ()
    additionals: tuple[DnsRecord, ...] = ()

    header_len: ClassVar[int] = HEADER_LEN

    @classmethod
    def query(cls, ident: int, name: Name, qtype: int = TYPE_A) -> DnsRepr:
        """A standard recursive query for one name (class IN)."""
        return cls(ident=ident, questions=(DnsQuestion(name, qtype),))

    @classmethod
    def parse(cls, packet: DnsPacket | Buffer) -> DnsRepr:
        """Repr of a message (a view, or raw bytes checked first); Malformed if anything is
        out of bounds, a count promises more than the message holds, or a name is bad.

        Octets after the last record are ignored.
        """
        if not isinstance(packet, DnsPacket):
            packet = DnsPacket(packet)
        mv = packet._mv
        ident, flags, qd, an, ns, ar = _HEADER.unpack_from(mv, 0)
        pos = HEADER_LEN
        questions: list[DnsQuestion] = []
        for _ in range(qd):
            name, pos = _read_name(mv, pos)
            if pos + _QFIXED.size > len(mv):
                raise Malformed("dns question truncated")
            qtype, qclass = _QFIXED.unpack_from(mv, pos)
            pos += _QFIXED.size
            questions.append(DnsQuestion(name, qtype, qclass))
        sections: list[tuple[DnsRecord, ...]] = []
        for count in (an, ns, ar):
            records: list[DnsRecord] = []
            for _ in range(count):
                record, pos = _parse_record(mv, pos)
                records.append(record)
            sections.append(tuple(records))
        return cls(
            ident=ident,
            response=bool(flags & _FLAG_QR),
            opcode=flags >> 11 & 0xF,
            authoritative=bool(flags & _FLAG_AA),
            truncated=bool(flags & _FLAG_TC),
            recursion_desired=bool(flags & _FLAG_RD),
            recursion_available=bool(flags & _FLAG_RA),
            authentic_data=bool(flags & _FLAG_AD),
            checking_disabled=bool(flags & _FLAG_CD),
            rcode=flags & 0xF,
            questions=tuple(questions),
            answers=sections[0],
            authorities=sections[1],
            additionals=sections[2],
        )

    @property
    def flags(self) -> int:
        """The second header word as emitted."""
        return (
            (_FLAG_QR if self.response else 0)
            | (self.opcode & 0xF) << 11
            | (_FLAG_AA if self.authoritative else 0)
            | (_FLAG_TC if self.truncated else 0)
            | (_FLAG_RD if self.recursion_desired else 0)
            | (_FLAG_RA if self.recursion_available else 0)
            | (_FLAG_AD if self.authentic_data else 0)
            | (_FLAG_CD if self.checking_disabled else 0)
            | (self.rcode & 0xF)
        )

    def _records(self) -> list[tuple[DnsRecord, bytes]]:
        return [
            (record, record._rdata())
            for section in (self.answers, self.authorities, self.additionals)
            for record in section
        ]

    @property
    def buffer_len(self) -> int:
        """Octets the message takes (names uncompressed)."""
        size = HEADER_LEN
        for q in self.questions:
            size += name_wire_len(q.name) + _QFIXED.size
        for record, rdata in self._records():
            size += name_wire_len(record.name) + _RFIXED.size + len(rdata)
        return size

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> int:
        """Write the message at `offset`; returns the offset after it.

        ValueError for fields out of range, bad names, data that does not fit the record
        type, more than 65535 entries in a section, or a buffer too small.
        """
        if not 0 <= self.ident <= 0xFFFF:
            raise ValueError("DNS ID must be 0..65535")
        if not 0 <= self.opcode <= 0xF or not 0 <= self.rcode <= 0xF:
            raise ValueError("opcode and rcode must be 0..15")
        counts = (
            len(self.questions),
            len(self.answers),
            len(self.authorities),
            len(self.additionals),
        )
        if max(counts) > 0xFFFF:
            raise ValueError("more than 65535 entries in a section")
        records = self._records()
        size = HEADER_LEN
        for q in self.questions:
            check_name(q.name)
            if not 0 <= q.qtype <= 0xFFFF or not 0 <= q.qclass <= 0xFFFF:
                raise ValueError("question type and class must be 0..65535")
            size += name_wire_len(q.name) + _QFIXED.size
        for record, rdata in records:
            check_name(record.name)
            if not (0 <= record.rtype <= 0xFFFF and 0 <= record.rclass <= 0xFFFF):
                raise ValueError("record type and class must be 0..65535")
            if not 0 <= record.ttl <= 0xFFFFFFFF:
                raise ValueError("TTL must be 0..2**32-1")
            size += name_wire_len(record.name) + _RFIXED.size + len(rdata)
        if len(buf) < offset + size:
            raise ValueError("buffer too small for the DNS message")
        _HEADER.pack_into(buf, offset, self.ident, self.flags, *counts)
        pos = offset + HEADER_LEN
        for q in self.questions:
            pos = _write_name(buf, pos, q.name)
            _QFIXED.pack_into(buf, pos, q.qtype, q.qclass)
            pos += _QFIXED.size
        for record, rdata in records:
            pos = _write_name(buf, pos, record.name)
            _RFIXED.pack_into(buf, pos, record.rtype, record.rclass, record.ttl, len(rdata))
            pos += _RFIXED.size
            buf[pos : pos + len(rdata)] = rdata
            pos += len(rdata)
        return pos

    def to_bytes(self) -> bytearray:
        """A new buffer holding the whole message."""
        out = bytearray(self.buffer_len)
        self.emit(out)
        return out
