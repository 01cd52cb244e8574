"""TCP segments (RFC 9293 3.1): flag constants, sequence arithmetic, a view and a Repr.

`TcpPacket` is a checked read-only view over a segment; `TcpRepr` is its validated
meaning (header fields plus the options RFC 9293, RFC 7323 and RFC 2018 define), parsed
with `TcpRepr.parse` and written back with `TcpRepr.emit`. Payloads are zero-copy
memoryviews into the parsed buffer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from usnet_core.errors import Malformed
from usnet_core.wire.checksum import checksum as _checksum
from usnet_core.wire.checksum import pseudo_ipv4
from usnet_core.wire.checksum import verify as _verify

__all__ = [
    "ACK",
    "CWR",
    "ECE",
    "FIN",
    "PSH",
    "RST",
    "SYN",
    "URG",
    "TcpPacket",
    "TcpRepr",
    "seq_add",
    "seq_diff",
    "seq_ge",
    "seq_gt",
    "seq_in_window",
    "seq_le",
    "seq_lt",
]

# Control bits, RFC 9293 3.1 (ECE/CWR: RFC 3168 23.2).
FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80

_PROTO_TCP = 6
_HEADER = struct.Struct("!HHIIBBHHH")
_HEADER_LEN = 20
_MAX_OPTIONS = 40
_MASK = 0xFFFF_FFFF
_HALF = 0x8000_0000

# Option kinds, RFC 9293 3.2, RFC 7323 2.2/3.2, RFC 2018 2/3.
_OPT_EOL = 0
_OPT_NOP = 1
_OPT_MSS = 2
_OPT_WS = 3
_OPT_SACK_PERM = 4
_OPT_SACK = 5
_OPT_TS = 8
_MAX_WS_SHIFT = 14  # RFC 7323 2.3

_U32 = struct.Struct("!I")
_MSS = struct.Struct("!BBH")
_TS_SACK_PERM = struct.Struct("!BBBBII")  # SACK_PERM(2) + TS(10), Linux's SYN layout
_NOP_NOP_TS = struct.Struct("!BBBBII")
_NOP_WS = struct.Struct("!BBBB")
_NOP_NOP_SACK_PERM = struct.Struct("!BBBB")
_NOP_NOP_SACK = struct.Struct("!BBBB")
_BLOCK = struct.Struct("!II")
_TS = struct.Struct("!II")


# Sequence number arithmetic modulo 2**32, RFC 9293 3.4 (serial numbers, RFC 1982).


def seq_add(a: int, n: int) -> int:
    """Return the sequence number `n` octets after `a` (n may be negative)."""
    return (a + n) & _MASK


def seq_diff(a: int, b: int) -> int:
    """Return the signed distance a - b, in [-2**31, 2**31)."""
    return ((a - b + _HALF) & _MASK) - _HALF


def seq_lt(a: int, b: int) -> bool:
    """Return whether a comes strictly before b."""
    return ((a - b + _HALF) & _MASK) < _HALF


def seq_le(a: int, b: int) -> bool:
    """Return whether a comes before b or equals it."""
    return ((b - a + _HALF) & _MASK) >= _HALF


def seq_gt(a: int, b: int) -> bool:
    """Return whether a comes strictly after b."""
    return ((b - a + _HALF) & _MASK) < _HALF


def seq_ge(a: int, b: int) -> bool:
    """Return whether a comes after b or equals it."""
    return ((a - b + _HALF) & _MASK) >= _HALF


def seq_in_window(x: int, start: int, size: int) -> bool:
    """Return whether start <= x < start + size, modulo 2**32."""
    return ((x - start) & _MASK) < size


def _byte_view(buf: bytes | bytearray | memoryview) -> memoryview:
    view = memoryview(buf)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


class TcpPacket:
    """A read-only view over a TCP segment whose lengths were checked once."""

    __slots__ = ("_buf", "_header_len")

    def __init__(self, buf: bytes | bytearray | memoryview) -> None:
        view = _byte_view(buf)
        if len(view) < _HEADER_LEN:
            raise Malformed("tcp truncated")
        header_len = (view[12] >> 4) * 4
        if header_len < _HEADER_LEN:
            raise Malformed("tcp data offset")
        if header_len > len(view):
            raise Malformed("tcp truncated")
        self._buf = view
        self._header_len = header_len

    @property
    def src_port(self) -> int:
        """Source port."""
        return int.from_bytes(self._buf[0:2], "big")

    @property
    def dst_port(self) -> int:
        """Destination port."""
        return int.from_bytes(self._buf[2:4], "big")

    @property
    def seq(self) -> int:
        """Sequence number."""
        return int(_U32.unpack_from(self._buf, 4)[0])

    @property
    def ack(self) -> int:
        """Acknowledgment number (meaningful only with ACK set)."""
        return int(_U32.unpack_from(self._buf, 8)[0])

    @property
    def header_len(self) -> int:
        """Header length in octets (data offset * 4)."""
        return self._header_len

    @property
    def flags(self) -> int:
        """Control bits CWR..FIN as one byte."""
        return self._buf[13]

    @property
    def window(self) -> int:
        """Raw 16-bit window field (unscaled)."""
        return int.from_bytes(self._buf[14:16], "big")

    @property
    def checksum(self) -> int:
        """Checksum field."""
        return int.from_bytes(self._buf[16:18], "big")

    @property
    def urgent(self) -> int:
        """Urgent pointer field."""
        return int.from_bytes(self._buf[18:20], "big")

    @property
    def options(self) -> memoryview:
        """The raw option bytes between the fixed header and the payload."""
        return self._buf[_HEADER_LEN : self._header_len]

    @property
    def payload(self) -> memoryview:
        """The segment's data, a view into the buffer."""
        return self._buf[self._header_len :]

    def verify_checksum(self, src: int, dst: int) -> bool:
        """Check the checksum over the IPv4 pseudo header and the whole segment."""
        return _verify(self._buf, pseudo_ipv4(src, dst, _PROTO_TCP, len(self._buf)))


