"""Data transfer segment by segment: ACK policy, Nagle, windows, SACK generation."""

from __future__ import annotations

import pytest
from tcp_harness import LPORT, REMOTE_ISS, RPORT, Harness
from usnet_core import errors
from usnet_core.tcp import State
from usnet_core.wire.tcp import ACK, FIN, PSH, TcpRepr

R = REMOTE_ISS + 1  # the peer's first data sequence number


def test_send_data() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    L = synack.seq + 1
    assert sock.send(b"hello") == 5
    assert h.recv_one() == TcpRepr(LPORT, RPORT, L, R, PSH | ACK, 65535, payload=b"hello")
    assert sock.in_flight == 5
    h.send(R, L + 5, ACK)
    h.recv_nothing()
    assert sock.in_flight == 0


def test_receive_data_with_delayed_ack() -> None:
    h = Harness(delayed_ack=0.04)
    sock, synack = h.open_passive()
    L = synack.seq + 1
    h.send(R, L, ACK, payload=b"x" * 100)
    h.recv_nothing()
    assert sock.readable
    assert h.layer.poll_at() == pytest.approx(0.04)
    h.now = 0.039
    h.recv_nothing()
    h.now = 0.04
    assert h.recv_one() == TcpRepr(LPORT, RPORT, L, R + 100, ACK, 65435)
    assert sock.recv(1000) == b"x" * 100


def test_ack_every_second_full_segment() -> None:
    h = Harness()
    _sock, synack = h.open_passive()
    L = synack.seq + 1
    h.send(R, L, ACK, payload=b"a" * 1460)
    h.recv_nothing()
    h.send(R + 1460, L, ACK, payload=b"b" * 1460)
    ack = h.recv_one()
    assert (ack.seq, ack.ack, ack.flags) == (L, R + 2920, ACK)
    assert h.layer.poll_at() is None  # the delayed ACK timer went with it


def test_data_piggybacks_ack() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    L = synack.seq + 1
    h.send(R, L, ACK | PSH, payload=b"ping")
    assert sock.recv(10) == b"ping"
    sock.send(b"pong")
    seg = h.recv_one()
    assert (seg.seq, seg.ack, seg.payload) == (L, R + 4, b"pong")
    h.now = 1.0
    assert all(s.payload for s in h.recv())  # no separate delayed ACK


def test_nagle_holds_small_segment_until_ack() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    L = synack.seq + 1
    sock.send(b"a")
    assert h.recv_one().payload == b"a"
    sock.send(b"b")
    sock.send(b"c")
    h.recv_nothing()
    h.send(R, L + 1, ACK)
    assert h.recv_one() == TcpRepr(LPORT, RPORT, L + 1, R, PSH | ACK, 65535, payload=b"bc")


def test_nodelay_sends_small_segments_at_once() -> None:
    h = Harness()
    sock, _synack = h.open_passive()
    sock.nodelay = True
    sock.send(b"a")
    h.recv_one()
    sock.send(b"b")
    assert h.recv_one().payload == b"b"


def test_segments_respect_peer_mss() -> None:
    h = Harness()
    lst = h.listen()
    h.send(REMOTE_ISS, 0, 0x02, mss=1000)
    synack = h.recv_one()
    h.send(R, synack.seq + 1, ACK)
    sock = lst.accept()
    sock.send(b"z" * 2500)
    segs = h.recv()
    assert [len(s.payload) for s in segs] == [1000, 1000, 500]
    assert [s.flags for s in segs] == [ACK, ACK, PSH | ACK]


def test_send_window_limits_and_window_update_releases() -> None:
    h = Harness()
    sock, synack = h.open_passive(window=1500)
    L = synack.seq + 1
    sock.send(b"q" * 4000)
    seg = h.recv_one()
    assert len(seg.payload) == 1460  # the rest would be a small window-limited segment
    h.send(R, L + 1460, ACK, window=3000)
    assert [len(s.payload) for s in h.recv()] == [1460, 1080]


def test_window_scaling_applies_to_peer_window() -> None:
    h = Harness(window_scaling=True)
    sock, synack = h.open_passive(window_scale=2)
    L = synack.seq + 1
    h.send(R, L, ACK, window=1000)  # 4000 bytes
    sock.send(b"w" * 4000)
    assert sum(len(s.payload) for s in h.recv()) == 4000
    sock.send(b"w" * 1000)
    h.recv_nothing()


