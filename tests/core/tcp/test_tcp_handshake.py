"""Opening and refusing connections, segment by segment (RFC 9293 3.5, 3.10.7)."""

from __future__ import annotations

import pytest
from tcp_harness import LOCAL, LPORT, REMOTE, REMOTE_ISS, RPORT, Harness
from usnet_core import errors
from usnet_core.tcp import State
from usnet_core.wire.tcp import ACK, FIN, RST, SYN, TcpRepr

IP_HEADER = (
    bytes([0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0])
    + LOCAL.to_bytes(4, "big")
    + REMOTE.to_bytes(4, "big")
)


def test_rst_to_closed_port_for_syn() -> None:
    h = Harness()
    h.send(REMOTE_ISS, 0, SYN, payload=b"")
    assert h.recv_one() == TcpRepr(LPORT, RPORT, 0, REMOTE_ISS + 1, RST | ACK, 0)
    assert h.layer.stats.rsts_sent == 1


def test_rst_to_closed_port_for_ack_uses_its_ack_number() -> None:
    h = Harness()
    h.send(REMOTE_ISS, 1234, ACK, payload=b"abc")
    assert h.recv_one() == TcpRepr(LPORT, RPORT, 1234, 0, RST, 0)


def test_no_rst_for_rst() -> None:
    h = Harness()
    h.send(REMOTE_ISS, 0, RST)
    h.recv_nothing()


def test_rst_to_closed_port_counts_fin() -> None:
    h = Harness()
    h.send(REMOTE_ISS, 0, FIN, payload=b"xy")
    assert h.recv_one() == TcpRepr(LPORT, RPORT, 0, REMOTE_ISS + 3, RST | ACK, 0)


def test_malformed_segment_is_counted_not_raised() -> None:
    h = Harness()
    h.layer.receive(REMOTE, LOCAL, memoryview(b"\x00" * 7), h.now)
    raw = h.seg(REMOTE_ISS, 0, SYN).to_bytes(REMOTE, LOCAL)
    raw[16] ^= 0xFF  # checksum
    h.layer.receive(REMOTE, LOCAL, memoryview(raw), h.now)
    h.recv_nothing()
    assert sum(h.layer.stats.drops.values()) == 2


def test_passive_open_plain() -> None:
    h = Harness()
    lst = h.listen()
    h.send(REMOTE_ISS, 0, SYN, window=4000, mss=1000)
    synack = h.recv_one()
    assert synack == TcpRepr(LPORT, RPORT, synack.seq, REMOTE_ISS + 1, SYN | ACK, 65535, mss=1460)
    assert lst.pending == 0 and lst.half_open == 1
    with pytest.raises(errors.WouldBlock):
        lst.accept()
    h.send(REMOTE_ISS + 1, synack.seq + 1, ACK, window=4000)
    h.recv_nothing()
    assert lst.pending == 1 and lst.readable
    sock = lst.accept()
    assert sock.state is State.ESTABLISHED
    assert sock.remote == (REMOTE, RPORT) and sock.local == (LOCAL, LPORT)
    assert sock.mss == 1000  # the peer's MSS bounds ours
    assert sock.writable and not sock.readable


def test_passive_open_with_options() -> None:
    h = Harness(timestamps=True, sack=True, window_scaling=True, rx_buffer=500_000)
    h.listen()
    h.send(REMOTE_ISS, 0, SYN, mss=1460, window_scale=7, sack_permitted=True, timestamp=(555, 0))
    synack = h.recv_one()
    assert synack.flags == SYN | ACK
    assert synack.mss == 1460
    assert synack.window_scale == 3  # 500000 >> 3 fits 16 bits
    assert synack.window == 65535  # never scaled in a SYN
    assert synack.sack_permitted
    assert synack.timestamp is not None and synack.timestamp[1] == 555


def test_passive_open_echoes_only_offered_options() -> None:
    h = Harness(timestamps=True, sack=True, window_scaling=True)
    h.listen()
    h.send(REMOTE_ISS, 0, SYN, mss=1460)
    synack = h.recv_one()
    assert synack.window_scale is None and not synack.sack_permitted
    assert synack.timestamp is None


def test_active_open() -> None:
    h = Harness(timestamps=True, sack=True, window_scaling=True, rx_buffer=500_000)
    sock = h.layer.connect((REMOTE, RPORT), h.now)
    assert sock.state is State.SYN_SENT
    assert not sock.writable and not sock.readable
    with pytest.raises(errors.WouldBlock):
        sock.send(b"x")
    syn = h.recv_one()
    assert syn.flags == SYN and syn.ack == 0
    assert syn.mss == 1460 and syn.window_scale == 3 and syn.sack_permitted
    assert syn.timestamp is not None and syn.timestamp[1] == 0
    assert 32768 <= sock.local[1] < 61000
    h.send(
        REMOTE_ISS,
        syn.seq + 1,
        SYN | ACK,
        mss=1200,
        window_scale=2,
        timestamp=(77, syn.timestamp[0]),
        dst_port=sock.local[1],
    )
    ack = h.recv_one()
    assert (ack.seq, ack.ack, ack.flags) == (syn.seq + 1, REMOTE_ISS + 1, ACK)
    assert ack.timestamp is not None and ack.timestamp[1] == 77
    assert ack.window == 500_000 >> 3
    assert sock.state is State.ESTABLISHED and sock.writable
    assert sock.mss == 1200 - 12  # timestamps take 12 bytes of each segment


