"""storage.RingBuffer against a bytes reference model, across wraparound."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from usnet_core.storage import RingBuffer

chunks = st.binary(max_size=40)
counts = st.integers(0, 50)


def test_fifo_basics() -> None:
    rb = RingBuffer(8)
    assert (rb.capacity, len(rb), rb.free, rb.is_empty(), rb.is_full()) == (8, 0, 8, True, False)
    assert rb.write(b"abcdef") == 6
    assert rb.read(4) == b"abcd"
    assert rb.write(b"0123456789") == 6  # wraps: 2 stored + 6 = 8
    assert rb.is_full() and rb.free == 0
    assert rb.peek(1, 100) == b"f012345"
    assert rb.read(100) == b"ef012345"
    assert rb.is_empty()


def test_write_at_then_commit_across_wrap() -> None:
    rb = RingBuffer(10)
    rb.write(b"xxxxxxx")
    rb.discard(7)
    rb.write(b"ab")  # front at index 7, data at 7..8
    assert rb.write_at(3, b"FGHIJKL") == 5  # clipped to the 8 - 3 free bytes past offset 3
    assert len(rb) == 2
    assert rb.write(b"cde") == 3
    assert rb.commit(100) == 5
    assert rb.read(100) == b"abcdeFGHIJ"


def test_peek_into_and_read_into() -> None:
    rb = RingBuffer(5)
    rb.write(b"abc")
    rb.discard(2)
    rb.write(b"defg")  # wraps
    out = bytearray(3)
    assert rb.peek_into(1, out) == 3 and out == b"def"
    big = bytearray(10)
    assert rb.read_into(memoryview(big)) == 5
    assert big[:5] == b"cdefg"
    assert rb.read_into(big) == 0


def test_zero_capacity_and_bad_arguments() -> None:
    rb = RingBuffer(0)
    assert rb.write(b"a") == 0 and rb.write_at(0, b"a") == 0 and rb.commit(1) == 0
    assert rb.read(1) == b"" and rb.peek(0, 1) == b"" and rb.discard(1) == 0
    assert rb.is_empty() and rb.is_full()
    with pytest.raises(ValueError):
        RingBuffer(-1)
    rb = RingBuffer(4)
    for call in (
        lambda: rb.write_at(-1, b"x"),
        lambda: rb.commit(-1),
        lambda: rb.discard(-1),
        lambda: rb.peek(-1, 1),
        lambda: rb.peek_into(-1, bytearray(1)),
    ):
        with pytest.raises(ValueError):
            call()


class RingBufferModel(RuleBasedStateMachine):
    """The model: `stored` (readable bytes) and `space`, the free region after the end.

    `space[i]` is what the byte `i` past the end holds, or None where unknown (after
    clear). Freed bytes (discard, read) join the end of `space` with their old content.
    """

    def __init__(self) -> None:
        super().__init__()
        self.rb = RingBuffer(1)
        self.stored: list[int] = []
        self.space: list[int | None] = [0]

    @initialize(capacity=st.integers(1, 48))
    def setup(self, capacity: int) -> None:
        self.rb = RingBuffer(capacity)
        self.space = [0] * capacity

    def _take_front(self, n: int) -> list[int]:
        taken, self.stored = self.stored[:n], self.stored[n:]
        self.space += taken
        return taken

    @rule(data=chunks)
    def write(self, data: bytes) -> None:
        n = min(len(data), len(self.space))
        assert self.rb.write(data) == n
        self.stored += data[:n]
        self.space = self.space[n:]

    @rule(offset=st.integers(0, 50), data=chunks)
    def write_at(self, offset: int, data: bytes) -> None:
        n = max(0, min(len(data), len(self.space) - offset))
        assert self.rb.write_at(offset, data) == n
        self.space[offset : offset + n] = data[:n]

    @rule(n=counts)
    def commit(self, n: int) -> None:
        k = min(n, len(self.space))
        assert self.rb.commit(n) == k
        got = self.rb.peek(len(self.stored), k)
        assert len(got) == k
        for have, want in zip(got, self.space[:k], strict=True):
            assert want is None or have == want
        self.stored += got
        self.space = self.space[k:]

    @rule(offset=counts, n=counts)
    def peek(self, offset: int, n: int) -> None:
        assert self.rb.peek(offset, n) == bytes(self.stored[offset : offset + n])

    @rule(offset=counts, size=counts)
    def peek_into(self, offset: int, size: int) -> None:
        out = bytearray(b"\xee" * (size + 3))
        n = self.rb.peek_into(offset, memoryview(out)[:size])
        want = bytes(self.stored[offset : offset + size])
        assert n == len(want)
        assert out[:n] == want
        assert out[n:] == b"\xee" * (size + 3 - n)

    @rule(n=counts)
    def read(self, n: int) -> None:
        assert self.rb.read(n) == bytes(self._take_front(n))

    @rule(size=counts)
    def read_into(self, size: int) -> None:
        out = bytearray(size)
        n = self.rb.read_into(out)
        assert out[:n] == bytes(self._take_front(size))

    @rule(n=counts)
    def discard(self, n: int) -> None:
        assert self.rb.discard(n) == len(self._take_front(n))

    @rule()
    def clear(self) -> None:
        self.rb.clear()
        self.stored = []
        self.space = [None] * self.rb.capacity

    @invariant()
    def sizes_agree(self) -> None:
        assert len(self.rb) == len(self.stored)
        assert self.rb.free == len(self.space) == self.rb.capacity - len(self.stored)
        assert self.rb.is_empty() == (not self.stored)
        assert self.rb.is_full() == (not self.space)


TestRingBufferModel = RingBufferModel.TestCase
TestRingBufferModel.settings = settings(max_examples=300, stateful_step_count=60)


@given(st.integers(1, 32), st.lists(st.tuples(chunks, counts), max_size=30))
def test_stream_through_preserves_order(capacity: int, steps: list[tuple[bytes, int]]) -> None:
    rb = RingBuffer(capacity)
    sent = bytearray()
    got = bytearray()
    for data, n in steps:
        sent += data[: rb.write(data)]
        got += rb.read(n)
    got += rb.read(capacity)
    assert got == sent
