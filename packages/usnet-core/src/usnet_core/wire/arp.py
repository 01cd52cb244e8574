"""ARP for Ethernet and IPv4 (RFC 826): the view and its Repr."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from usnet_core.errors import Malformed
from usnet_core.wire.checksum import Buffer

__all__ = ["BUFFER_LEN", "OP_REPLY", "OP_REQUEST", "ArpPacket", "ArpRepr"]

OP_REQUEST = 1
OP_REPLY = 2
BUFFER_LEN = 28

_HTYPE_ETHERNET = 1
_PTYPE_IPV4 = 0x0800
# htype, ptype, hlen, plen, oper, sha, spa, tha, tpa
_PACKET = struct.Struct("!HHBBH6sI6sI")
_FIXED = struct.Struct("!HHBBH")


class ArpPacket:
    """Read-only view of an Ethernet/IPv4 ARP packet; other hardware/protocol pairs are
    rejected with Malformed("arp unsupported")."""

    __slots__ = ("_mv",)

    _mv: memoryview

    def __init__(self, buf: Buffer) -> None:
        mv = memoryview(buf)
        if len(mv) < BUFFER_LEN:
            raise Malformed("arp truncated")
        htype, ptype, hlen, plen, _ = _FIXED.unpack_from(mv, 0)
        if htype != _HTYPE_ETHERNET or ptype != _PTYPE_IPV4 or hlen != 6 or plen != 4:
            raise Malformed("arp unsupported")
        self._mv = mv

    @property
    def operation(self) -> int:
        """Operation code (OP_REQUEST, OP_REPLY, or anything else the peer sent)."""
        value: int = struct.unpack_from("!H", self._mv, 6)[0]
        return value

    @property
    def source_hw(self) -> bytes:
        """Sender hardware (MAC) address."""
        return bytes(self._mv[8:14])

    @property
    def source_ip(self) -> int:
        """Sender protocol (IPv4) address."""
        value: int = struct.unpack_from("!I", self._mv, 14)[0]
        return value

    @property
    def target_hw(self) -> bytes:
        """Target hardware (MAC) address; zeros in a request."""
        return bytes(self._mv[18:24])

    @property
    def target_ip(self) -> int:
        """Target protocol (IPv4) address."""
        value: int = struct.unpack_from("!I", self._mv, 24)[0]
        return value


@dataclass(frozen=True, slots=True)
class ArpRepr:
    """The meaning of an Ethernet/IPv4 ARP request or reply."""

    operation: int
    source_hw: bytes
    source_ip: int
    target_hw: bytes
    target_ip: int

    buffer_len: ClassVar[int] = BUFFER_LEN

    @classmethod
    def parse(cls, packet: ArpPacket | Buffer) -> ArpRepr:
        """Repr of a request or reply; any other operation raises Malformed("arp operation")."""
        if not isinstance(packet, ArpPacket):
            packet = ArpPacket(packet)
        _, _, _, _, oper, sha, spa, tha, tpa = _PACKET.unpack_from(packet._mv, 0)
        if oper not in (OP_REQUEST, OP_REPLY):
            raise Malformed("arp operation")
        return cls(oper, sha, spa, tha, tpa)

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        """Write the 28-byte packet into `buf` at `offset`."""
        if len(self.source_hw) != 6 or len(self.target_hw) != 6:
            raise ValueError("MAC addresses are 6 bytes")
        if len(buf) < offset + BUFFER_LEN:
            raise ValueError("buffer too small for an ARP packet")
        _PACKET.pack_into(
            buf, offset, _HTYPE_ETHERNET, _PTYPE_IPV4, 6, 4, self.operation,
            self.source_hw, self.source_ip, self.target_hw, self.target_ip,
        )  # fmt: skip

    def to_bytes(self) -> bytearray:
        """A new 28-byte buffer holding this packet."""
        out = bytearray(BUFFER_LEN)
        self.emit(out)
        return out
