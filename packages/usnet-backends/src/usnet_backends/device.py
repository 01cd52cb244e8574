"""The Device contract every usnet backend and wrapper follows."""

from __future__ import annotations

import errno
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

Frame = bytes | bytearray | memoryview
"""One Ethernet frame (no preamble, no FCS) as any bytes-like object."""


@dataclass(frozen=True, slots=True)
class Offloads:
    """Offloads negotiated with the device; all False until IFF_VNET_HDR support lands."""

    csum: bool = False
    tso4: bool = False
    tso6: bool = False


@dataclass(slots=True)
class DeviceStats:
    """Frame counters of one device; drops are frames the device could not take or hand over."""

    rx_frames: int = 0
    rx_bytes: int = 0
    tx_frames: int = 0
    tx_bytes: int = 0
    tx_dropped: int = 0
    rx_dropped: int = 0


@runtime_checkable
class Device(Protocol):
    """A layer-2 device: non-blocking batches of Ethernet frames in and out.

    `recv_batch` never blocks: it returns every frame ready now, up to `limit`, or `[]`.
    `send_batch` never blocks: a frame the device cannot take now is dropped and counted in
    `stats.tx_dropped`. `fileno()` is readable whenever `recv_batch` would return frames, so
    adapters can wait on it with select/epoll/trio. Using a closed device raises OSError(EBADF).
    """

    @property
    def mtu(self) -> int:
        """The IP MTU (Ethernet payload size, without the 14-byte header)."""
        ...

    @property
    def mac(self) -> bytes | None:
        """The MAC the stack should use, when the device has its own; None otherwise."""
        ...

    @property
    def offloads(self) -> Offloads:
        """Offloads in effect on this device."""
        ...

    @property
    def stats(self) -> DeviceStats:
        """Frame counters."""
        ...

    def fileno(self) -> int:
        """An fd that polls readable when frames are waiting."""
        ...

    def recv_batch(self, limit: int = 64) -> list[bytes]:
        """Every frame ready now, at most `limit`; `[]` when none."""
        ...

    def send_batch(self, frames: Iterable[Frame]) -> None:
        """Queue frames for the wire, dropping (and counting) what cannot be taken now."""
        ...

    def close(self) -> None:
        """Release the device; idempotent."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class DeviceBase:
    """Context-manager plumbing shared by the concrete devices and wrappers."""

    def close(self) -> None:
        """Release the device; idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class DeviceWrapper(DeviceBase):
    """Base of wrappers (FaultInjector, PcapWriter): forwards what they do not change."""

    inner: Device

    @property
    def mtu(self) -> int:
        """The wrapped device's MTU."""
        return self.inner.mtu

    @property
    def mac(self) -> bytes | None:
        """The wrapped device's MAC."""
        return self.inner.mac

    @property
    def offloads(self) -> Offloads:
        """The wrapped device's offloads."""
        return self.inner.offloads

    @property
    def stats(self) -> DeviceStats:
        """The wrapped device's counters."""
        return self.inner.stats

    def fileno(self) -> int:
        """The wrapped device's fd."""
        return self.inner.fileno()


def closed_error() -> OSError:
    """The error raised by I/O on a closed device."""
    return OSError(errno.EBADF, "I/O on a closed usnet device")
