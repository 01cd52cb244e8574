"""MemoryEnd / memory_pair: delivery both ways, bounds, fd readiness."""

from __future__ import annotations

import errno
import select

import pytest
from backend_frames import open_fds
from usnet_backends import Device, memory_pair


def frame(n: int, size: int = 60) -> bytes:
    return n.to_bytes(4, "big") + bytes(size - 4)


def test_delivers_both_ways_in_order() -> None:
    a, b = memory_pair()
    a.send_batch([frame(1), bytearray(frame(2)), memoryview(frame(3))])
    b.send_batch([frame(9)])
    assert b.recv_batch() == [frame(1), frame(2), frame(3)]
    assert a.recv_batch() == [frame(9)]
    assert a.recv_batch() == [] and b.recv_batch() == []
    assert (a.stats.tx_frames, a.stats.rx_frames, b.stats.tx_frames, b.stats.rx_frames) == (
        3,
        1,
        1,
        3,
    )
    assert isinstance(a, Device)


def test_recv_respects_limit() -> None:
    a, b = memory_pair()
    a.send_batch(frame(i) for i in range(10))
    assert b.recv_batch(4) == [frame(i) for i in range(4)]
    assert b.pending == 6
    assert b.recv_batch(100) == [frame(i) for i in range(4, 10)]


def test_queue_bound_drops_and_counts() -> None:
    a, b = memory_pair(queue_limit=5)
    a.send_batch(frame(i) for i in range(8))
    assert a.stats.tx_frames == 5 and a.stats.tx_dropped == 3
    assert b.recv_batch() == [frame(i) for i in range(5)]  # the oldest survive
    a.send_batch([frame(99)])
    assert b.recv_batch() == [frame(99)]


def test_oversize_frames_dropped() -> None:
    a, b = memory_pair(mtu=100)
    a.send_batch([bytes(100 + 18), bytes(100 + 19)])  # header + VLAN tag allowed, not more
    assert a.stats.tx_dropped == 1
    assert [len(f) for f in b.recv_batch()] == [118]


def test_closed_peer_drops_and_closed_end_raises() -> None:
    a, b = memory_pair()
    b.close()
    b.close()  # idempotent
    a.send_batch([frame(1)])
    assert a.stats.tx_dropped == 1
    for op in (b.recv_batch, lambda: b.send_batch([frame(1)]), b.fileno):
        with pytest.raises(OSError) as info:
            op()
        assert info.value.errno == errno.EBADF


def test_fileno_readable_exactly_while_frames_wait() -> None:
    before = open_fds()
    with memory_pair()[0] as a:
        b = a.peer
        assert b is not None
        a.send_batch([frame(1)])  # before the eventfd exists: fileno() must catch up
        fd = b.fileno()
        assert select.select([fd], [], [], 0)[0] == [fd]
        b.recv_batch(1)
        assert select.select([fd], [], [], 0)[0] == []
        a.send_batch([frame(2), frame(3)])
        assert select.select([fd], [], [], 0)[0] == [fd]
        b.recv_batch(1)
        assert select.select([fd], [], [], 0)[0] == [fd]  # one still waits
        b.recv_batch(1)
        assert select.select([fd], [], [], 0)[0] == []
        b.close()
    assert open_fds() == before


def test_pure_use_opens_no_fds() -> None:
    before = open_fds()
    a, b = memory_pair()
    a.send_batch([frame(1)])
    assert b.recv_batch() == [frame(1)]
    assert open_fds() == before
