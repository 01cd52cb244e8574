"""An in-memory Ethernet segment between two endpoints, for tests and in-process setups."""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Iterable

from .device import DeviceBase, DeviceStats, Frame, Offloads, closed_error

__all__ = ["MemoryEnd", "memory_pair"]

_ETH_HEADER = 14
_VLAN_TAG = 4


class MemoryEnd(DeviceBase):
    """One end of a `memory_pair`: frames sent here are received at the other end.

    Pure tests can use it without any fd: `pending` says how many frames wait. Adapters that
    wait on fds call `fileno()`, which lazily creates an eventfd that is readable exactly while
    frames wait. An eventfd rather than a pipe: one fd instead of two, no pipe buffer that could
    fill up, and one read resets it to "not readable".
    """

    def __init__(
        self, mtu: int, queue_limit: int, lock: threading.Lock, mac: bytes | None = None
    ) -> None:
        """Use `memory_pair` instead."""
        self.mtu = mtu
        self.mac = mac
        self.queue_limit = queue_limit
        self.offloads = Offloads()
        self.stats = DeviceStats()
        self.peer: MemoryEnd | None = None
        self.closed = False
        self._queue: collections.deque[bytes] = collections.deque()
        self._lock = lock  # shared by both ends: delivery touches the peer's queue
        self._efd = -1

    @property
    def pending(self) -> int:
        """Frames waiting to be received at this end."""
        return len(self._queue)

    def fileno(self) -> int:
        """An eventfd readable exactly while frames wait (created on first call)."""
        with self._lock:
            if self.closed:
                raise closed_error()
            if self._efd < 0:
                self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                if self._queue:
                    os.eventfd_write(self._efd, 1)
            return self._efd

    def recv_batch(self, limit: int = 64) -> list[bytes]:
        """Every frame waiting, at most `limit`; never blocks."""
        with self._lock:
            if self.closed:
                raise closed_error()
            queue = self._queue
            frames = [queue.popleft() for _ in range(min(limit, len(queue)))]
            if frames and not queue and self._efd >= 0:
                os.eventfd_read(self._efd)  # resets the counter: no longer readable
            self.stats.rx_frames += len(frames)
            self.stats.rx_bytes += sum(map(len, frames))
            return frames

    def send_batch(self, frames: Iterable[Frame]) -> None:
        """Deliver to the peer; oversize frames, a full peer queue or a closed peer drop."""
        max_len = self.mtu + _ETH_HEADER + _VLAN_TAG
        with self._lock:
            if self.closed:
                raise closed_error()
            peer, stats = self.peer, self.stats
            for frame in frames:
                data = bytes(frame)
                if (
                    peer is None
                    or peer.closed
                    or len(data) > max_len
                    or len(peer._queue) >= peer.queue_limit
                ):
                    stats.tx_dropped += 1
                    continue
                if not peer._queue and peer._efd >= 0:
                    os.eventfd_write(peer._efd, 1)
                peer._queue.append(data)
                stats.tx_frames += 1
                stats.tx_bytes += len(data)

    def close(self) -> None:
        """Close this end (idempotent); frames sent to it afterwards are dropped."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._queue.clear()
            if self._efd >= 0:
                os.close(self._efd)
                self._efd = -1


def memory_pair(
    mtu: int = 1500,
    queue_limit: int = 1024,
    mac_a: bytes | None = None,
    mac_b: bytes | None = None,
) -> tuple[MemoryEnd, MemoryEnd]:
    """Two connected endpoints of one in-memory Ethernet segment (thread-safe).

    Each direction holds at most `queue_limit` frames; beyond that the sender drops and
    counts (`stats.tx_dropped`), as it does for frames longer than `mtu` + 18.
    """
    lock = threading.Lock()
    a = MemoryEnd(mtu, queue_limit, lock, mac_a)
    b = MemoryEnd(mtu, queue_limit, lock, mac_b)
    a.peer, b.peer = b, a
    return a, b
