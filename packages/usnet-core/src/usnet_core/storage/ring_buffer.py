"""A bounded byte FIFO over one bytearray, for TCP send and receive buffers.

Besides the FIFO verbs it can read without dequeuing (`peek`, for building
retransmissions from the send buffer) and write past the end of the stored data without
making it readable (`write_at`, for out-of-order receive data; `commit` publishes it once
the Assembler says it is contiguous). Every operation is at most two slice copies.
"""

from __future__ import annotations

__all__ = ["RingBuffer"]


def _bytes_view(data: bytes | bytearray | memoryview) -> memoryview:
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


class RingBuffer:
    """A byte FIFO of fixed capacity (any size, not only powers of two)."""

    __slots__ = ("_buf", "_capacity", "_len", "_read")

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError("RingBuffer capacity must be >= 0")
        self._buf = bytearray(capacity)
        self._capacity = capacity
        self._read = 0  # index of the front byte
        self._len = 0  # bytes stored (readable)

    @property
    def capacity(self) -> int:
        """Maximum number of bytes the buffer holds."""
        return self._capacity

    def __len__(self) -> int:
        """Number of readable bytes stored."""
        return self._len

    @property
    def free(self) -> int:
        """Number of bytes that can still be written."""
        return self._capacity - self._len

    def is_empty(self) -> bool:
        """Return whether no bytes are stored."""
        return self._len == 0

    def is_full(self) -> bool:
        """Return whether no more bytes fit."""
        return self._len == self._capacity

    def __repr__(self) -> str:
        return f"RingBuffer(capacity={self._capacity}, len={self._len})"

    def _index(self, distance: int) -> int:
        # Physical index of the byte `distance` after the front; distance <= capacity.
        pos = self._read + distance
        return pos - self._capacity if pos >= self._capacity else pos

    def _store(self, start: int, src: memoryview) -> None:
        # Copy src (len <= capacity) to physical index start, wrapping once at most.
        n = len(src)
        first = min(n, self._capacity - start)
        self._buf[start : start + first] = src[:first]
        if first < n:
            self._buf[0 : n - first] = src[first:]

    def _load(self, start: int, dst: memoryview) -> None:
        # Copy len(dst) bytes from physical index start into dst, wrapping once at most.
        n = len(dst)
        first = min(n, self._capacity - start)
        buf = memoryview(self._buf)
        dst[:first] = buf[start : start + first]
        if first < n:
            dst[first:] = buf[0 : n - first]

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Enqueue as many bytes of data as fit; return how many were taken."""
        src = _bytes_view(data)
        n = min(len(src), self._capacity - self._len)
        if n == 0:
            return 0
        self._store(self._index(self._len), src[:n])
        self._len += n
        return n

    def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> int:
        """Store data `offset` bytes past the end of the readable data, unreadable until
        `commit`; clip to the free space and return how many bytes were stored."""
        if offset < 0:
            raise ValueError("write_at offset must be >= 0")
        src = _bytes_view(data)
        n = min(len(src), self._capacity - self._len - offset)
        if n <= 0:
            return 0
        self._store(self._index(self._len + offset), src[:n])
        return n

    def commit(self, n: int) -> int:
        """Make the next n bytes after the end readable (clipped to free); return count."""
        if n < 0:
            raise ValueError("commit count must be >= 0")
        n = min(n, self._capacity - self._len)
        self._len += n
        return n

    def peek_into(self, offset: int, buf: bytearray | memoryview) -> int:
        """Copy up to len(buf) bytes starting `offset` bytes after the front into buf,
        without dequeuing; return how many were copied."""
        if offset < 0:
            raise ValueError("peek offset must be >= 0")
        dst = _bytes_view(buf)
        n = min(len(dst), self._len - offset)
        if n <= 0:
            return 0
        self._load(self._index(offset), dst[:n])
        return n

    def peek(self, offset: int, n: int) -> bytes:
        """Return a copy of up to n bytes starting `offset` bytes after the front."""
        if offset < 0 or n < 0:
            raise ValueError("peek offset and count must be >= 0")
        n = min(n, self._len - offset)
        if n <= 0:
            return b""
        start = self._index(offset)
        first = min(n, self._capacity - start)
        if first == n:
            return bytes(self._buf[start : start + n])
        return bytes(self._buf[start:]) + bytes(self._buf[0 : n - first])

    def read_into(self, buf: bytearray | memoryview) -> int:
        """Dequeue up to len(buf) bytes into buf; return how many were copied."""
        n = self.peek_into(0, buf)
        self.discard(n)
        return n

    def read(self, n: int) -> bytes:
        """Dequeue and return up to n bytes."""
        data = self.peek(0, n)
        self.discard(len(data))
        return data

    def discard(self, n: int) -> int:
        """Drop up to n bytes from the front (e.g. acknowledged data); return count."""
        if n < 0:
            raise ValueError("discard count must be >= 0")
        n = min(n, self._len)
        # The front moves even when the buffer empties: bytes stored by write_at sit at
        # fixed distances after the end and must stay where commit will find them.
        self._read = self._index(n)
        self._len -= n
        return n

    def clear(self) -> None:
        """Drop all stored bytes, including uncommitted ones from write_at."""
        self._read = 0
        self._len = 0
