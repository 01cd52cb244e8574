"""Interface behaviour, frame by frame with a fake clock: ARP, ICMP, UDP, drops."""

from __future__ import annotations

import pytest
from iface_peer import (
    FAR_IP,
    GW_IP,
    GW_MAC,
    PEER_IP,
    PEER_MAC,
    US_IP,
    US_MAC,
    arp_frame,
    eth,
    icmp_frame,
    ip_packet,
    learn_peer,
    make_iface,
    parse_arp,
    parse_icmp,
    parse_udp,
    udp_frame,
)
from usnet_core.errors import ConnectionRefused, HostUnreachable, NetworkUnreachable
from usnet_core.iface import Interface, InterfaceConfig
from usnet_core.wire import arp, ethernet, icmpv4, ipv4
from usnet_core.wire.icmpv4 import Icmpv4Repr

# -- ARP -------------------------------------------------------------------------------


def test_answers_arp_request_for_its_address() -> None:
    iface = make_iface()
    iface.receive(arp_frame(arp.OP_REQUEST), 0.0)
    [frame] = iface.transmit(0.0)
    eth_hdr, reply = parse_arp(frame)
    assert (eth_hdr.dst, eth_hdr.src) == (PEER_MAC, US_MAC)
    assert reply.operation == arp.OP_REPLY
    assert (reply.source_hw, reply.source_ip) == (US_MAC, US_IP)
    assert (reply.target_hw, reply.target_ip) == (PEER_MAC, PEER_IP)


def test_ignores_arp_request_for_other_address() -> None:
    iface = make_iface()
    iface.receive(arp_frame(arp.OP_REQUEST, target_ip=US_IP + 1), 0.0)
    assert iface.transmit(0.0) == []
    assert iface.stats.dropped["arp not for us"] == 1
    assert len(iface.neighbors) == 0  # RFC 826: no entry unless merged or targeted


def test_resolves_on_link_host_queues_then_sends() -> None:
    iface = make_iface()
    sock = iface.udp_socket()
    sock.send_to(b"hello", (PEER_IP, 9000))
    [request] = iface.transmit(0.0)
    eth_hdr, req = parse_arp(request)
    assert eth_hdr.dst == ethernet.BROADCAST
    assert (req.operation, req.target_ip, req.source_ip) == (arp.OP_REQUEST, PEER_IP, US_IP)
    reply = arp_frame(arp.OP_REPLY, target_mac=US_MAC, dst=US_MAC)
    iface.receive(reply, 0.1)
    [frame] = iface.transmit(0.1)
    ip_hdr, udp_hdr, data = parse_udp(frame)
    assert frame[0:6] == PEER_MAC and frame[6:12] == US_MAC
    assert (ip_hdr.src, ip_hdr.dst, udp_hdr.dst_port, data) == (US_IP, PEER_IP, 9000, b"hello")
    # Resolved now: the next datagram goes out directly.
    sock.send_to(b"again", (PEER_IP, 9000))
    [frame] = iface.transmit(0.2)
    assert parse_udp(frame)[2] == b"again"


def test_off_link_destination_goes_to_gateway_mac() -> None:
    iface = make_iface()
    learn_peer(iface)
    iface.udp_socket().send_to(b"far", (FAR_IP, 53))
    [frame] = iface.transmit(0.0)
    assert frame[0:6] == GW_MAC
    assert parse_udp(frame)[0].dst == FAR_IP


def test_no_gateway_off_link_is_network_unreachable() -> None:
    cfg = InterfaceConfig(mac=US_MAC, ipv4=US_IP, prefix_len=24)
    iface = Interface(cfg, entropy=bytes, strict=True)
    sock = iface.udp_socket()
    sock.connect((FAR_IP, 53))
    sock.send(b"x")
    assert iface.transmit(0.0) == []
    with pytest.raises(NetworkUnreachable):
        sock.recv()


def test_arp_retries_then_gives_up_with_host_unreachable() -> None:
    iface = make_iface(arp_retries=3, arp_retry_interval=1.0)
    sock = iface.udp_socket()
    sock.connect((PEER_IP, 7))
    sock.send(b"ping")
    requests = 0
    now = 0.0
    while now < 10.0:
        requests += sum(1 for f in iface.transmit(now) if f[12:14] == b"\x08\x06")
        deadline = iface.poll_at()
        if deadline is None:
            break
        now = max(now, deadline)
    assert requests == 3
    assert iface.stats.dropped["arp unresolved"] == 1
    with pytest.raises(HostUnreachable):
        sock.recv()
    assert iface.poll_at() is None  # nothing left pending


