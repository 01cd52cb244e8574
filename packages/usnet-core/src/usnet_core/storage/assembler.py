"""Out-of-order byte ranges of a TCP receive stream, with a bounded number of ranges.

Offsets are relative to the front: offset 0 is the next byte the reader expects. The
ranges are kept sorted, disjoint and non-adjacent, so their count is the number of
separate islands of data; refusing to exceed `max_ranges` bounds memory under a peer that
sends scattered segments (the data is dropped and will be retransmitted).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

__all__ = ["Assembler"]


class Assembler:
    """Tracks which byte ranges past the front have been received."""

    __slots__ = ("_ends", "_max_ranges", "_starts")

    def __init__(self, max_ranges: int = 32) -> None:
        if max_ranges < 1:
            raise ValueError("Assembler max_ranges must be >= 1")
        self._max_ranges = max_ranges
        self._starts: list[int] = []
        self._ends: list[int] = []

    @property
    def max_ranges(self) -> int:
        """The most separate ranges this assembler will hold."""
        return self._max_ranges

    def __len__(self) -> int:
        """Number of separate ranges held."""
        return len(self._starts)

    def __repr__(self) -> str:
        return f"Assembler({self.ranges()!r})"

    def is_empty(self) -> bool:
        """Return whether no ranges are held."""
        return not self._starts

    def add(self, offset: int, size: int) -> bool:
        """Record [offset, offset+size) as received, merging with overlapping or adjacent
        ranges; return False and change nothing if that needs more than max_ranges."""
        if offset < 0 or size < 0:
            raise ValueError("Assembler.add offset and size must be >= 0")
        if size == 0:
            return True
        end = offset + size
        starts, ends = self._starts, self._ends
        lo = bisect_left(ends, offset)  # first range ending at or after offset
        hi = bisect_right(starts, end)  # ranges [lo, hi) touch [offset, end)
        if lo < hi:
            offset = min(offset, starts[lo])
            end = max(end, ends[hi - 1])
        elif len(starts) >= self._max_ranges:
            return False
        starts[lo:hi] = (offset,)
        ends[lo:hi] = (end,)
        return True

    def remove_front(self) -> int:
        """If a range starts at offset 0, remove it, shift the rest down by its length,
        and return that length; otherwise return 0."""
        starts = self._starts
        if not starts or starts[0] != 0:
            return 0
        n = self._ends[0]
        self._starts = [s - n for s in starts[1:]]
        self._ends = [e - n for e in self._ends[1:]]
        return n

    def ranges(self) -> list[tuple[int, int]]:
        """The held ranges as sorted (start, end) pairs relative to the front."""
        return list(zip(self._starts, self._ends, strict=True))

    def clear(self) -> None:
        """Forget all ranges."""
        self._starts.clear()
        self._ends.clear()
