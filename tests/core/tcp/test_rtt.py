"""tcp.rtt.RttEstimator: RFC 6298 formulas, clamping and backoff."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from usnet_core.tcp.rtt import RttEstimator


def test_initial_rto() -> None:
    est = RttEstimator()
    assert est.rto == 1.0  # RFC 6298 2.1
    assert est.srtt is None and est.rttvar is None


def test_first_and_second_sample() -> None:
    est = RttEstimator()
    est.sample(0.1)  # RFC 6298 2.2
    assert est.srtt == pytest.approx(0.1)
    assert est.rttvar == pytest.approx(0.05)
    assert est.rto == pytest.approx(0.1 + 4 * 0.05)
    est.sample(0.2)  # RFC 6298 2.3, RTTVAR with the old SRTT
    assert est.rttvar == pytest.approx(0.75 * 0.05 + 0.25 * 0.1)
    assert est.srtt == pytest.approx(0.875 * 0.1 + 0.125 * 0.2)
    assert est.rto == pytest.approx(0.1125 + 4 * 0.0625)


def test_granularity_term() -> None:
    est = RttEstimator(min_rto=1e-6, granularity=0.5)
    est.sample(0.0)
    assert est.rto == pytest.approx(0.5)


def test_clamped_to_min_and_max() -> None:
    est = RttEstimator()
    est.sample(0.01)
    assert est.rto == 0.2  # Linux's 200 ms floor, not RFC 6298 2.4's 1 s
    est = RttEstimator(min_rto=1.0, max_rto=30.0)
    est.sample(0.01)
    assert est.rto == 1.0
    est.sample(100.0)
    assert est.rto == 30.0


def test_backoff_doubles_caps_and_resets() -> None:
    est = RttEstimator()
    est.sample(0.1)
    base = est.rto
    est.backoff()
    assert est.rto == pytest.approx(2 * base)
    est.backoff()
    assert est.rto == pytest.approx(4 * base)
    assert est.backoff_count == 2
    for _ in range(2000):
        est.backoff()
    assert est.rto == 60.0  # RFC 6298 5.5 with the 2.5 maximum
    est.reset_backoff()
    assert est.rto == pytest.approx(base)
    assert est.backoff_count == 0


def test_backoff_before_any_sample() -> None:
    est = RttEstimator()
    est.backoff()
    assert est.rto == 2.0


def test_sample_ends_backoff() -> None:
    est = RttEstimator()
    est.sample(0.1)
    est.backoff()
    est.backoff()
    est.sample(0.1)
    assert est.backoff_count == 0
    assert est.rto == pytest.approx(est.srtt + 4 * est.rttvar)  # type: ignore[operator]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        RttEstimator(min_rto=2.0, max_rto=1.0)
    with pytest.raises(ValueError):
        RttEstimator().sample(-0.1)


@given(st.lists(st.floats(0.0, 10.0), min_size=1, max_size=40))
def test_rto_always_within_bounds_and_matches_formula(samples: list[float]) -> None:
    est = RttEstimator()
    srtt = rttvar = 0.0
    for i, r in enumerate(samples):
        est.sample(r)
        if i == 0:
            srtt, rttvar = r, r / 2
        else:
            rttvar = 0.75 * rttvar + 0.25 * abs(srtt - r)
            srtt = 0.875 * srtt + 0.125 * r
        assert 0.2 <= est.rto <= 60.0
        assert est.rto == pytest.approx(min(max(srtt + max(0.001, 4 * rttvar), 0.2), 60.0))