def test_pending_queue_is_bounded() -> None:
    iface = make_iface(arp_pending_per_host=4)
    sock = iface.udp_socket()
    for i in range(100):
        sock.send_to(bytes([i]), (PEER_IP, 7))
        iface.transmit(0.0)
    iface.receive(arp_frame(arp.OP_REPLY, target_mac=US_MAC, dst=US_MAC), 0.5)
    frames = iface.transmit(0.5)
    # The latest four survive (RFC 1122 2.3.2.2 keeps the most recent).
    assert [parse_udp(f)[2] for f in frames] == [bytes([i]) for i in range(96, 100)]
    assert iface.stats.dropped["arp queue full"] == 96


def test_cache_expires_and_is_refreshed() -> None:
    iface = make_iface(arp_cache_ttl=10.0, arp_retry_interval=1.0)
    learn_peer(iface, 0.0)
    sock = iface.udp_socket()
    sock.send_to(b"a", (PEER_IP, 7))
    assert len(iface.transmit(1.0)) == 1
    # Close to expiry the entry is still used, and a refresh request goes out too.
    sock.send_to(b"b", (PEER_IP, 7))
    frames = iface.transmit(9.0)
    kinds = sorted(bytes(f[12:14]) for f in frames)
    assert kinds == [b"\x08\x00", b"\x08\x06"]
    # Past expiry without an answer, packets wait for resolution again.
    sock.send_to(b"c", (PEER_IP, 7))
    frames = iface.transmit(11.0)
    assert [bytes(f[12:14]) for f in frames] == [b"\x08\x06"]


def test_arp_from_broadcast_mac_never_enters_cache() -> None:
    iface = make_iface()
    iface.receive(arp_frame(arp.OP_REQUEST, src_mac=ethernet.BROADCAST), 0.0)
    assert iface.transmit(0.0) == []
    assert len(iface.neighbors) == 0


# -- ICMP ------------------------------------------------------------------------------


def test_echo_request_gets_reply() -> None:
    iface = make_iface()
    learn_peer(iface)
    ping = Icmpv4Repr(icmpv4.TYPE_ECHO_REQUEST, 0, ident=0x1234, seq_no=7, data=b"abc" * 20)
    iface.receive(icmp_frame(ping), 0.0)
    [frame] = iface.transmit(0.0)
    ip_hdr, reply = parse_icmp(frame)
    assert (ip_hdr.src, ip_hdr.dst) == (US_IP, PEER_IP)
    assert (reply.type, reply.ident, reply.seq_no) == (icmpv4.TYPE_ECHO_REPLY, 0x1234, 7)
    assert bytes(reply.data) == b"abc" * 20


def test_echo_to_broadcast_is_ignored() -> None:
    iface = make_iface()
    learn_peer(iface)
    ping = Icmpv4Repr(icmpv4.TYPE_ECHO_REQUEST, 0, ident=1, seq_no=1)
    iface.receive(icmp_frame(ping, dst=0xFFFFFFFF), 0.0)
    assert iface.transmit(0.0) == []


def test_udp_to_closed_port_gets_port_unreachable() -> None:
    iface = make_iface()
    learn_peer(iface)
    original = udp_frame(40000, 9, b"anyone?")
    iface.receive(original, 0.0)
    [frame] = iface.transmit(0.0)
    ip_hdr, err = parse_icmp(frame)
    assert ip_hdr.dst == PEER_IP
    assert (err.type, err.code) == (icmpv4.TYPE_DEST_UNREACHABLE, icmpv4.PORT_UNREACHABLE)
    assert bytes(err.data) == bytes(original[14:])  # the whole small datagram is quoted


def test_no_icmp_error_for_broadcast_or_fragment() -> None:
    iface = make_iface()
    learn_peer(iface)
    iface.receive(
        udp_frame(
            40000,
            9,
            b"x",
            dst=0xFFFFFFFF,
        ),
        0.0,
    )
    iface.receive(udp_frame(40000, 9, b"y", more_frags=True, dont_frag=False), 0.0)
    assert iface.transmit(0.0) == []


def test_icmp_errors_are_rate_limited() -> None:
    iface = make_iface(icmp_error_burst=5, icmp_error_rate=10.0)
    learn_peer(iface)
    for _ in range(20):
        iface.receive(udp_frame(40000, 9, b"x"), 1.0)
    assert len(iface.transmit(1.0)) == 5
    for _ in range(20):
        iface.receive(udp_frame(40000, 9, b"x"), 1.5)  # half a second refills 5 tokens
    assert len(iface.transmit(1.5)) == 5
    assert iface.stats.dropped["icmp error rate limit"] == 30


def test_port_unreachable_refuses_connected_udp_socket() -> None:
    iface = make_iface()
    learn_peer(iface)
    sock = iface.udp_socket()
    sock.connect((PEER_IP, 5353))
    sock.send(b"query")
    [sent] = iface.transmit(0.0)
    err = Icmpv4Repr(icmpv4.TYPE_DEST_UNREACHABLE, icmpv4.PORT_UNREACHABLE,
                     data=icmpv4.error_quote(sent[14:]))  # fmt: skip
    iface.receive(icmp_frame(err), 0.1)
    assert sock.readable
    with pytest.raises(ConnectionRefused):
        sock.recv()
    assert sock.error is None  # consumed, like SO_ERROR