def test_active_open_refused() -> None:
    h = Harness()
    sock = h.layer.connect((REMOTE, RPORT), h.now, local=(LOCAL, LPORT))
    syn = h.recv_one()
    h.send(0, syn.seq + 1, RST | ACK)
    assert sock.state is State.CLOSED
    assert isinstance(sock.error, errors.ConnectionRefused)
    assert sock.readable and sock.writable
    assert sock in h.layer.take_changed()
    with pytest.raises(errors.ConnectionRefused):
        sock.recv(10)
    assert h.layer.connections == 0


def test_active_open_rst_with_bad_ack_ignored() -> None:
    h = Harness()
    sock = h.layer.connect((REMOTE, RPORT), h.now, local=(LOCAL, LPORT))
    syn = h.recv_one()
    h.send(0, syn.seq + 5, RST | ACK)
    assert sock.state is State.SYN_SENT


def test_syn_sent_bad_ack_gets_rst() -> None:
    h = Harness()
    h.layer.connect((REMOTE, RPORT), h.now, local=(LOCAL, LPORT))
    syn = h.recv_one()
    h.send(REMOTE_ISS, syn.seq + 100, SYN | ACK)
    assert h.recv_one() == TcpRepr(LPORT, RPORT, syn.seq + 100, 0, RST, 0)


def test_syn_retransmission_and_timeout() -> None:
    h = Harness(syn_retries=2, initial_rto=1.0)
    sock = h.layer.connect((REMOTE, RPORT), h.now, local=(LOCAL, LPORT))
    syn = h.recv_one()
    assert h.layer.poll_at() == 1.0
    h.now = 1.0
    assert h.recv_one() == syn
    assert h.layer.poll_at() == 3.0  # backed off
    h.now = 3.0
    assert h.recv_one() == syn
    h.now = 7.0
    h.recv_nothing()
    assert isinstance(sock.error, errors.ConnectionTimedOut)
    assert h.layer.poll_at() is None


def test_simultaneous_open() -> None:
    h = Harness()
    sock = h.layer.connect((REMOTE, RPORT), h.now, local=(LOCAL, LPORT))
    syn = h.recv_one()
    h.send(REMOTE_ISS, 0, SYN, mss=1460)
    assert sock.state is State.SYN_RECEIVED
    synack = h.recv_one()
    assert synack == TcpRepr(LPORT, RPORT, syn.seq, REMOTE_ISS + 1, SYN | ACK, 65535, mss=1460)
    # The peer's SYN-ACK crosses ours.
    h.send(REMOTE_ISS, syn.seq + 1, SYN | ACK, mss=1460)
    assert sock.state is State.ESTABLISHED
    h.recv_nothing()


def test_listener_rst_to_bare_ack() -> None:
    h = Harness()
    h.listen()
    h.send(REMOTE_ISS, 999, ACK)
    assert h.recv_one() == TcpRepr(LPORT, RPORT, 999, 0, RST, 0)


def test_handshake_ack_with_wrong_number_gets_rst() -> None:
    h = Harness()
    lst = h.listen()
    h.send(REMOTE_ISS, 0, SYN)
    synack = h.recv_one()
    h.send(REMOTE_ISS + 1, synack.seq + 7, ACK)
    assert h.recv_one() == TcpRepr(LPORT, RPORT, synack.seq + 7, 0, RST, 0)
    assert lst.pending == 0 and lst.half_open == 1


def test_synack_retransmitted_then_given_up() -> None:
    h = Harness(synack_retries=1, initial_rto=1.0)
    lst = h.listen()
    h.send(REMOTE_ISS, 0, SYN)
    synack = h.recv_one()
    h.now = 1.0
    assert h.recv_one() == synack
    h.now = 3.0
    h.recv_nothing()
    assert lst.half_open == 0 and h.layer.half_open == 0


def test_duplicate_syn_gets_synack_again() -> None:
    h = Harness()
    h.listen()
    h.send(REMOTE_ISS, 0, SYN)
    synack = h.recv_one()
    h.send(REMOTE_ISS, 0, SYN)
    assert h.recv_one() == synack


def test_rst_in_syn_received_removes_entry() -> None:
    h = Harness()
    lst = h.listen()
    h.send(REMOTE_ISS, 0, SYN)
    h.recv_one()
    h.send(REMOTE_ISS + 5, 0, RST)  # not exact: ignored
    assert lst.half_open == 1
    h.send(REMOTE_ISS + 1, 0, RST)
    assert lst.half_open == 0
    h.recv_nothing()


