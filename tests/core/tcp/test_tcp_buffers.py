"""GrowingRing behaves like a RingBuffer of its full capacity while allocating lazily."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from usnet_core.storage.ring_buffer import RingBuffer
from usnet_core.tcp.buffers import GrowingRing

ops = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(0, 3000)),
        st.tuples(st.just("write_at"), st.integers(0, 5000), st.integers(0, 3000)),
        st.tuples(st.just("commit"), st.integers(0, 4000)),
        st.tuples(st.just("read"), st.integers(0, 4000)),
        st.tuples(st.just("discard"), st.integers(0, 4000)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ops, st.integers(1, 20_000))
def test_growing_ring_matches_ring_buffer(script: list[tuple[int | str, ...]], cap: int) -> None:
    ref, dut = RingBuffer(cap), GrowingRing(cap, initial=64)
    counter = 0
    extent = 0  # bytes past the end written by write_at: only those may be committed
    for op in script:
        kind = op[0]
        if kind == "write":
            data = bytes((counter + i) % 251 for i in range(int(op[1])))
            counter += 7
            n = ref.write(data)
            assert dut.write(data) == n
            extent = max(0, extent - n)
        elif kind == "write_at":
            data = bytes((counter + i) % 253 for i in range(int(op[2])))
            counter += 11
            off = min(int(op[1]), extent)  # no holes: their content is unspecified
            n = ref.write_at(off, data)
            assert dut.write_at(off, data) == n
            if n:
                extent = max(extent, off + n)
        elif kind == "commit":
            k = min(int(op[1]), extent)
            assert dut.commit(k) == ref.commit(k)
            extent -= k
        elif kind == "read":
            assert dut.peek(0, int(op[1])) == ref.peek(0, int(op[1]))
            buf1, buf2 = bytearray(int(op[1])), bytearray(int(op[1]))
            assert dut.read_into(buf1) == ref.read_into(buf2)
            assert buf1 == buf2
        else:
            assert dut.discard(int(op[1])) == ref.discard(int(op[1]))
        assert len(dut) == len(ref) and dut.free == ref.free
        assert dut.peek(0, len(ref)) == ref.peek(0, len(ref))


def test_idle_connection_buffers_stay_small() -> None:
    ring = GrowingRing(500_000)
    assert ring.allocated == 4096 and ring.free == 500_000
    ring.write(bytes(100_000))
    assert 100_000 <= ring.allocated <= 500_000