def test_out_of_order_immediate_ack_with_sack_blocks() -> None:
    h = Harness(sack=True)
    sock, synack = h.open_passive(sack_permitted=True)
    L = synack.seq + 1
    h.send(R + 100, L, ACK, payload=b"B" * 100)
    ack = h.recv_one()
    assert ack == TcpRepr(LPORT, RPORT, L, R, ACK, 65535, sack_blocks=((R + 100, R + 200),))
    h.send(R + 300, L, ACK, payload=b"D" * 100)
    ack = h.recv_one()
    assert ack.sack_blocks == ((R + 300, R + 400), (R + 100, R + 200))
    assert not sock.readable
    h.send(R, L, ACK, payload=b"A" * 100)  # fills the first hole: ACK at once
    ack = h.recv_one()
    assert (ack.ack, ack.sack_blocks) == (R + 200, ((R + 300, R + 400),))
    assert sock.recv(1000) == b"A" * 100 + b"B" * 100
    h.send(R + 200, L, ACK, payload=b"C" * 100)
    ack = h.recv_one()
    assert (ack.ack, ack.sack_blocks) == (R + 400, ())
    assert sock.recv(1000) == b"C" * 100 + b"D" * 100


def test_duplicate_segment_acked_at_once() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    L = synack.seq + 1
    h.send(R, L, ACK, payload=b"x" * 10)
    h.send(R, L, ACK, payload=b"x" * 10)
    ack = h.recv_one()
    assert ack.ack == R + 10
    assert sock.recv(100) == b"x" * 10


def test_large_gso_segment_accepted() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    L = synack.seq + 1
    h.send(R, L, ACK, payload=bytes(range(256)) * 100)
    assert h.recv_one().ack == R + 25600
    assert sock.recv(30000) == bytes(range(256)) * 100


def test_tso_emits_segments_up_to_max_segment() -> None:
    h = Harness(max_segment=16000)
    sock, synack = h.open_passive()
    sock.send(b"t" * 20000)
    assert [len(s.payload) for s in h.recv()] == [14600]  # IW10 = 10 * 1460 bytes
    h.send(R, synack.seq + 1 + 14600, ACK)
    assert [len(s.payload) for s in h.recv()] == [5400]


def test_receive_window_shrinks_then_sws_avoidance() -> None:
    h = Harness(rx_buffer=8000)
    lst = h.listen()
    h.send(REMOTE_ISS, 0, 0x02)
    synack = h.recv_one()
    assert synack.window == 8000
    h.send(R, synack.seq + 1, ACK)
    sock = lst.accept()
    L = synack.seq + 1
    h.send(R, L, ACK, payload=b"f" * 8000)
    assert h.recv_one().window == 0
    assert sock.recv(100) == b"f" * 100
    h.recv_nothing()  # 100 bytes free: below min(buffer/2, MSS), no update
    sock.recv(1500)
    upd = h.recv_one()  # 1600 free >= MSS: window update
    assert (upd.ack, upd.window) == (R + 8000, 1600)


def test_zero_window_probe_with_backoff() -> None:
    h = Harness(min_rto=0.2)
    sock, synack = h.open_passive(window=0)
    L = synack.seq + 1
    sock.send(b"data")
    h.recv_nothing()
    first = h.layer.poll_at()
    assert first is not None
    h.now = first
    probe = h.recv_one()
    assert probe == TcpRepr(LPORT, RPORT, L - 1, R, ACK, 65535)
    second = h.layer.poll_at()
    assert second is not None and second - first == pytest.approx(2 * first)
    h.now = second
    assert h.recv_one() == probe
    h.send(R, L, ACK, window=1000)
    assert h.recv_one().payload == b"data"
    assert h.layer.stats.window_probes == 2


def test_shutdown_read_gives_eof_and_discards() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    sock.shutdown("read")
    assert sock.recv(10) == b""
    h.send(R, synack.seq + 1, ACK, payload=b"ignored")
    assert sock.recv(10) == b""
    assert sock.readable


def test_peek_does_not_consume() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    h.send(R, synack.seq + 1, ACK, payload=b"abc")
    assert sock.peek(2) == b"ab"
    assert sock.recv(10) == b"abc"
    with pytest.raises(errors.WouldBlock):
        sock.recv(10)


def test_send_buffer_full_raises_wouldblock() -> None:
    h = Harness(tx_buffer=1000)
    sock, _ = h.open_passive()
    assert sock.send(b"x" * 3000) == 1000
    assert not sock.writable
    with pytest.raises(errors.WouldBlock):
        sock.send(b"x")


def test_cubic_selectable_per_socket() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    assert sock.congestion == "newreno"
    sock.congestion = "cubic"
    assert sock.congestion == "cubic"
    sock.send(b"c" * 30000)
    segs = h.recv()
    assert sum(len(s.payload) for s in segs) == sock.cwnd
    h.send(R, synack.seq + 1 + sock.cwnd, ACK)
    assert sock.state is State.ESTABLISHED


