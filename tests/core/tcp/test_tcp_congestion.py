"""The congestion controllers in isolation (bytes, not packets)."""

from __future__ import annotations

import pytest
from usnet_core.tcp import Cubic, NewReno, make_congestion

MSS = 1000


def test_initial_window_rfc6928() -> None:
    assert NewReno(1460).cwnd == 14600
    assert NewReno(MSS).cwnd == 10 * MSS


def test_newreno_slow_start_counts_bytes() -> None:
    cc = NewReno(MSS)
    cc.on_ack(64_000, 0.0, 0.01)  # one GSO-sized ACK counts for all its bytes
    assert cc.cwnd == 74_000


def test_newreno_congestion_avoidance_one_mss_per_window() -> None:
    cc = NewReno(MSS)
    cc.on_loss(0.0, 20_000)
    assert cc.ssthresh == 10_000 and cc.cwnd == 10_000
    cc.on_recovery_exit(0.0)
    for _ in range(10):
        cc.on_ack(MSS, 0.0, 0.01)
    assert cc.cwnd == 11_000


def test_timeout_collapses_to_one_segment() -> None:
    cc = NewReno(MSS)
    cc.on_timeout(0.0, 30_000)
    assert (cc.cwnd, cc.ssthresh) == (MSS, 15_000)
    assert NewReno(MSS).ssthresh > 10**9


def test_cubic_reduces_by_beta() -> None:
    cc = Cubic(MSS)
    cc.cwnd = 100 * MSS
    cc.ssthresh = 50 * MSS
    cc.on_loss(0.0, 100 * MSS)
    assert cc.cwnd == 70 * MSS


def _grow(cc: Cubic | NewReno, rtt: float, rounds: int) -> list[int]:
    now, samples = 0.0, []
    for _ in range(rounds):
        now += rtt
        for _ in range(cc.cwnd // MSS):
            cc.on_ack(MSS, now, rtt)
        samples.append(cc.cwnd)
    return samples


def test_cubic_regrows_to_w_max_at_k_then_beyond() -> None:
    cc = Cubic(MSS)
    cc.cwnd = 1000 * MSS
    cc.ssthresh = 500 * MSS
    cc.on_loss(0.0, 1000 * MSS)
    assert cc.cwnd == 700 * MSS
    samples = _grow(cc, 0.1, 200)
    k = ((1000 - 700) / 0.4) ** (1 / 3)  # RFC 9438 K, about 9.1 s
    at_k = samples[round(k / 0.1) - 1]
    assert 960 * MSS <= at_k <= 1040 * MSS  # the plateau around W_max
    assert samples[40] < 960 * MSS  # concave approach
    assert samples[-1] > 1300 * MSS  # convex probing past W_max (~1530 at 20 s)


def test_cubic_reno_friendly_region_at_short_rtt() -> None:
    cc = Cubic(MSS)
    cc.cwnd = cc.ssthresh = 10 * MSS
    samples = _grow(cc, 0.001, 50)
    # W_est grows by alpha = 3(1-0.7)/(1+0.7) ~ 0.53 segments per RTT (RFC 9438 4.3).
    assert samples[-1] == pytest.approx((10 + 0.53 * 50) * MSS, rel=0.1)


def test_make_congestion() -> None:
    assert make_congestion("cubic", MSS).name == "cubic"
    assert make_congestion("newreno", MSS).name == "newreno"
    with pytest.raises(ValueError):
        make_congestion("bbr", MSS)
