"""Closing: FIN exchanges, half-close, TIME-WAIT, resets and RFC 5961 defences."""

from __future__ import annotations

import pytest
from tcp_harness import LPORT, REMOTE_ISS, RPORT, Harness
from usnet_core import errors
from usnet_core.tcp import State
from usnet_core.wire.tcp import ACK, FIN, RST, SYN, TcpRepr

R = REMOTE_ISS + 1


def test_active_close_through_time_wait() -> None:
    h = Harness(msl=1.0)
    sock, synack = h.open_passive()
    L = synack.seq + 1
    sock.close()
    assert sock.state is State.FIN_WAIT_1
    assert h.recv_one() == TcpRepr(LPORT, RPORT, L, R, FIN | ACK, 65535)
    h.send(R, L + 1, ACK)
    assert sock.state is State.FIN_WAIT_2
    h.send(R, L + 1, FIN | ACK)
    assert h.recv_one() == TcpRepr(LPORT, RPORT, L + 1, R + 1, ACK, 65534)
    assert sock.state is State.TIME_WAIT and sock.closed
    assert h.layer.poll_at() == pytest.approx(h.now + 2.0)
    h.now += 1.9
    h.recv_nothing()
    assert h.layer.connections == 1
    h.now += 0.2
    h.recv_nothing()
    assert sock.state is State.CLOSED and h.layer.connections == 0
    assert h.layer.poll_at() is None


def test_time_wait_reacks_retransmitted_fin_and_restarts() -> None:
    h = Harness(msl=1.0)
    sock, synack = h.open_passive()
    L = synack.seq + 1
    sock.shutdown("write")
    h.recv_one()
    h.send(R, L + 1, FIN | ACK)
    h.recv_one()
    h.now = 1.5
    h.send(R, L + 1, FIN | ACK)  # our ACK was lost
    assert h.recv_one() == TcpRepr(LPORT, RPORT, L + 1, R + 1, ACK, 65534)
    assert h.layer.poll_at() == pytest.approx(3.5)


def test_passive_close() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    L = synack.seq + 1
    h.send(R, L, FIN | ACK, payload=b"bye")
    assert h.recv_one() == TcpRepr(LPORT, RPORT, L, R + 4, ACK, 65531)
    assert sock.state is State.CLOSE_WAIT
    assert sock.recv(10) == b"bye"
    assert sock.recv(10) == b""
    sock.send(b"last")
    sock.close()
    assert sock.state is State.LAST_ACK
    assert h.recv_one() == TcpRepr(LPORT, RPORT, L, R + 4, 0x19, 65531, payload=b"last")
    h.send(R + 4, L + 5, ACK)
    assert sock.state is State.CLOSED and h.layer.connections == 0


def test_simultaneous_close() -> None:
    h = Harness(msl=1.0)
    sock, synack = h.open_passive()
    L = synack.seq + 1
    sock.close()
    assert h.recv_one().flags == FIN | ACK
    h.send(R, L, FIN | ACK)  # crosses our FIN
    # The FIN takes sequence space but no buffer: the right edge stays, the window is 1 less.
    assert sock.state is State.CLOSING
    assert h.recv_one() == TcpRepr(LPORT, RPORT, L + 1, R + 1, ACK, 65534)
    h.send(R + 1, L + 1, ACK)
    assert sock.state is State.TIME_WAIT


def test_fin_acking_our_fin_goes_straight_to_time_wait() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    L = synack.seq + 1
    sock.close()
    h.recv_one()
    h.send(R, L + 1, FIN | ACK)
    assert sock.state is State.TIME_WAIT


def test_half_close_keeps_receiving() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    L = synack.seq + 1
    sock.shutdown("write")
    assert h.recv_one().flags == FIN | ACK
    with pytest.raises(errors.BrokenPipe):
        sock.send(b"no")
    h.send(R, L + 1, ACK, payload=b"still")
    assert sock.recv(10) == b"still"
    h.send(R + 5, L + 1, FIN | ACK)
    assert sock.recv(10) == b""
    assert sock.state is State.TIME_WAIT