def test_backlog_limit_drops_syns_and_acks() -> None:
    h = Harness(backlog=1)
    lst = h.listen()
    h.send(REMOTE_ISS, 0, SYN, src_port=1000)
    a = h.recv_one()
    h.send(REMOTE_ISS, 0, SYN, src_port=1001)
    b = h.recv_one()
    h.send(REMOTE_ISS + 1, a.seq + 1, ACK, src_port=1000)
    h.send(REMOTE_ISS + 1, b.seq + 1, ACK, src_port=1001)
    assert lst.pending == 1  # the second ACK was dropped; its entry waits
    assert lst.half_open == 1
    h.send(REMOTE_ISS, 0, SYN, src_port=2000)
    h.recv_nothing()  # SYN dropped while the accept queue is full
    assert h.layer.stats.listen_overflows == 2
    lst.accept()
    h.send(REMOTE_ISS + 1, b.seq + 1, ACK, src_port=1001)
    assert lst.pending == 1
    lst.accept()
    h.send(REMOTE_ISS, 0, SYN, src_port=2000)
    assert h.recv_one().flags == SYN | ACK


@pytest.mark.parametrize(
    "count", [20_000, pytest.param(100_000, marks=pytest.mark.long)], ids=["20k", "100k"]
)
def test_syn_flood_memory_bounded(count: int) -> None:
    h = Harness(syn_queue=64)
    lst = h.listen()
    for i in range(count):
        src = 0x0B00_0000 + i
        seg = h.seg(i, 0, SYN, src_port=1024 + i % 60000)
        h.layer.receive(src, LOCAL, memoryview(seg.to_bytes(src, LOCAL)), h.now)
        if i % 1000 == 999:
            h.layer.dispatch(h.now)
            h.now += 0.01
    h.layer.dispatch(h.now)
    assert lst.half_open == 64 and h.layer.half_open == 64
    assert h.layer.connections == 0
    assert h.layer.timer_entries <= 64 + 4 * 64
    assert h.layer.stats.syn_queue_overflows == count - 64
    # A real client still gets through.
    h.send(REMOTE_ISS, 0, SYN)
    synack = h.recv_one()
    h.send(REMOTE_ISS + 1, synack.seq + 1, ACK)
    assert lst.pending == 1


def test_listener_close_resets_pending() -> None:
    h = Harness()
    lst = h.listen()
    h.send(REMOTE_ISS, 0, SYN, src_port=1000)
    synack = h.recv_one()
    h.send(REMOTE_ISS + 1, synack.seq + 1, ACK, src_port=1000)
    h.send(REMOTE_ISS, 0, SYN, src_port=1001)
    synack2 = h.recv_one()
    lst.close()
    out = h.recv()
    assert {(s.dst_port, s.flags & RST != 0) for s in out} == {(1000, True), (1001, True)}
    assert any(s.seq == synack2.seq + 1 for s in out)
    assert h.layer.connections == 0 and h.layer.half_open == 0
    h.listen()  # the port is free again


def test_listen_address_in_use() -> None:
    h = Harness()
    h.listen()
    with pytest.raises(errors.AddressInUse):
        h.listen()
    with pytest.raises(errors.AddressInUse):
        h.layer.listen((0, LPORT))


def test_isn_differs_per_tuple_and_time() -> None:
    h = Harness()
    a = h.layer.connect((REMOTE, 1), 0.0, local=(LOCAL, 5000))
    b = h.layer.connect((REMOTE, 2), 0.0, local=(LOCAL, 5000))
    c = h.layer.connect((REMOTE, 1), 1.0, local=(LOCAL, 5001))
    assert len({a._iss, b._iss, c._iss}) == 3


def test_ephemeral_ports_avoid_used_tuples() -> None:
    h = Harness()
    ports = {h.layer.connect((REMOTE, RPORT), 0.0).local[1] for _ in range(200)}
    assert len(ports) == 200


def test_icmp_port_unreachable_refuses_syn_sent() -> None:
    h = Harness()
    sock = h.layer.connect((REMOTE, RPORT), h.now, local=(LOCAL, LPORT))
    syn = h.recv_one()
    raw = syn.to_bytes(LOCAL, REMOTE)
    ip = IP_HEADER
    h.layer.on_icmp_error("port_unreachable", REMOTE, LOCAL, memoryview(ip + raw[:8]))
    assert isinstance(sock.error, errors.ConnectionRefused)


def test_icmp_host_unreachable_is_soft() -> None:
    h = Harness(syn_retries=0)
    sock = h.layer.connect((REMOTE, RPORT), h.now, local=(LOCAL, LPORT))
    syn = h.recv_one()
    raw = syn.to_bytes(LOCAL, REMOTE)
    ip = IP_HEADER
    h.layer.on_icmp_error("host_unreachable", REMOTE, LOCAL, memoryview(ip + raw[:8]))
    assert sock.state is State.SYN_SENT and sock.error is None
    h.now = 1.0
    h.recv()
    assert isinstance(sock.error, errors.HostUnreachable)
