"""The Linux kernel as peer over TAP: ARP, ICMP echo, UDP both ways, port unreachable."""

from __future__ import annotations

import errno
import os
import socket
import struct
import time

import pytest
from netns_harness import KernelPeer
from stack_driver import driving
from usnet_core.iface import Interface, InterfaceConfig
from usnet_core.wire.checksum import checksum
from usnet_core.wire.ipv4 import addr_from_str

pytestmark = pytest.mark.root


def _iface(peer: KernelPeer) -> Interface:
    cfg = InterfaceConfig(
        mac=peer.usnet_mac,
        ipv4=addr_from_str(peer.usnet_ip),
        prefix_len=peer.prefix_len,
        gateway=addr_from_str(peer.host_ip),
        mtu=1500,
    )
    return Interface(cfg, entropy=os.urandom, strict=True)


def _echo_request(ident: int, seq: int, data: bytes) -> bytes:
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    csum = checksum(header + data)
    return struct.pack("!BBHHH", 8, 0, csum, ident, seq) + data


def test_kernel_resolves_usnet_and_gets_echo_replies(kernel_peer: KernelPeer) -> None:
    iface = _iface(kernel_peer)
    with driving(iface, kernel_peer.device):
        pinger = kernel_peer.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        pinger.settimeout(3.0)
        replies = 0
        for seq in range(5):
            payload = os.urandom(56)
            pinger.sendto(_echo_request(0x4242, seq, payload), (kernel_peer.usnet_ip, 0))
            while True:
                packet, addr = pinger.recvfrom(2048)
                ihl = (packet[0] & 0x0F) * 4
                kind, _, _, ident, rseq = struct.unpack_from("!BBHHH", packet, ihl)
                if kind == 0 and ident == 0x4242:
                    break
            assert addr[0] == kernel_peer.usnet_ip
            assert rseq == seq
            assert packet[ihl + 8 :] == payload
            replies += 1
        assert replies == 5
        # The kernel learnt usnet's MAC by ARP (usnet answered its request).
        with kernel_peer.ipr() as ipr:
            neighbours = ipr.get_neighbours(dst=kernel_peer.usnet_ip)
        macs = [n.get_attr("NDA_LLADDR") for n in neighbours]
        assert macs == [":".join(f"{b:02x}" for b in kernel_peer.usnet_mac)]
    assert iface.stats.arp_replies_sent >= 1
    assert iface.stats.icmp_echo_replies == 5


def test_udp_thousand_datagrams_both_ways(kernel_peer: KernelPeer) -> None:
    iface = _iface(kernel_peer)
    host_ip = addr_from_str(kernel_peer.host_ip)
    usock = iface.udp_socket()
    usock.bind((0, 7000))
    ksock = kernel_peer.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ksock.bind((kernel_peer.host_ip, 7001))
    ksock.settimeout(5.0)
    with driving(iface, kernel_peer.device) as drv:
        for i in range(1000):
            out = b"k2u %04d " % i + os.urandom(i % 1400)
            ksock.sendto(out, (kernel_peer.usnet_ip, 7000))
            assert drv.wait_for(lambda: usock.pending > 0, 5.0)
            data, src = drv.call(usock.recv_from)
            assert data == out
            assert src == (host_ip, 7001)
            back = b"u2k %04d " % i + os.urandom((i * 7) % 1400)
            drv.call(lambda back=back: usock.send_to(back, (host_ip, 7001)))
            got, addr = ksock.recvfrom(2048)
            assert got == back
            assert addr == (kernel_peer.usnet_ip, 7000)
    assert iface.stats.total_dropped == 0, iface.stats.dropped


def test_closed_port_refuses_connected_kernel_socket(kernel_peer: KernelPeer) -> None:
    iface = _iface(kernel_peer)
    with driving(iface, kernel_peer.device):
        ksock = kernel_peer.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ksock.settimeout(3.0)
        ksock.connect((kernel_peer.usnet_ip, 9))
        ksock.send(b"is anyone there?")
        deadline = time.monotonic() + 3.0
        with pytest.raises(ConnectionRefusedError) as info:
            while time.monotonic() < deadline:
                ksock.recv(100)
        assert info.value.errno == errno.ECONNREFUSED
    assert iface.stats.icmp_errors_sent == 1