def test_ack_beyond_snd_max_is_acked_and_dropped() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    L = synack.seq + 1
    h.send(R, L + 1000, ACK, payload=b"zz")
    ack = h.recv_one()
    assert (ack.seq, ack.ack) == (L, R)
    assert sock.readable is False
    assert h.layer.stats.drops["ack_unsent"] == 1


def test_fin_flag_constant() -> None:
    assert FIN == 1


def test_each_out_of_order_segment_gets_its_own_dupack() -> None:
    h = Harness()
    _, synack = h.open_passive()
    L = synack.seq + 1
    for i in range(1, 4):  # one receive batch, segment R..R+100 lost
        h.send(R + 100 * i, L, ACK, payload=b"x" * 100)
    assert [(a.seq, a.ack, a.flags) for a in h.recv()] == [(L, R, ACK)] * 3


def test_in_order_batch_is_acked_once_per_dispatch() -> None:
    h = Harness()
    _, synack = h.open_passive()
    L = synack.seq + 1
    for i in range(6):
        h.send(R + 1460 * i, L, ACK, payload=b"y" * 1460)
    assert [a.ack for a in h.recv()] == [R + 6 * 1460]


def test_without_batching_every_second_full_segment_is_acked() -> None:
    h = Harness(ack_batching=False)
    _, synack = h.open_passive()
    L = synack.seq + 1
    for i in range(6):
        h.send(R + 1460 * i, L, ACK, payload=b"y" * 1460)
    assert [a.ack for a in h.recv()] == [R + 2920, R + 5840, R + 8760]


def test_duplicate_segment_reported_with_dsack() -> None:
    h = Harness(sack=True, dsack=True)
    sock, synack = h.open_passive(sack_permitted=True)
    L = synack.seq + 1
    h.send(R, L, ACK, payload=b"x" * 10)
    h.send(R, L, ACK, payload=b"x" * 10)  # a spurious retransmission
    ack = h.recv_one()
    assert (ack.ack, ack.sack_blocks) == (R + 10, ((R, R + 10),))
    h.send(R + 5, L, ACK, payload=b"x" * 5 + b"y" * 5)  # half old, half new
    h.now += 1.0
    ack = h.recv_one()
    assert (ack.ack, ack.sack_blocks) == (R + 15, ((R + 5, R + 10),))
    assert sock.recv(100) == b"x" * 10 + b"y" * 5


def test_no_dsack_unless_enabled() -> None:
    h = Harness(sack=True)
    _, synack = h.open_passive(sack_permitted=True)
    h.send(R, synack.seq + 1, ACK, payload=b"x" * 10)
    h.send(R, synack.seq + 1, ACK, payload=b"x" * 10)
    assert h.recv_one().sack_blocks == ()


def test_segment_mss_for_tso() -> None:
    from tcp_harness import LOCAL, REMOTE

    h = Harness(max_segment=16000)
    lst = h.listen()
    h.send(REMOTE_ISS, 0, 0x02, mss=1200)
    synack = h.recv_one()
    h.send(R, synack.seq + 1, ACK)
    sock = lst.accept()
    sock.send(b"g" * 9000)
    ((src, dst, raw, _),) = h.layer.dispatch(h.now)
    assert len(raw) - 20 == 9000  # one super-segment; IW10 = 12000 bytes at MSS 1200
    assert h.layer.segment_mss(src, dst, raw) == 1200
    assert (src, dst) == (LOCAL, REMOTE)


def test_data_with_sack_blocks_still_fits_the_mss() -> None:
    # RFC 6691: the MSS bounds data *and* options. A full data segment that also carries
    # SACK blocks for the peer's out-of-order data must shrink its payload, or it would
    # exceed the MTU (the Interface drops such a frame, and the connection stalls).
    h = Harness(sack=True, mss=1460, nodelay=True)
    sock, synack = h.open_passive(sack_permitted=True)
    L = synack.seq + 1
    h.send(R + 100, L, ACK, payload=b"B" * 100)  # a hole: we now hold one SACK block
    assert h.recv_one().sack_blocks == ((R + 100, R + 200),)
    sock.send(b"x" * 4000)
    segs = h.recv()
    assert segs and all(s.sack_blocks for s in segs)
    for s in segs:
        assert s.header_len - 20 + len(s.payload) <= 1460, (s.header_len, len(s.payload))
    assert sum(len(s.payload) for s in segs) == 4000