def test_fin_after_buffered_data() -> None:
    h = Harness()
    sock, synack = h.open_passive(window=1000)
    L = synack.seq + 1
    sock.send(b"d" * 1500)
    sock.shutdown("write")
    seg = h.recv_one()
    assert len(seg.payload) == 1000 and not seg.flags & FIN
    h.send(R, L + 1000, ACK, window=1000)
    seg = h.recv_one()
    assert (len(seg.payload), seg.flags & FIN) == (500, FIN)


def test_close_with_unread_data_sends_rst() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    L = synack.seq + 1
    h.send(R, L, ACK, payload=b"unread")
    h.recv()
    sock.close()
    assert h.recv_one() == TcpRepr(LPORT, RPORT, L, R + 6, RST | ACK, 0)
    assert sock.state is State.CLOSED and h.layer.connections == 0


def test_data_after_close_gets_rst() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    L = synack.seq + 1
    sock.close()
    h.recv_one()
    h.send(R, L + 1, ACK, payload=b"late")
    assert h.recv_one().flags & RST
    assert sock.state is State.CLOSED


def test_orphaned_fin_wait_2_times_out() -> None:
    h = Harness(fin_timeout=5.0)
    sock, synack = h.open_passive()
    sock.close()
    h.recv_one()
    h.send(R, synack.seq + 2, ACK)
    assert sock.state is State.FIN_WAIT_2
    h.run_timers(6.0)
    assert sock.state is State.CLOSED and h.layer.connections == 0


def test_close_in_fin_wait_2_after_shutdown_times_out() -> None:
    # shutdown(write) first, FIN acked (FIN-WAIT-2, not orphaned: no timer, as Linux);
    # a later close() orphans the socket and must arm the FIN-WAIT-2 timeout itself.
    h = Harness(fin_timeout=5.0)
    sock, synack = h.open_passive()
    sock.shutdown("write")
    h.recv_one()
    h.send(R, synack.seq + 2, ACK)
    assert sock.state is State.FIN_WAIT_2
    h.run_timers(30.0)
    assert sock.state is State.FIN_WAIT_2  # the application may still read
    sock.close()
    h.run_timers(h.now + 6.0)
    assert sock.state is State.CLOSED and h.layer.connections == 0


def test_abort_sends_rst() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    sock.abort()
    assert h.recv_one() == TcpRepr(LPORT, RPORT, synack.seq + 1, R, RST | ACK, 0)
    assert sock.state is State.CLOSED
    assert sock.recv(5) == b""


def test_reset_by_peer() -> None:
    h = Harness()
    sock, _synack = h.open_passive()
    h.send(R, 0, RST)
    assert sock.state is State.CLOSED
    assert isinstance(sock.error, errors.ConnectionReset)
    assert sock.readable and sock.writable
    with pytest.raises(errors.ConnectionReset):
        sock.send(b"x")
    with pytest.raises(errors.BrokenPipe):
        sock.send(b"x")
    assert sock.recv(4) == b""


def test_data_before_reset_is_still_readable() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    h.send(R, synack.seq + 1, ACK, payload=b"tail")
    h.send(R + 4, 0, RST)
    assert sock.recv(10) == b"tail"
    with pytest.raises(errors.ConnectionReset):
        sock.recv(10)


def test_rst_in_window_not_exact_gets_challenge_ack() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    L = synack.seq + 1
    h.send(R + 10, 0, RST)
    assert h.recv_one() == TcpRepr(LPORT, RPORT, L, R, ACK, 65535)
    assert sock.state is State.ESTABLISHED
    h.send(R + 200_000, 0, RST)  # outside the window: silently dropped
    h.recv_nothing()
    assert h.layer.stats.challenge_acks == 1


def test_syn_in_established_gets_challenge_ack() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    h.send(R + 5, 0, SYN)
    assert h.recv_one() == TcpRepr(LPORT, RPORT, synack.seq + 1, R, ACK, 65535)
    assert sock.state is State.ESTABLISHED


def test_challenge_acks_rate_limited() -> None:
    h = Harness(challenge_ack_limit=2)
    _sock, _ = h.open_passive()
    for i in range(5):
        h.send(R + 10 + i, 0, RST)
    assert len(h.recv()) == 1  # one ACK carries the pending challenge
    assert h.layer.stats.challenge_acks == 2
    h.now += 1.0
    h.send(R + 10, 0, RST)
    assert len(h.recv()) == 1
    assert h.layer.stats.challenge_acks == 3


