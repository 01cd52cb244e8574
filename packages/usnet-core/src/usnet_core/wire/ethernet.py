"""Ethernet II frames (IEEE 802.3 with an EtherType): the view and its Repr."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from usnet_core.errors import Malformed
from usnet_core.wire.checksum import Buffer

__all__ = [
    "BROADCAST",
    "ETHERTYPE_ARP",
    "ETHERTYPE_IPV4",
    "ETHERTYPE_IPV6",
    "ETHERTYPE_VLAN",
    "HEADER_LEN",
    "EthernetFrame",
    "EthernetRepr",
    "is_multicast_mac",
    "mac_from_str",
    "mac_to_str",
]

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = 0x8100
BROADCAST = b"\xff" * 6
HEADER_LEN = 14

_HEADER = struct.Struct("!6s6sH")
_HEX = frozenset("0123456789abcdefABCDEF")


class EthernetFrame:
    """Read-only view of an Ethernet II frame; the constructor checks the length once."""

    __slots__ = ("_mv",)

    _mv: memoryview

    def __init__(self, buf: Buffer) -> None:
        mv = memoryview(buf)
        if len(mv) < HEADER_LEN:
            raise Malformed("ethernet truncated")
        self._mv = mv

    @property
    def dst(self) -> bytes:
        """Destination MAC address."""
        return bytes(self._mv[0:6])

    @property
    def src(self) -> bytes:
        """Source MAC address."""
        return bytes(self._mv[6:12])

    @property
    def ethertype(self) -> int:
        """EtherType (0x8100 for VLAN-tagged frames, which we do not unwrap)."""
        value: int = struct.unpack_from("!H", self._mv, 12)[0]
        return value

    @property
    def payload(self) -> memoryview:
        """Everything after the header, including any padding up to the 60-byte minimum."""
        return self._mv[HEADER_LEN:]


@dataclass(frozen=True, slots=True)
class EthernetRepr:
    """The meaning of an Ethernet II header."""

    dst: bytes
    src: bytes
    ethertype: int

    header_len: ClassVar[int] = HEADER_LEN

    @classmethod
    def parse(cls, frame: EthernetFrame | Buffer) -> EthernetRepr:
        """Repr of a frame (a view, or raw bytes that are checked first)."""
        if not isinstance(frame, EthernetFrame):
            frame = EthernetFrame(frame)
        dst, src, ethertype = _HEADER.unpack_from(frame._mv, 0)
        return cls(dst, src, ethertype)

    @property
    def buffer_len(self) -> int:
        """Bytes `emit` writes: the header only."""
        return HEADER_LEN

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        """Write the 14-byte header into `buf` at `offset`."""
        if len(self.dst) != 6 or len(self.src) != 6:
            raise ValueError("MAC addresses are 6 bytes")
        if len(buf) < offset + HEADER_LEN:
            raise ValueError("buffer too small for an Ethernet header")
        _HEADER.pack_into(buf, offset, self.dst, self.src, self.ethertype)

    def to_bytes(self, payload: Buffer = b"") -> bytearray:
        """A new frame: this header followed by `payload`."""
        out = bytearray(HEADER_LEN + len(payload))
        self.emit(out)
        out[HEADER_LEN:] = payload
        return out


def is_multicast_mac(mac: Buffer) -> bool:
    """True for group addresses (I/G bit set), broadcast included."""
    return bool(mac[0] & 1)


def mac_to_str(mac: Buffer) -> str:
    """'aa:bb:cc:dd:ee:ff' form of a 6-byte MAC."""
    return bytes(mac).hex(":")


def mac_from_str(text: str) -> bytes:
    """Parse 'aa:bb:cc:dd:ee:ff' (or '-' separated); ValueError on anything else."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6 or any(len(p) != 2 or not set(p) <= _HEX for p in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes.fromhex("".join(parts))
