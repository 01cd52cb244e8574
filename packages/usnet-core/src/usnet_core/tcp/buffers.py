"""A RingBuffer that grows on demand up to its configured capacity.

A connection's buffers default to 500 kB each (SOCKET_BUFFER) and a zero-filled bytearray
costs its full size at once, so an idle connection would hold 1 MB. This wrapper keeps the
RingBuffer interface the connection uses, reports the *configured* capacity and free space
(so windows are advertised as configured), and allocates physical room in doubling steps,
starting small. Out-of-order bytes stored past the end with `write_at` survive a growth.
"""

from __future__ import annotations

from usnet_core.storage.ring_buffer import RingBuffer

__all__ = ["GrowingRing"]

_INITIAL = 4096


class GrowingRing:
    """RingBuffer semantics with lazily grown storage (at most `capacity` bytes)."""

    __slots__ = ("_capacity", "_extent", "_ring")

    def __init__(self, capacity: int, initial: int = _INITIAL) -> None:
        self._capacity = capacity
        self._ring = RingBuffer(min(capacity, initial))
        self._extent = 0  # bytes past the end that write_at may have stored

    @property
    def capacity(self) -> int:
        """The configured maximum size."""
        return self._capacity

    @property
    def allocated(self) -> int:
        """Bytes of storage allocated now."""
        return self._ring.capacity

    def __len__(self) -> int:
        return len(self._ring)

    @property
    def free(self) -> int:
        """Room left under the configured capacity."""
        return self._capacity - len(self._ring)

    def is_empty(self) -> bool:
        """Return whether no readable bytes are stored."""
        return len(self._ring) == 0

    def _reserve(self, total: int) -> None:
        # Make the physical ring hold `total` bytes counted from the front.
        ring = self._ring
        if total <= ring.capacity:
            return
        size = min(max(total, 2 * ring.capacity), self._capacity)
        new = RingBuffer(size)
        stored = len(ring)
        extent = min(self._extent, ring.capacity - stored)
        if extent > 0:
            ring.commit(extent)  # the old ring is dropped: expose its pending bytes
            data = ring.peek(0, stored + extent)
            new.write(data[:stored])
            new.write_at(0, data[stored:])
        else:
            new.write(ring.peek(0, stored))
        self._ring = new

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Enqueue as much of data as fits under the capacity; return the count."""
        n = min(len(data), self._capacity - len(self._ring))
        self._reserve(len(self._ring) + n)
        n = self._ring.write(data[:n] if n < len(data) else data)
        self._extent = max(0, self._extent - n)
        return n

    def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> int:
        """Store data `offset` bytes past the end, unreadable until `commit`."""
        end = min(offset + len(data), self._capacity - len(self._ring))
        if end <= offset:
            return 0
        self._reserve(len(self._ring) + end)
        n = self._ring.write_at(offset, data)
        self._extent = max(self._extent, offset + n)
        return n

    def commit(self, n: int) -> int:
        """Make the next n bytes after the end readable."""
        self._reserve(min(len(self._ring) + n, self._capacity))
        n = self._ring.commit(n)
        self._extent = max(0, self._extent - n)
        return n

    def peek(self, offset: int, n: int) -> bytes:
        """A copy of up to n bytes starting `offset` bytes after the front."""
        return self._ring.peek(offset, n)

    def read_into(self, buf: bytearray | memoryview) -> int:
        """Dequeue up to len(buf) bytes into buf."""
        return self._ring.read_into(buf)

    def discard(self, n: int) -> int:
        """Drop up to n bytes from the front."""
        return self._ring.discard(n)

    def clear(self) -> None:
        """Drop everything, including bytes stored with write_at."""
        self._ring.clear()
        self._extent = 0