def test_old_ack_outside_window_dropped_with_challenge() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    h.send(R, synack.seq - 1_000_000, ACK, payload=b"inject")
    assert h.recv_one().ack == R  # challenge ACK, data not taken
    assert not sock.readable


def test_paws_drops_old_timestamp() -> None:
    h = Harness(timestamps=True)
    sock, synack = h.open_passive(timestamp=(1000, 0))
    L = synack.seq + 1
    h.send(R, L, ACK, payload=b"new", timestamp=(1005, 0))
    h.send(R + 3, L, ACK, payload=b"old", timestamp=(900, 0))
    assert sock.recv(10) == b"new"
    assert h.layer.stats.drops["paws"] == 1


def test_segment_outside_window_is_acked_not_taken() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    h.send(R + 70_000, synack.seq + 1, ACK, payload=b"far")
    assert h.recv_one().ack == R
    assert not sock.readable


def test_time_wait_allows_new_syn_with_higher_seq() -> None:
    h = Harness(msl=30.0)
    lst = h.listen()
    h.send(REMOTE_ISS, 0, SYN)
    synack = h.recv_one()
    h.send(R, synack.seq + 1, ACK)
    sock = lst.accept()
    L = synack.seq + 1
    sock.close()
    h.recv_one()
    h.send(R, L + 1, FIN | ACK)
    h.recv_one()
    assert sock.state is State.TIME_WAIT
    h.send(R + 100_000, 0, SYN)
    assert h.recv_one().flags == SYN | ACK


def test_duplicate_data_does_not_silence_probe_answers() -> None:
    """docs/tcp-kernel-findings.md #3: only bare out-of-window ACKs are rate limited."""
    h = Harness(rx_buffer=1000)
    lst = h.listen()
    h.send(REMOTE_ISS, 0, SYN)
    synack = h.recv_one()
    h.send(R, synack.seq + 1, ACK)
    lst.accept()
    L = synack.seq + 1
    h.send(R, L, ACK, payload=b"d" * 1000)
    h.now += 0.05  # the delayed ACK
    assert h.recv_one().window == 0
    h.send(R, L, ACK, payload=b"d" * 1000)  # retransmission: old data, answered
    assert h.recv_one().window == 0
    h.send(R + 999, L, ACK)  # a window probe right after: answered too
    assert h.recv_one().ack == R + 1000
    h.send(R + 999, L, ACK)  # a second bare probe within 0.5 s: rate limited
    h.recv_nothing()


def test_send_allowed_in_close_wait() -> None:
    h = Harness()
    sock, synack = h.open_passive()
    L = synack.seq + 1
    h.send(R, L, FIN | ACK)
    h.recv_one()
    assert sock.recv(10) == b"" and sock.writable
    assert sock.send(b"reply") == 5
    assert h.recv_one().payload == b"reply"


def test_shutdown_both() -> None:
    h = Harness()
    sock, _synack = h.open_passive()
    sock.shutdown("both")
    assert h.recv_one().flags == FIN | ACK
    assert sock.recv(10) == b""
    with pytest.raises(errors.BrokenPipe):
        sock.send(b"x")
    with pytest.raises(ValueError):
        sock.shutdown("sideways")


def test_take_error_consumes() -> None:
    h = Harness()
    sock, _ = h.open_passive()
    h.send(R, 0, RST)
    assert isinstance(sock.take_error(), errors.ConnectionReset)
    assert sock.error is None and sock.take_error() is None


def test_rst_in_time_wait_closes() -> None:
    h = Harness(msl=30.0)
    sock, synack = h.open_passive()
    L = synack.seq + 1
    sock.close()
    h.recv_one()
    h.send(R, L + 1, FIN | ACK)
    h.recv_one()
    h.send(R + 1, 0, RST)
    assert sock.state is State.CLOSED and h.layer.connections == 0


def test_connect_without_address_fails() -> None:
    from tcp_harness import seeded_entropy
    from usnet_core.tcp import TcpLayer

    layer = TcpLayer(lambda a: False, seeded_entropy(), None)
    with pytest.raises(errors.AddressNotAvailable):
        layer.connect((1, 2), 0.0)
