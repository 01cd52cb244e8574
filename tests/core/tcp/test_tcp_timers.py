"""Keep-alive, persist timer edge cases, RTT from timestamps, readiness notifications."""

from __future__ import annotations

import pytest
from tcp_harness import LPORT, REMOTE_ISS, RPORT, Harness
from usnet_core import errors
from usnet_core.tcp import State
from usnet_core.wire.tcp import ACK, TcpRepr

R = REMOTE_ISS + 1


def test_keepalive_probes_then_times_out() -> None:
    h = Harness(keepalive=10.0, keepalive_interval=1.0, keepalive_count=2)
    sock, synack = h.open_passive()
    L = synack.seq + 1
    assert h.layer.poll_at() == pytest.approx(10.0)
    h.now = 10.0
    assert h.recv_one() == TcpRepr(LPORT, RPORT, L - 1, R, ACK, 65535)
    h.now = 11.0
    assert h.recv_one().seq == L - 1
    h.now = 12.0
    h.recv_nothing()
    assert isinstance(sock.error, errors.ConnectionTimedOut)
    assert h.layer.connections == 0


def test_keepalive_answered_keeps_connection() -> None:
    h = Harness(keepalive=10.0, keepalive_interval=1.0, keepalive_count=2)
    sock, synack = h.open_passive()
    L = synack.seq + 1
    h.now = 10.0
    h.recv_one()
    h.send(R, L, ACK)  # the answer to the probe
    h.recv_nothing()
    assert h.layer.poll_at() == pytest.approx(20.0)
    assert sock.state is State.ESTABLISHED


def test_keepalive_off_by_default_and_settable() -> None:
    h = Harness()
    sock, _ = h.open_passive()
    assert sock.keepalive is None and h.layer.poll_at() is None
    sock.keepalive = 5.0
    h.recv_nothing()
    assert h.layer.poll_at() == pytest.approx(5.0)


def test_window_closing_with_data_in_flight_switches_to_probing() -> None:
    h = Harness(min_rto=0.2, max_retries=3)
    sock, synack = h.open_passive(window=3000)
    L = synack.seq + 1
    sock.send(b"p" * 3000)
    assert sum(len(s.payload) for s in h.recv()) == 3000
    h.send(R, L + 1000, ACK, window=0)  # took 1000 bytes, then the window closed
    h.recv_nothing()
    out = h.run_timers(30.0)  # RTO, then probes: no giving up while probes are answered
    probes = [s for s in out if not s.payload]
    assert probes and all(s.seq == L + 999 for s in probes)
    for s in probes:
        assert s.ack == R
    assert sock.state is State.CLOSED  # nobody answered the probes: timed out
    assert isinstance(sock.error, errors.ConnectionTimedOut)


def test_zero_window_probes_answered_never_time_out() -> None:
    h = Harness(min_rto=0.2, max_retries=2, max_rto=1.0)
    sock, synack = h.open_passive(window=0)
    L = synack.seq + 1
    sock.send(b"z")
    h.recv_nothing()
    for _ in range(10):
        at = h.layer.poll_at()
        assert at is not None
        h.now = at
        assert h.recv_one().seq == L - 1
        h.send(R, L, ACK, window=0)
        h.recv_nothing()
    assert sock.state is State.ESTABLISHED
    h.send(R, L, ACK, window=100)
    assert h.recv_one().payload == b"z"


def test_rtt_from_timestamps_even_after_retransmission() -> None:
    h = Harness(timestamps=True, min_rto=0.2)
    sock, synack = h.open_passive(timestamp=(1, 0))
    L = synack.seq + 1
    sock.send(b"x")
    h.recv_one()
    h.now = 0.2
    rexmit = h.recv_one()
    assert rexmit.timestamp is not None
    h.now = 0.25
    h.send(R, L + 1, ACK, timestamp=(2, rexmit.timestamp[0]))
    # Samples: 0 s from the handshake, then 0.05 s measured from the retransmission's
    # echoed timestamp (Karn's rule does not apply to timestamp samples).
    assert sock._rtt.srtt == pytest.approx(0.05 / 8, abs=0.001)


def test_take_changed_reports_readiness_changes() -> None:
    h = Harness()
    lst = h.listen()
    h.send(REMOTE_ISS, 0, 0x02)
    synack = h.recv_one()
    h.layer.take_changed()
    h.send(R, synack.seq + 1, ACK)
    assert lst in h.layer.take_changed()
    sock = lst.accept()
    h.send(R, synack.seq + 1, ACK, payload=b"hi")
    assert sock in h.layer.take_changed()
    assert h.layer.take_changed() == set()
