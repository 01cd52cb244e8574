"""FaultInjector: reproducible per seed, and it does what its probabilities say."""

from __future__ import annotations

import collections
import itertools
import math

import pytest
from usnet_backends import FaultInjector, MemoryEnd, memory_pair


def frame(n: int, size: int = 64) -> bytes:
    return n.to_bytes(4, "big") + bytes(size - 4)


def number(f: bytes) -> int:
    return int.from_bytes(f[:4], "big")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_tx(n: int, **faults: object) -> tuple[list[bytes], FaultInjector]:
    """Send n numbered frames through a FaultInjector; return what arrived at the far end."""
    a, b = memory_pair(queue_limit=10 * n)
    inj = FaultInjector(a, **faults)  # type: ignore[arg-type]
    for i in range(n):
        inj.send_batch([frame(i)])
    return b.recv_batch(10 * n), inj


def test_same_seed_same_result_different_seed_differs() -> None:
    faults = {"drop": 0.2, "duplicate": 0.1, "reorder": 0.1, "corrupt": 0.1}
    out1, inj1 = run_tx(500, seed=7, **faults)
    out2, inj2 = run_tx(500, seed=7, **faults)
    out3, _ = run_tx(500, seed=8, **faults)
    assert out1 == out2
    assert inj1.tx_counters == inj2.tx_counters
    assert out1 != out3


def test_fate_of_frame_n_independent_of_other_probabilities() -> None:
    only_drop, _ = run_tx(300, seed=3, drop=0.3)
    with_dups, _ = run_tx(300, seed=3, drop=0.3, duplicate=0.5)
    assert sorted({number(f) for f in only_drop}) == sorted({number(f) for f in with_dups})


def test_rx_and_tx_directions_both_faulted() -> None:
    a, b = memory_pair(queue_limit=5000)
    inj = FaultInjector(a, seed=1, drop=0.5)
    b.send_batch(frame(i) for i in range(1000))
    got = []
    while batch := inj.recv_batch(64):
        got += batch
    inj.send_batch(frame(i) for i in range(1000))
    assert inj.rx_counters.seen == 1000 and inj.tx_counters.seen == 1000
    assert len(got) == 1000 - inj.rx_counters.dropped
    assert len(b.recv_batch(5000)) == 1000 - inj.tx_counters.dropped
    assert 0 < inj.rx_counters.dropped < 1000 and 0 < inj.tx_counters.dropped < 1000


def within(observed: int, n: int, p: float) -> bool:
    """Binomial(n, p) count within 5 standard deviations."""
    return abs(observed - n * p) <= 5 * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("p", [0.01, 0.1, 0.5])
def test_drop_rate(p: float) -> None:
    n = 5000
    out, inj = run_tx(n, seed=11, drop=p)
    assert inj.tx_counters.dropped == n - len(out)
    assert within(inj.tx_counters.dropped, n, p)
    assert [number(f) for f in out] == sorted(number(f) for f in out)  # no reordering


def test_duplicate_rate() -> None:
    n = 5000
    out, inj = run_tx(n, seed=12, duplicate=0.2)
    assert len(out) == n + inj.tx_counters.duplicated
    assert within(inj.tx_counters.duplicated, n, 0.2)
    nums = [number(f) for f in out]
    assert sorted(set(nums)) == list(range(n))
    # Every duplicate comes right after its original.
    assert [k for k, m in itertools.pairwise(nums) if k == m] == sorted(
        k for k, c in collections.Counter(nums).items() if c == 2
    )


def test_corrupt_flips_exactly_one_bit_after_ethernet_header() -> None:
    n = 2000
    out, inj = run_tx(n, seed=13, corrupt=0.3)
    assert len(out) == n
    flipped = 0
    for i, f in enumerate(out):
        diff = int.from_bytes(f, "big") ^ int.from_bytes(frame(i), "big")
        if diff:
            flipped += 1
            assert diff.bit_count() == 1
            assert f[:14] == frame(i)[:14]
    assert flipped == inj.tx_counters.corrupted
    assert within(flipped, n, 0.3)


