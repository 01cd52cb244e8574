"""Retransmission: RTO with backoff, fast retransmit, NewReno and SACK recovery."""

from __future__ import annotations

import pytest
from tcp_harness import LPORT, REMOTE_ISS, RPORT, Harness
from usnet_core import errors
from usnet_core.tcp import State
from usnet_core.wire.tcp import ACK, PSH, TcpRepr

R = REMOTE_ISS + 1


def test_rto_retransmits_with_exponential_backoff() -> None:
    h = Harness(min_rto=0.2)
    sock, synack = h.open_passive()  # handshake RTT 0: RTO = min_rto
    L = synack.seq + 1
    sock.send(b"lost")
    seg = h.recv_one()
    assert seg == TcpRepr(LPORT, RPORT, L, R, PSH | ACK, 65535, payload=b"lost")
    times = []
    for _ in range(3):
        at = h.layer.poll_at()
        assert at is not None
        h.now = at
        assert h.recv_one() == seg
        times.append(at)
    assert times == pytest.approx([0.2, 0.6, 1.4])
    assert h.layer.stats.retransmits == 3
    h.send(R, L + 4, ACK)
    h.recv_nothing()
    assert h.layer.poll_at() is None


def test_rto_gives_up_after_max_retries() -> None:
    h = Harness(min_rto=0.2, max_retries=2)
    sock, _ = h.open_passive()
    sock.send(b"x")
    h.recv_one()
    h.run_timers(100.0)
    assert isinstance(sock.error, errors.ConnectionTimedOut)
    assert sock.state is State.CLOSED
    with pytest.raises(errors.ConnectionTimedOut):
        sock.send(b"y")
    with pytest.raises(errors.BrokenPipe):
        sock.send(b"y")


def test_rto_collapses_cwnd_to_one_segment() -> None:
    h = Harness(min_rto=0.2)
    sock, synack = h.open_passive()
    sock.send(b"s" * 14600)
    assert len(h.recv()) == 10
    h.now = 0.2
    segs = h.recv()
    assert len(segs) == 1 and segs[0].seq == synack.seq + 1 and len(segs[0].payload) == 1460
    assert sock.cwnd == 1460


def test_karn_rtt_sample_from_unretransmitted_segment() -> None:
    h = Harness(min_rto=0.01)
    sock, synack = h.open_passive()
    L = synack.seq + 1
    sock.send(b"a" * 100)
    h.recv_one()
    h.now = 0.5
    h.send(R, L + 100, ACK)
    # First sample 0 s (the handshake), then 0.5 s: SRTT = 7/8 * 0 + 1/8 * 0.5.
    assert sock._rtt.srtt == pytest.approx(0.0625)


def _send_flight(h: Harness, nseg: int = 6) -> tuple[int, list[TcpRepr]]:
    sock, synack = h.open_passive(**({"sack_permitted": True} if h.cfg.sack else {}))
    sock.nodelay = True
    L = synack.seq + 1
    sock.send(b"".join(bytes([65 + i]) * 1000 for i in range(nseg)))
    segs = h.recv()
    assert [s.seq for s in segs] == [L + 1000 * i for i in range(nseg)]
    return L, segs


def test_fast_retransmit_after_three_dupacks() -> None:
    h = Harness(mss=1000)  # 1000-byte segments (no options)
    L, segs = _send_flight(h)
    for _ in range(2):
        h.send(R, L, ACK)
        h.recv_nothing()
    h.send(R, L, ACK)
    out = h.recv_one()
    assert (out.seq, out.payload) == (L, segs[0].payload)
    assert h.layer.stats.fast_retransmits == 1


def test_newreno_partial_ack_retransmits_next_hole() -> None:
    h = Harness(mss=1000)
    L, _segs = _send_flight(h)
    for _ in range(3):
        h.send(R, L, ACK)
    assert h.recv_one().seq == L
    # Partial ACK: segments 1 and 2 arrived, segment 3 was lost too.
    h.send(R, L + 3000, ACK)
    out = h.recv()
    assert out and out[0].seq == L + 3000
    h.send(R, L + 6000, ACK)  # full ACK ends recovery
    sock = next(iter(h.layer.iter_connections()))
    assert not sock._in_recovery
    assert sock.cwnd == sock._cc.ssthresh


def test_sack_recovery_retransmits_only_holes() -> None:
    h = Harness(mss=1000, sack=True)
    L, _segs = _send_flight(h, 8)
    # Segments 0 and 3 lost; the peer SACKs 1-2 and 4-7.
    h.send(R, L, ACK, sack_blocks=((L + 1000, L + 3000),))
    h.send(R, L, ACK, sack_blocks=((L + 4000, L + 5000), (L + 1000, L + 3000)))
    h.send(R, L, ACK, sack_blocks=((L + 4000, L + 8000), (L + 1000, L + 3000)))
    out = h.recv()
    assert [s.seq for s in out][:2] == [L, L + 3000]
    assert all(s.seq not in (L + 1000, L + 2000, L + 4000) for s in out)


def test_sack_recovery_enters_on_sacked_bytes() -> None:
    h = Harness(mss=1000, sack=True)
    L, _ = _send_flight(h, 6)
    h.send(R, L, ACK, sack_blocks=((L + 1000, L + 5000),))
    out = h.recv()
    assert [s.seq for s in out] == [L]


def test_no_fast_retransmit_for_window_updates() -> None:
    h = Harness(mss=1000)
    L, _ = _send_flight(h)
    for w in (60000, 61000, 62000):
        h.send(R, L, ACK, window=w)
    h.recv_nothing()


def test_persistent_loss_rto_then_recovery_completes() -> None:
    h = Harness(min_rto=0.2)
    sock, synack = h.open_passive()
    L = synack.seq + 1
    sock.send(b"k" * 3000)
    h.recv()
    h.now = 0.2
    first = h.recv_one()
    assert first.seq == L
    h.send(R, L + 1460, ACK)
    rest = h.recv()
    assert [s.seq for s in rest] == [L + 1460, L + 2920]
    h.send(R, L + 3000, ACK)
    h.recv_nothing()
    assert sock.in_flight == 0 and h.layer.poll_at() is None


def test_dupacks_with_new_sack_count_even_when_window_grows() -> None:
    """docs/tcp-kernel-findings.md #1: Linux grows its window in its duplicate ACKs."""
    h = Harness(mss=1000, sack=True)
    sock, synack = h.open_passive(window=60000, sack_permitted=True)
    sock.nodelay = True
    L = synack.seq + 1
    sock.send(bytes(8000))
    assert len(h.recv()) == 8
    for right, window in ((2, 61000), (3, 62000), (4, 63000)):
        h.send(R, L, ACK, window=window, sack_blocks=((L + 1000, L + 1000 * right),))
    out = h.recv()
    assert out and out[0].seq == L
    assert h.layer.stats.fast_retransmits == 1


def test_no_resend_of_sacked_data_after_rto() -> None:
    """docs/tcp-kernel-findings.md #2: go-back-N skips data SACKed after the RTO."""
    h = Harness(mss=1000, sack=True, min_rto=0.2)
    sock, synack = h.open_passive(sack_permitted=True)
    sock.nodelay = True
    L = synack.seq + 1
    sock.send(bytes(8000))
    assert len(h.recv()) == 8
    h.run_timers(h.now + 1.5)  # no ACK at all: RTOs resend segment 0
    h.send(R, L + 1000, ACK, sack_blocks=((L + 2000, L + 8000),))
    out = h.recv()
    assert [s.seq - L for s in out] == [1000]
