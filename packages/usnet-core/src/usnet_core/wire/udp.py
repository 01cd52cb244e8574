"""UDP over IPv4 (RFC 768): the datagram view and its Repr."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from usnet_core.errors import Malformed
from usnet_core.wire import checksum as _cs
from usnet_core.wire.checksum import Buffer

__all__ = ["HEADER_LEN", "UdpPacket", "UdpRepr"]

HEADER_LEN = 8
_PROTO_UDP = 17
_MAX_LEN = 0xFFFF - 20  # what one IPv4 packet without options can carry
_HEADER = struct.Struct("!HHHH")


class UdpPacket:
    """Read-only view of a UDP datagram; the constructor checks the length field."""

    __slots__ = ("_length", "_mv")

    _mv: memoryview
    _length: int

    def __init__(self, buf: Buffer) -> None:
        mv = memoryview(buf)
        if len(mv) < HEADER_LEN:
            raise Malformed("udp truncated")
        length: int = struct.unpack_from("!H", mv, 4)[0]
        if length < HEADER_LEN or length > len(mv):
            raise Malformed("udp length")
        self._mv = mv
        self._length = length

    @property
    def src_port(self) -> int:
        """Source port (0 when the sender expects no reply)."""
        value: int = struct.unpack_from("!H", self._mv, 0)[0]
        return value

    @property
    def dst_port(self) -> int:
        """Destination port."""
        value: int = struct.unpack_from("!H", self._mv, 2)[0]
        return value

    @property
    def length(self) -> int:
        """Length field: header plus payload."""
        return self._length

    @property
    def checksum(self) -> int:
        """Checksum field; 0 means the sender computed none (RFC 768)."""
        value: int = struct.unpack_from("!H", self._mv, 6)[0]
        return value

    @property
    def payload(self) -> memoryview:
        """Payload, cut at the length field."""
        return self._mv[HEADER_LEN : self._length]

    def verify_checksum(self, src: int, dst: int) -> bool:
        """True when the checksum is absent (0) or correct for these IPv4 addresses."""
        if self.checksum == 0:
            return True
        pseudo = _cs.pseudo_ipv4(src, dst, _PROTO_UDP, self._length)
        return _cs.verify(self._mv[: self._length], pseudo)


@dataclass(frozen=True, slots=True)
class UdpRepr:
    """The meaning of a UDP header: its ports (the payload stays in UdpPacket.payload)."""

    src_port: int
    dst_port: int

    header_len: ClassVar[int] = HEADER_LEN

    @classmethod
    def parse(
        cls, packet: UdpPacket | Buffer, src: int, dst: int, *, verify_checksum: bool = True
    ) -> UdpRepr:
        """Repr of a datagram between IPv4 `src` and `dst` (a view, or raw bytes checked first).

        Raises Malformed("udp checksum") on a bad checksum and Malformed("udp port 0") for
        destination port 0, which no socket can be bound to.
        """
        if not isinstance(packet, UdpPacket):
            packet = UdpPacket(packet)
        if verify_checksum and not packet.verify_checksum(src, dst):
            raise Malformed("udp checksum")
        src_port, dst_port = struct.unpack_from("!HH", packet._mv, 0)
        if dst_port == 0:
            raise Malformed("udp port 0")
        return cls(src_port, dst_port)

    @staticmethod
    def buffer_len(payload_len: int) -> int:
        """Bytes a datagram with `payload_len` bytes of payload takes."""
        return HEADER_LEN + payload_len

    def emit(
        self,
        buf: bytearray | memoryview,
        offset: int,
        src: int,
        dst: int,
        payload: Buffer,
        *,
        checksum: bool = True,
    ) -> None:
        """Write header and payload at `offset`, with the checksum for IPv4 `src` -> `dst`.

        With checksum=False the field is 0 ("not computed", allowed over IPv4).
        """
        length = HEADER_LEN + len(payload)
        if length > _MAX_LEN:
            raise ValueError("UDP payload too long")
        if len(buf) < offset + length:
            raise ValueError("buffer too small for the UDP datagram")
        value = 0
        if checksum:
            # Sum the header words directly, so the payload is read only once.
            s = _cs.pseudo_ipv4(src, dst, _PROTO_UDP, length)
            s += self.src_port + self.dst_port + length + _cs.ones_sum(payload)
            # RFC 768: a computed 0 is sent as all ones; 0 means "no checksum".
            value = _cs.fold(s) or 0xFFFF
        _HEADER.pack_into(buf, offset, self.src_port, self.dst_port, length, value)
        memoryview(buf)[offset + HEADER_LEN : offset + length] = payload

    def to_bytes(
        self, src: int, dst: int, payload: Buffer = b"", *, checksum: bool = True
    ) -> bytearray:
        """A new buffer holding the whole datagram."""
        out = bytearray(HEADER_LEN + len(payload))
        self.emit(out, 0, src, dst, payload, checksum=checksum)
        return out