def test_reorder_swaps_with_next_frame() -> None:
    n = 3000
    out, inj = run_tx(n, seed=14, reorder=0.2)
    nums = [number(f) for f in out]
    assert sorted(nums) == list(range(n - 1)) or sorted(nums) == list(range(n))
    late = [i for i in range(1, len(nums)) if nums[i] < nums[i - 1]]
    assert all(nums[i] == nums[i - 1] - 1 for i in late)  # only adjacent swaps
    # A held frame is released after the next one unless it was the very last frame.
    assert len(late) in (inj.tx_counters.reordered, inj.tx_counters.reordered - 1)
    assert within(inj.tx_counters.reordered, n, 0.2 * (1 - 0.2))  # can't hold while holding


def test_reorder_timeout_releases_a_lone_held_frame() -> None:
    clock = FakeClock()
    a, b = memory_pair()
    inj = FaultInjector(a, seed=0, reorder=1.0, reorder_timeout=0.05, clock=clock)
    inj.send_batch([frame(1)])
    assert b.recv_batch() == [] and inj.poll_at() == pytest.approx(0.05)
    clock.now = 0.049
    inj.flush()
    assert b.recv_batch() == []
    clock.now = 0.05
    inj.flush()
    assert b.recv_batch() == [frame(1)]
    assert inj.poll_at() is None


def test_delay_holds_frames_until_due_both_directions() -> None:
    clock = FakeClock()
    a, b = memory_pair()
    inj = FaultInjector(a, seed=0, delay=0.1, clock=clock)
    inj.send_batch([frame(1), frame(2)])
    b.send_batch([frame(3)])
    assert inj.recv_batch() == [] and b.recv_batch() == []
    assert inj.poll_at() == pytest.approx(0.1)
    clock.now = 0.099
    assert inj.recv_batch() == [] and b.recv_batch() == []
    clock.now = 0.1
    assert inj.recv_batch() == [frame(3)]
    assert b.recv_batch() == [frame(1), frame(2)]  # recv_batch flushed the due sends
    assert inj.poll_at() is None
    assert inj.tx_counters.delayed == 2 and inj.rx_counters.delayed == 1


def test_passthrough_attributes_and_close() -> None:
    a, _ = memory_pair(mtu=1400, mac_a=b"\x02" * 6)
    with FaultInjector(a, seed=0) as inj:
        assert inj.mtu == 1400 and inj.mac == b"\x02" * 6 and inj.stats is a.stats
        assert inj.offloads == a.offloads
    assert isinstance(a, MemoryEnd) and a.closed


def test_invalid_probability_rejected() -> None:
    a, _ = memory_pair()
    with pytest.raises(ValueError, match="drop"):
        FaultInjector(a, seed=0, drop=1.5)


def test_rate_limit_serialises_and_tail_drops() -> None:
    # 100,000 B/s and 1,000-byte frames: one frame per 10 ms; the queue holds 50 ms.
    clock = FakeClock()
    a, b = memory_pair()
    inj = FaultInjector(a, seed=0, rate=100_000, rate_queue=0.05, clock=clock)
    inj.send_batch([frame(i, 1000) for i in range(20)])
    assert inj.tx_counters.rate_limited == 14  # frames 0-5 start within 50 ms
    arrived: list[int] = []
    for step in range(1, 8):
        clock.now = step * 0.01 + 1e-9  # past the due time despite float rounding
        inj.flush()
        arrived += [number(f) for f in b.recv_batch()]
        assert len(arrived) == min(step, 6)
    assert arrived == [0, 1, 2, 3, 4, 5]
    # Once the queue drained, the link takes frames again at its rate.
    clock.now = 1.0
    inj.send_batch([frame(99, 1000)])
    inj.flush()
    assert b.recv_batch() == []
    clock.now = 1.01 + 1e-9
    inj.flush()
    assert [number(f) for f in b.recv_batch()] == [99]


def test_rate_limit_off_by_default() -> None:
    arrived, inj = run_tx(50, seed=1)
    assert len(arrived) == 50 and inj.tx_counters.rate_limited == 0
