"""ICMPv4 (RFC 792, RFC 1191, RFC 1812): the message view, its Repr, and error quotes."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from usnet_core.errors import Malformed
from usnet_core.wire import checksum as _cs
from usnet_core.wire.checksum import Buffer

__all__ = [
    "ADMIN_PROHIBITED",
    "FRAG_NEEDED",
    "HEADER_LEN",
    "HOST_PROHIBITED",
    "HOST_UNREACHABLE",
    "NET_PROHIBITED",
    "NET_UNREACHABLE",
    "PORT_UNREACHABLE",
    "PROTO_UNREACHABLE",
    "QUOTE_MAX_LEN",
    "TYPE_DEST_UNREACHABLE",
    "TYPE_ECHO_REPLY",
    "TYPE_ECHO_REQUEST",
    "TYPE_PARAMETER_PROBLEM",
    "TYPE_TIME_EXCEEDED",
    "Icmpv4Packet",
    "Icmpv4Quote",
    "Icmpv4Repr",
    "error_quote",
    "is_error",
    "parse_quote",
]

TYPE_ECHO_REPLY = 0
TYPE_DEST_UNREACHABLE = 3
TYPE_ECHO_REQUEST = 8
TYPE_TIME_EXCEEDED = 11
TYPE_PARAMETER_PROBLEM = 12

# Destination unreachable codes (RFC 792, RFC 1122 3.2.2.1, RFC 1812 5.2.7.1).
NET_UNREACHABLE = 0
HOST_UNREACHABLE = 1
PROTO_UNREACHABLE = 2
PORT_UNREACHABLE = 3
FRAG_NEEDED = 4
NET_PROHIBITED = 9
HOST_PROHIBITED = 10
ADMIN_PROHIBITED = 13

HEADER_LEN = 8
QUOTE_MAX_LEN = 548
"""RFC 1812 4.3.2.3: an error fits in 576 bytes, so 576 - 20 (IPv4) - 8 (ICMP) quoted."""

_HEADER = struct.Struct("!BBHHH")
_ERROR_TYPES = frozenset({TYPE_DEST_UNREACHABLE, TYPE_TIME_EXCEEDED, TYPE_PARAMETER_PROBLEM})


class Icmpv4Packet:
    """Read-only view of an ICMPv4 message; the checksum covers the whole message."""

    __slots__ = ("_mv",)

    _mv: memoryview

    def __init__(self, buf: Buffer) -> None:
        mv = memoryview(buf)
        if len(mv) < HEADER_LEN:
            raise Malformed("icmpv4 truncated")
        self._mv = mv

    @property
    def type(self) -> int:
        """Message type."""
        return self._mv[0]

    @property
    def code(self) -> int:
        """Message code."""
        return self._mv[1]

    @property
    def checksum(self) -> int:
        """Checksum field."""
        value: int = struct.unpack_from("!H", self._mv, 2)[0]
        return value

    @property
    def ident(self) -> int:
        """Echo identifier (first word of the rest-of-header)."""
        value: int = struct.unpack_from("!H", self._mv, 4)[0]
        return value

    @property
    def seq_no(self) -> int:
        """Echo sequence number (second word of the rest-of-header)."""
        value: int = struct.unpack_from("!H", self._mv, 6)[0]
        return value

    @property
    def mtu(self) -> int:
        """Next-hop MTU of a fragmentation-needed message (RFC 1191); same word as seq_no."""
        return self.seq_no

    @property
    def pointer(self) -> int:
        """Octet offset of the problem in a parameter-problem message."""
        return self._mv[4]

    @property
    def data(self) -> memoryview:
        """Echo payload, or the quoted datagram of an error message."""
        return self._mv[HEADER_LEN:]

    def verify_checksum(self) -> bool:
        """True when the checksum over the whole message is correct."""
        return _cs.verify(self._mv)


def is_error(icmp_type: int) -> bool:
    """True for the error types we understand (dest unreachable, time exceeded, param)."""
    return icmp_type in _ERROR_TYPES


@dataclass(frozen=True, slots=True)
class Icmpv4Repr:
    """The meaning of an ICMPv4 message, one shape for all types.

    Echo request/reply use ident and seq_no, and data is the echo payload. For errors, data
    is the quoted datagram; destination unreachable carries `mtu` (RFC 1191, meaningful for
    FRAG_NEEDED) and parameter problem carries `pointer`. For any other type, ident and
    seq_no hold the two raw words after the checksum, so such messages round-trip too.
    """

    type: int
    code: int
    ident: int = 0
    seq_no: int = 0
    mtu: int = 0
    pointer: int = 0
    data: Buffer = b""

    header_len: ClassVar[int] = HEADER_LEN

    @classmethod
    def parse(cls, packet: Icmpv4Packet | Buffer, *, verify_checksum: bool = True) -> Icmpv4Repr:
        """Repr of a message (a view, or raw bytes checked first); unknown types parse too.

        `data` is a memoryview into the packet's buffer: copy it to keep it.
        """
        if not isinstance(packet, Icmpv4Packet):
            packet = Icmpv4Packet(packet)
        mv = packet._mv
        if verify_checksum and not _cs.verify(mv):
            raise Malformed("icmpv4 checksum")
        icmp_type, code, _, word1, word2 = _HEADER.unpack_from(mv, 0)
        data = mv[HEADER_LEN:]
        if icmp_type == TYPE_DEST_UNREACHABLE:
            return cls(icmp_type, code, mtu=word2, data=data)
        if icmp_type == TYPE_TIME_EXCEEDED:
            return cls(icmp_type, code, data=data)
        if icmp_type == TYPE_PARAMETER_PROBLEM:
            return cls(icmp_type, code, pointer=word1 >> 8, data=data)
        return cls(icmp_type, code, ident=word1, seq_no=word2, data=data)

    @property
    def buffer_len(self) -> int:
        """Header plus data length."""
        return HEADER_LEN + len(self.data)

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        """Write the whole message, checksum included, into `buf` at `offset`."""
        end = offset + HEADER_LEN + len(self.data)
        if len(buf) < end:
            raise ValueError("buffer too small for the ICMPv4 message")
        if self.type == TYPE_DEST_UNREACHABLE:
            word1, word2 = 0, self.mtu
        elif self.type == TYPE_TIME_EXCEEDED:
            word1, word2 = 0, 0
        elif self.type == TYPE_PARAMETER_PROBLEM:
            word1, word2 = self.pointer << 8, 0
        else:
            word1, word2 = self.ident, self.seq_no
        _HEADER.pack_into(buf, offset, self.type, self.code, 0, word1, word2)
        mv = memoryview(buf)
        mv[offset + HEADER_LEN : end] = self.data
        struct.pack_into("!H", buf, offset + 2, _cs.checksum(mv[offset:end]))

    def to_bytes(self) -> bytearray:
        """A new buffer of buffer_len holding this message."""
        out = bytearray(self.buffer_len)
        self.emit(out)
        return out


def error_quote(original_ip_packet: Buffer, max_len: int = QUOTE_MAX_LEN) -> bytes:
    """The part of an offending datagram an ICMP error quotes (RFC 1812 4.3.2.3).

    As much as fits in `max_len`, never less than what is there; link-layer padding past
    the datagram's total length field is left out when that field is readable.
    """
    mv = memoryview(original_ip_packet)
    end = len(mv)
    if end >= 4:
        total_len: int = struct.unpack_from("!H", mv, 2)[0]
        if 20 <= total_len < end:
            end = total_len
    return bytes(mv[: min(end, max_len)])


@dataclass(frozen=True, slots=True)
class Icmpv4Quote:
    """The addresses, protocol and first transport bytes of a datagram quoted in an error."""

    src: int
    dst: int
    protocol: int
    payload: memoryview
    """At least 8 bytes: enough for UDP/TCP ports and the TCP sequence number."""


def parse_quote(data: Buffer) -> Icmpv4Quote:
    """Read the quoted IPv4 header + 8 bytes of an error message (RFC 792).

    The quoted header's total length is that of the original datagram, longer than the
    quote, so Ipv4Packet's checked constructor does not apply; this checks what a quote
    must hold and raises Malformed("icmpv4 quote") otherwise.
    """
    mv = memoryview(data)
    if len(mv) < 28:
        raise Malformed("icmpv4 quote")
    vihl = mv[0]
    header_len = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or header_len < 20 or len(mv) < header_len + 8:
        raise Malformed("icmpv4 quote")
    protocol = mv[9]
    src, dst = struct.unpack_from("!II", mv, 12)
    return Icmpv4Quote(src, dst, protocol, mv[header_len:])