def test_port_unreachable_ignored_by_unconnected_socket() -> None:
    iface = make_iface()
    learn_peer(iface)
    sock = iface.udp_socket()
    sock.send_to(b"query", (PEER_IP, 5353))
    [sent] = iface.transmit(0.0)
    err = Icmpv4Repr(icmpv4.TYPE_DEST_UNREACHABLE, icmpv4.PORT_UNREACHABLE,
                     data=icmpv4.error_quote(sent[14:]))  # fmt: skip
    iface.receive(icmp_frame(err), 0.1)
    assert not sock.readable


# -- IPv4 and UDP ----------------------------------------------------------------------


def test_udp_delivery_and_reply() -> None:
    iface = make_iface()
    learn_peer(iface)
    sock = iface.udp_socket()
    sock.bind((0, 7))
    iface.receive(udp_frame(40000, 7, b"echo me"), 0.0)
    data, source = sock.recv_from()
    assert (data, source) == (b"echo me", (PEER_IP, 40000))
    sock.send_to(data, source)
    [frame] = iface.transmit(0.0)
    _ip_hdr, udp_hdr, payload = parse_udp(frame)
    assert (udp_hdr.src_port, udp_hdr.dst_port, payload) == (7, 40000, b"echo me")


def test_fragment_is_never_taken_for_a_datagram() -> None:
    iface = make_iface()
    sock = iface.udp_socket()
    sock.bind((0, 7))
    iface.receive(udp_frame(40000, 7, b"part", more_frags=True, dont_frag=False), 0.0)
    assert sock.pending == 0
    assert iface.stats.dropped["ipv4 fragment"] == 1


def test_bad_checksums_are_dropped_and_counted() -> None:
    iface = make_iface()
    sock = iface.udp_socket()
    sock.bind((0, 7))
    frame = udp_frame(40000, 7, b"data")
    frame[24] ^= 0xFF  # IPv4 header checksum byte
    iface.receive(frame, 0.0)
    assert iface.stats.dropped["ipv4 checksum"] == 1
    frame = udp_frame(40000, 7, b"data")
    frame[-1] ^= 0xFF  # UDP payload: UDP checksum fails
    iface.receive(frame, 0.0)
    assert sock.pending == 0
    assert iface.transmit(0.0) == []  # and no ICMP error for a corrupt datagram


def test_frames_for_other_macs_and_addresses_are_dropped() -> None:
    iface = make_iface()
    iface.receive(udp_frame(1, 7, b"x")[:0] + eth(b"", dst=PEER_MAC), 0.0)
    iface.receive(udp_frame(1, 7, b"x", dst=US_IP + 1), 0.0)
    iface.receive(eth(ip_packet(ipv4.PROTO_UDP, b"")[:10]), 0.0)
    assert iface.stats.dropped["not our mac"] == 1
    assert iface.stats.dropped["ipv4 not for us"] == 1
    assert iface.stats.total_dropped == 3


def test_unknown_protocol_gets_protocol_unreachable() -> None:
    iface = make_iface()
    learn_peer(iface)
    iface.receive(eth(ip_packet(132, b"sctp?")), 0.0)
    [frame] = iface.transmit(0.0)
    _, err = parse_icmp(frame)
    assert (err.type, err.code) == (icmpv4.TYPE_DEST_UNREACHABLE, icmpv4.PROTO_UNREACHABLE)


def test_udp_receive_queue_is_bounded() -> None:
    iface = make_iface()
    sock = iface.udp_socket()
    sock.recv_buffer = 1000
    sock.bind((0, 7))
    for _ in range(50):
        iface.receive(udp_frame(40000, 7, b"x" * 100), 0.0)
    assert sock.pending == 10
    assert sock.rx_dropped == 40


def test_datagram_to_own_address_loops_back() -> None:
    iface = make_iface()
    a, b = iface.udp_socket(), iface.udp_socket()
    b.bind((0, 9999))
    a.send_to(b"self", (US_IP, 9999))
    assert iface.transmit(0.0) == []
    assert b.recv_from() == (b"self", (US_IP, a.local[1] if a.local else 0))


def test_gateway_mac_learned_from_gratuitous_arp_updates_cache() -> None:
    iface = make_iface()
    learn_peer(iface)
    new_mac = bytes.fromhex("0200000000aa")
    # Gratuitous ARP: sender = target = the gateway's address, from its new MAC.
    iface.receive(arp_frame(arp.OP_REQUEST, target_ip=GW_IP, src_mac=new_mac, src_ip=GW_IP), 1)
    iface.udp_socket().send_to(b"far", (FAR_IP, 53))
    [frame] = iface.transmit(1.0)
    assert frame[0:6] == new_mac
