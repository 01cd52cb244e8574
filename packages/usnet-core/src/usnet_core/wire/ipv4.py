"""IPv4 (RFC 791): the packet view, its Repr, and address helpers (addresses are ints)."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import ClassVar

from usnet_core.errors import Malformed
from usnet_core.wire import checksum as _cs
from usnet_core.wire.checksum import Buffer

__all__ = [
    "HEADER_LEN",
    "PROTO_ICMP",
    "PROTO_TCP",
    "PROTO_UDP",
    "Ipv4Packet",
    "Ipv4Repr",
    "addr_from_str",
    "addr_to_str",
    "is_broadcast",
    "is_multicast",
    "netmask",
    "network",
]

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
HEADER_LEN = 20
"""Length of a header without options, the only kind we emit."""

_MAX_TOTAL_LEN = 0xFFFF
# version/ihl, dscp/ecn, total length, ident, flags/frag offset, ttl, proto, checksum, src, dst
_HEADER = struct.Struct("!BBHHHBBHII")
_FLAG_DF = 0x4000
_FLAG_MF = 0x2000
_OFFSET_MASK = 0x1FFF


class Ipv4Packet:
    """Read-only view of an IPv4 packet.

    The constructor checks version, header length and total length against the buffer, so
    every accessor below is safe. Options are only skipped, never interpreted.
    """

    __slots__ = ("_header_len", "_mv", "_total_len")

    _mv: memoryview
    _header_len: int
    _total_len: int

    def __init__(self, buf: Buffer) -> None:
        mv = memoryview(buf)
        if len(mv) < HEADER_LEN:
            raise Malformed("ipv4 truncated")
        vihl, _, total_len = struct.unpack_from("!BBH", mv, 0)
        if vihl >> 4 != 4:
            raise Malformed("ipv4 version")
        header_len = (vihl & 0x0F) * 4
        if header_len < HEADER_LEN:
            raise Malformed("ipv4 header length")
        if header_len > len(mv):
            raise Malformed("ipv4 truncated")
        if total_len < header_len or total_len > len(mv):
            raise Malformed("ipv4 total length")
        self._mv = mv
        self._header_len = header_len
        self._total_len = total_len

    @property
    def version(self) -> int:
        """Always 4 (checked by the constructor)."""
        return 4

    @property
    def header_len(self) -> int:
        """Header length in bytes, options included."""
        return self._header_len

    @property
    def dscp_ecn(self) -> int:
        """The former type-of-service byte: DSCP (6 bits) and ECN (2 bits)."""
        return self._mv[1]

    @property
    def total_len(self) -> int:
        """Total length field: header plus payload, excluding any link-layer padding."""
        return self._total_len

    @property
    def ident(self) -> int:
        """Identification field (groups fragments of one datagram)."""
        value: int = struct.unpack_from("!H", self._mv, 4)[0]
        return value

    @property
    def dont_frag(self) -> bool:
        """DF flag."""
        return bool(self._mv[6] & 0x40)

    @property
    def more_frags(self) -> bool:
        """MF flag: more fragments follow."""
        return bool(self._mv[6] & 0x20)

    @property
    def frag_offset(self) -> int:
        """Fragment offset in bytes (the field counts 8-byte units)."""
        value: int = struct.unpack_from("!H", self._mv, 6)[0]
        return (value & _OFFSET_MASK) * 8

    @property
    def is_fragment(self) -> bool:
        """True for any piece of a fragmented datagram, first, middle or last."""
        value: int = struct.unpack_from("!H", self._mv, 6)[0]
        return bool(value & (_FLAG_MF | _OFFSET_MASK))

    @property
    def ttl(self) -> int:
        """Time to live."""
        return self._mv[8]

    @property
    def protocol(self) -> int:
        """Payload protocol number (PROTO_ICMP, PROTO_TCP, PROTO_UDP, ...)."""
        return self._mv[9]

    @property
    def checksum(self) -> int:
        """Header checksum field."""
        value: int = struct.unpack_from("!H", self._mv, 10)[0]
        return value

    @property
    def src(self) -> int:
        """Source address."""
        value: int = struct.unpack_from("!I", self._mv, 12)[0]
        return value

    @property
    def dst(self) -> int:
        """Destination address."""
        value: int = struct.unpack_from("!I", self._mv, 16)[0]
        return value

    @property
    def options(self) -> memoryview:
        """Raw option bytes (empty for a 20-byte header)."""
        return self._mv[HEADER_LEN : self._header_len]

    @property
    def payload(self) -> memoryview:
        """Payload up to total_len; trailing Ethernet padding is cut off."""
        return self._mv[self._header_len : self._total_len]

    def verify_checksum(self) -> bool:
        """True when the header checksum is correct."""
        return _cs.verify(self._mv[: self._header_len])


@dataclass(frozen=True, slots=True)
class Ipv4Repr:
    """The meaning of an IPv4 header; fragments keep more_frags/frag_offset (bytes)."""

    src: int
    dst: int
    protocol: int
    payload_len: int
    ttl: int = 64
    ident: int = 0
    dont_frag: bool = True
    more_frags: bool = False
    frag_offset: int = 0
    dscp_ecn: int = 0

    header_len: ClassVar[int] = HEADER_LEN

    @classmethod
    def parse(cls, packet: Ipv4Packet | Buffer, *, verify_checksum: bool = True) -> Ipv4Repr:
        """Repr of a packet (a view, or raw bytes checked first).

        Raises Malformed("ipv4 checksum") on a bad header checksum (unless the device
        already verified it) and Malformed("ipv4 source") for a multicast or broadcast
        source, which RFC 1122 3.2.1.3 says a host must silently discard.
        """
        if not isinstance(packet, Ipv4Packet):
            packet = Ipv4Packet(packet)
        mv = packet._mv
        hlen = packet._header_len
        if verify_checksum and not _cs.verify(mv[:hlen]):
            raise Malformed("ipv4 checksum")
        _, tos, _, ident, frag, ttl, proto, _, src, dst = _HEADER.unpack_from(mv, 0)
        if src >> 28 == 0xE or src == 0xFFFFFFFF:
            raise Malformed("ipv4 source")
        return cls(
            src=src,
            dst=dst,
            protocol=proto,
            payload_len=packet._total_len - hlen,
            ttl=ttl,
            ident=ident,
            dont_frag=bool(frag & _FLAG_DF),
            more_frags=bool(frag & _FLAG_MF),
            frag_offset=(frag & _OFFSET_MASK) * 8,
            dscp_ecn=tos,
        )

    @property
    def is_fragment(self) -> bool:
        """True when this header belongs to a fragment, not a whole datagram."""
        return self.more_frags or self.frag_offset != 0

    @property
    def buffer_len(self) -> int:
        """Header plus payload length: the total_len field we emit."""
        return HEADER_LEN + self.payload_len

    def emit(self, buf: bytearray | memoryview, offset: int = 0, *, checksum: bool = True) -> None:
        """Write the 20-byte header (no options) at `offset`; the payload is the caller's.

        With checksum=False the field is left 0 for a device that fills it in.
        """
        total = HEADER_LEN + self.payload_len
        if not 0 <= self.payload_len <= _MAX_TOTAL_LEN - HEADER_LEN:
            raise ValueError("IPv4 payload too long")
        if self.frag_offset & 7 or not 0 <= self.frag_offset <= _OFFSET_MASK * 8:
            raise ValueError("fragment offset must be a multiple of 8 below 65536")
        if len(buf) < offset + HEADER_LEN:
            raise ValueError("buffer too small for an IPv4 header")
        frag = self.frag_offset >> 3
        if self.dont_frag:
            frag |= _FLAG_DF
        if self.more_frags:
            frag |= _FLAG_MF
        _HEADER.pack_into(
            buf, offset, 0x45, self.dscp_ecn, total, self.ident, frag, self.ttl,
            self.protocol, 0, self.src, self.dst,
        )  # fmt: skip
        if checksum:
            value = _cs.checksum(memoryview(buf)[offset : offset + HEADER_LEN])
            struct.pack_into("!H", buf, offset + 10, value)

    def to_bytes(self, payload: Buffer | None = None, *, checksum: bool = True) -> bytearray:
        """A new buffer of buffer_len: the header, then `payload` (zeros when None)."""
        out = bytearray(self.buffer_len)
        self.emit(out, checksum=checksum)
        if payload is not None:
            if len(payload) != self.payload_len:
                raise ValueError("payload length differs from payload_len")
            out[HEADER_LEN:] = payload
        return out


def addr_to_str(addr: int) -> str:
    """Dotted-quad form of an address."""
    return f"{addr >> 24 & 0xFF}.{addr >> 16 & 0xFF}.{addr >> 8 & 0xFF}.{addr & 0xFF}"


def addr_from_str(text: str) -> int:
    """Parse a dotted quad into an int; ValueError on anything else."""
    return int(ipaddress.IPv4Address(text))


def is_multicast(addr: int) -> bool:
    """True for 224.0.0.0/4 (RFC 5771)."""
    return addr >> 28 == 0xE


def is_broadcast(addr: int) -> bool:
    """True for the limited broadcast address 255.255.255.255."""
    return addr == 0xFFFFFFFF


def netmask(prefix_len: int) -> int:
    """Netmask of a prefix length 0..32; ValueError outside that range."""
    if not 0 <= prefix_len <= 32:
        raise ValueError(f"prefix length out of range: {prefix_len}")
    return (0xFFFFFFFF << (32 - prefix_len)) & 0xFFFFFFFF


def network(addr: int, prefix_len: int) -> int:
    """The network address of `addr` under a prefix length."""
    return addr & netmask(prefix_len)
