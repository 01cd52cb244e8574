"""PcapWriter: a wrapper that records every frame, both directions, as a classic pcap file."""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable, Iterable
from typing import BinaryIO

from .device import Device, DeviceWrapper, Frame

__all__ = ["LINKTYPE_ETHERNET", "PcapWriter", "read_pcap"]

LINKTYPE_ETHERNET = 1
_MAGIC = 0xA1B2C3D4  # microsecond timestamps
_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


class PcapWriter(DeviceWrapper):
    """Wraps any Device and writes each received and sent frame to a pcap (Wireshark) file.

    `path_or_file` is a path (opened, truncated, and closed with the device) or a binary file
    object (left open). Records are flushed after every batch, so a crash loses nothing.
    Timestamps are wall-clock (`clock`), as Wireshark expects.
    """

    def __init__(
        self,
        device: Device,
        path_or_file: str | os.PathLike[str] | BinaryIO,
        snaplen: int = 65535,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Wrap `device` and write the pcap global header."""
        self.inner = device
        self.snaplen = snaplen
        self.clock = clock
        if isinstance(path_or_file, str | os.PathLike):
            self._file: BinaryIO = open(path_or_file, "wb")  # noqa: SIM115 (closed in close)
            self._owns_file = True
        else:
            self._file = path_or_file
            self._owns_file = False
        self._file.write(_GLOBAL.pack(_MAGIC, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))
        self._file.flush()
        self._closed = False

    def _record(self, frames: Iterable[Frame]) -> None:
        now = self.clock()
        sec = int(now)
        usec = min(int((now - sec) * 1_000_000), 999_999)
        write = self._file.write
        for frame in frames:
            data = bytes(frame)
            cap = data[: self.snaplen]
            write(_RECORD.pack(sec, usec, len(cap), len(data)))
            write(cap)
        self._file.flush()

    def recv_batch(self, limit: int = 64) -> list[bytes]:
        """Frames from the wrapped device, recorded."""
        frames = self.inner.recv_batch(limit)
        if frames:
            self._record(frames)
        return frames

    def send_batch(self, frames: Iterable[Frame]) -> None:
        """Record, then send through the wrapped device (a frame it drops is still recorded)."""
        batch = list(frames)
        if batch:
            self._record(batch)
        self.inner.send_batch(batch)

    def close(self) -> None:
        """Close the wrapped device, and the file if we opened it (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.inner.close()
        finally:
            if self._owns_file:
                self._file.close()


def read_pcap(path_or_file: str | os.PathLike[str] | BinaryIO) -> list[tuple[float, bytes]]:
    """Read a classic pcap file (either byte order, us or ns stamps): [(timestamp, frame)]."""
    if isinstance(path_or_file, str | os.PathLike):
        with open(path_or_file, "rb") as f:
            data = f.read()
    else:
        data = path_or_file.read()
    if len(data) < 24:
        raise ValueError("not a pcap file: shorter than its global header")
    for order in "<>":
        magic = struct.unpack_from(order + "I", data)[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            break
    else:
        raise ValueError("not a pcap file: bad magic")
    scale = 1e-6 if magic == 0xA1B2C3D4 else 1e-9
    rec = struct.Struct(order + "IIII")
    out: list[tuple[float, bytes]] = []
    offset = 24
    while offset < len(data):
        if offset + rec.size > len(data):
            raise ValueError("truncated pcap record header")
        sec, frac, incl, _orig = rec.unpack_from(data, offset)
        offset += rec.size
        if offset + incl > len(data):
            raise ValueError("truncated pcap record")
        out.append((sec + frac * scale, data[offset : offset + incl]))
        offset += incl
    return out
