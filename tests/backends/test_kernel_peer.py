"""The kernel-peer harness itself: what the fixture yields and that it always cleans up."""

from __future__ import annotations

import os
import socket

import pytest
from backend_frames import open_fds
from netns_harness import KernelPeer, kernel_peer_session
from pyroute2 import netns as pr_netns

pytestmark = pytest.mark.root


def test_fixture_shape(kernel_peer: KernelPeer) -> None:
    assert (kernel_peer.host_ip, kernel_peer.usnet_ip, kernel_peer.prefix_len) == (
        "10.99.0.1",
        "10.99.0.2",
        24,
    )
    assert kernel_peer.device.mtu == 1500 and kernel_peer.device.netns == kernel_peer.netns
    mac = kernel_peer.usnet_mac
    assert len(mac) == 6 and mac[0] & 0x03 == 0x02  # unicast, locally administered
    assert mac != kernel_peer.host_mac
    with kernel_peer.enter():
        assert (
            os.stat("/proc/thread-self/ns/net").st_ino
            == os.stat(f"/run/netns/{kernel_peer.netns}").st_ino
        )
    with kernel_peer.ipr() as handle:
        addrs = handle.get_addr(index=kernel_peer.device.ifindex)
        assert [a.get("address") for a in addrs] == ["10.99.0.1"]  # IPv6 is off by default


def test_kernel_socket_lives_in_the_namespace(kernel_peer: KernelPeer) -> None:
    sock = kernel_peer.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((kernel_peer.host_ip, 0))  # only possible where 10.99.0.1 exists


def test_quiet_link_without_ipv6(kernel_peer: KernelPeer) -> None:
    import time

    time.sleep(0.3)
    assert kernel_peer.device.recv_batch() == []


@pytest.mark.parametrize("exc", [AssertionError, KeyboardInterrupt])
def test_session_tears_down_on_failure(exc: type[BaseException]) -> None:
    before = open_fds()
    with pytest.raises(exc), kernel_peer_session() as peer:
        name = peer.netns
        sock = peer.socket(socket.AF_INET, socket.SOCK_STREAM)
        raise exc
    assert name not in pr_netns.listnetns()
    assert sock.fileno() == -1  # closed by the harness
    assert open_fds() == before