@dataclass(frozen=True, slots=True)
class TcpRepr:
    """The meaning of one TCP segment: header fields, known options and payload."""

    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: int
    window: int  # raw 16-bit field value, unscaled
    urgent: int = 0
    mss: int | None = None
    window_scale: int | None = None
    sack_permitted: bool = False
    sack_blocks: tuple[tuple[int, int], ...] = ()
    timestamp: tuple[int, int] | None = None  # (TSval, TSecr)
    payload: bytes | bytearray | memoryview = b""

    @classmethod
    def parse(
        cls,
        buf: bytes | bytearray | memoryview,
        src: int,
        dst: int,
        *,
        verify_checksum: bool = True,
    ) -> TcpRepr:
        """Validate a whole TCP segment (the IP payload) and return its meaning."""
        view = _byte_view(buf)
        size = len(view)
        if size < _HEADER_LEN:
            raise Malformed("tcp truncated")
        src_port, dst_port, seq, ack, offset, flags, window, _, urgent = _HEADER.unpack_from(
            view, 0
        )
        header_len = (offset >> 4) * 4
        if header_len < _HEADER_LEN:
            raise Malformed("tcp data offset")
        if header_len > size:
            raise Malformed("tcp truncated")
        if src_port == 0 or dst_port == 0:
            raise Malformed("tcp port 0")
        if flags & (SYN | RST) == SYN | RST:
            raise Malformed("tcp syn+rst")
        if verify_checksum and not _verify(view, pseudo_ipv4(src, dst, _PROTO_TCP, size)):
            raise Malformed("tcp checksum")
        if header_len == _HEADER_LEN:
            return cls(src_port, dst_port, seq, ack, flags, window, urgent, payload=view[20:])
        mss: int | None = None
        window_scale: int | None = None
        sack_permitted = False
        sack_blocks: tuple[tuple[int, int], ...] = ()
        timestamp: tuple[int, int] | None = None
        # RFC 9293 3.2: kinds 0 and 1 are single octets, every other option is
        # kind, length (counting both), data. Options of a known kind with a wrong length
        # are skipped by their length, as Linux does (tcp_parse_options), rather than
        # dropping the segment; the last copy of a repeated option wins.
        i = _HEADER_LEN
        while i < header_len:
            kind = view[i]
            if kind == _OPT_EOL:
                break
            if kind == _OPT_NOP:
                i += 1
                continue
            if i + 1 >= header_len:
                raise Malformed("tcp option")
            length = view[i + 1]
            if length < 2 or i + length > header_len:
                raise Malformed("tcp option")
            if kind == _OPT_MSS:
                if length == 4:
                    mss = (view[i + 2] << 8) | view[i + 3]
            elif kind == _OPT_WS:
                if length == 3:
                    window_scale = min(view[i + 2], _MAX_WS_SHIFT)  # RFC 7323 2.3
            elif kind == _OPT_SACK_PERM:
                if length == 2:
                    sack_permitted = True
            elif kind == _OPT_SACK:
                count, rest = divmod(length - 2, 8)
                if rest == 0 and 1 <= count <= 4:
                    words = struct.unpack_from(f"!{2 * count}I", view, i + 2)
                    sack_blocks = tuple(zip(words[0::2], words[1::2], strict=True))
            elif kind == _OPT_TS and length == 10:
                timestamp = _TS.unpack_from(view, i + 2)
            i += length
        return cls(
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            urgent,
            mss,
            window_scale,
            sack_permitted,
            sack_blocks,
            timestamp,
            view[header_len:],
        )

    def _fixed_options_len(self) -> int:
        n = 0
        if self.mss is not None:
            n += 4
        if self.timestamp is not None:
            n += 12  # NOP NOP TS, or SACK_PERM TS
        elif self.sack_permitted:
            n += 4  # NOP NOP SACK_PERM
        if self.window_scale is not None:
            n += 4  # NOP WS
        return n

    def _sack_count(self, fixed: int) -> int:
        # RFC 2018 3: the first block is the most recent; keep the first ones that fit.
        if not self.sack_blocks:
            return 0
        return max(0, min(len(self.sack_blocks), 4, (_MAX_OPTIONS - fixed - 4) // 8))

    @property
    def header_len(self) -> int:
        """Header length in octets: 20 plus the options as emitted (at most 60)."""
        fixed = self._fixed_options_len()
        count = self._sack_count(fixed)
        return _HEADER_LEN + fixed + (4 + 8 * count if count else 0)

    @property
    def buffer_len(self) -> int:
        """Octets `emit` writes: header plus payload."""
        return self.header_len + len(self.payload)

    @property
    def seg_len(self) -> int:
        """Sequence space the segment occupies: payload plus one each for SYN and FIN."""
        return len(self.payload) + (self.flags & SYN) // SYN + (self.flags & FIN)

    def emit(
        self,
        buf: bytearray | memoryview,
        offset: int,
        src: int,
        dst: int,
        *,
        checksum: bool = True,
    ) -> None:
        """Write the segment into buf at offset; with checksum=False the field stays 0."""
        fixed = self._fixed_options_len()
        count = self._sack_count(fixed)
        header_len = _HEADER_LEN + fixed + (4 + 8 * count if count else 0)
        end = offset + header_len + len(self.payload)
        if offset < 0 or end > len(buf):
            raise ValueError("tcp emit: buffer too small")
        try:
            _HEADER.pack_into(
                buf,
                offset,
                self.src_port,
                self.dst_port,
                self.seq,
                self.ack,
                (header_len // 4) << 4,
                self.flags,
                self.window,
                0,
                self.urgent,
            )
            # Linux's layout (tcp_options_write): MSS, SACK_PERM+TS, NOP WS, NOP NOP SACK.
            i = offset + _HEADER_LEN
            if self.mss is not None:
                _MSS.pack_into(buf, i, _OPT_MSS, 4, self.mss)
                i += 4
            if self.timestamp is not None:
                tsval, tsecr = self.timestamp
                if self.sack_permitted:
                    _TS_SACK_PERM.pack_into(buf, i, _OPT_SACK_PERM, 2, _OPT_TS, 10, tsval, tsecr)
                else:
                    _NOP_NOP_TS.pack_into(buf, i, _OPT_NOP, _OPT_NOP, _OPT_TS, 10, tsval, tsecr)
                i += 12
            elif self.sack_permitted:
                _NOP_NOP_SACK_PERM.pack_into(buf, i, _OPT_NOP, _OPT_NOP, _OPT_SACK_PERM, 2)
                i += 4
            if self.window_scale is not None:
                _NOP_WS.pack_into(buf, i, _OPT_NOP, _OPT_WS, 3, self.window_scale)
                i += 4
            if count:
                _NOP_NOP_SACK.pack_into(buf, i, _OPT_NOP, _OPT_NOP, _OPT_SACK, 2 + 8 * count)
                i += 4
                for left, right in self.sack_blocks[:count]:
                    _BLOCK.pack_into(buf, i, left, right)
                    i += 8
        except struct.error as exc:
            raise ValueError(f"tcp emit: field out of range: {exc}") from exc
        buf[i:end] = self.payload
        if checksum:
            view = _byte_view(buf)[offset:end]
            value = _checksum(view, pseudo_ipv4(src, dst, _PROTO_TCP, end - offset))
            buf[offset + 16] = value >> 8
            buf[offset + 17] = value & 0xFF

    def to_bytes(self, src: int, dst: int) -> bytearray:
        """Return the segment as a new bytearray, checksum filled in."""
        out = bytearray(self.buffer_len)
        self.emit(out, 0, src, dst)
        return out
