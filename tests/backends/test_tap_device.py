"""TapDevice against the real kernel: lifecycle, MTU, netns moves, frames both ways."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from backend_frames import (
    arp_frame,
    is_arp,
    is_udp,
    open_fds,
    parse_arp,
    parse_udp,
    udp_frame,
    wait_for,
)
from netns_harness import KernelPeer, random_local_mac
from usnet_backends import Device, TapDevice, tap
from usnet_backends.netns import NetnsScope, ipr, run_in_netns

pytestmark = pytest.mark.root

HOST_IP = "10.99.0.1"
USNET_IP = "10.99.0.2"


@pytest.fixture
def netns() -> Iterator[str]:
    with NetnsScope() as scope:
        yield scope.netns()


def link_names(netns: str | None) -> set[str]:
    with ipr(netns) as handle:
        return {link.get("ifname") for link in handle.get_links()}


def link_attr(netns: str | None, name: str, attr: str) -> object:
    with ipr(netns) as handle:
        return handle.get_links(handle.link_lookup(ifname=name)[0])[0].get(attr)


def test_create_in_current_namespace_and_close_removes_it() -> None:
    dev = TapDevice.create(host_ip="10.98.0.1", prefix_len=30)
    try:
        assert dev.name.startswith("usnet") and dev.name in link_names(None)
        assert isinstance(dev, Device) and dev.owned and dev.mac is None
        assert link_attr(None, dev.name, "state") == "up"
        with ipr() as handle:
            addrs = [a.get("address") for a in handle.get_addr(index=dev.ifindex)]
        assert [a for a in addrs if ":" not in a] == ["10.98.0.1"]
    finally:
        dev.close()
    assert dev.name not in link_names(None)
    dev.close()  # idempotent
    assert dev.closed
    with pytest.raises(OSError) as info:
        dev.recv_batch()
    assert info.value.errno == errno.EBADF


def test_name_and_mtu(netns: str) -> None:
    def make() -> TapDevice:
        return TapDevice.create(name="usnettest0", mtu=9000)

    with run_in_netns(netns, make) as dev:
        assert dev.name == "usnettest0" and dev.mtu == 9000
        assert link_attr(netns, "usnettest0", "mtu") == 9000
    assert "usnettest0" not in link_names(netns)


def test_too_long_name_rejected() -> None:
    with pytest.raises(ValueError, match="15 bytes"):
        TapDevice.create(name="x" * 16)


def test_moved_into_netns_and_removed_from_there_on_close(netns: str) -> None:
    dev = TapDevice.create(host_ip=HOST_IP, netns=netns)
    assert dev.name in link_names(netns)
    with ipr() as here:  # not by name: a parallel run may have its own usnet0 here
        assert dev.kernel_mac.hex(":") not in {link.get("address") for link in here.get_links()}
    dev.close()
    assert dev.name not in link_names(netns)


def test_fd_keeps_working_after_move_kernel_answers_arp(netns: str) -> None:
    mac = random_local_mac()
    with TapDevice.create(host_ip=HOST_IP, netns=netns) as dev:
        dev.send_batch([arp_frame(1, mac, USNET_IP, b"", HOST_IP)])
        assert dev.stats.tx_frames == 1
        reply, _ = wait_for(dev, lambda f: is_arp(f) and parse_arp(f)["op"] == 2)
        arp = parse_arp(reply)
        assert arp["eth_dst"] == mac and arp["eth_src"] == dev.kernel_mac
        assert (arp["sha"], arp["spa"]) == (dev.kernel_mac, HOST_IP)
        assert (arp["tha"], arp["tpa"]) == (mac, USNET_IP)
        assert dev.stats.rx_frames >= 1


@pytest.mark.parametrize("resolve", ["arp_by_hand", "static_neighbor"])
def test_kernel_udp_reaches_the_tap(kernel_peer: KernelPeer, resolve: str) -> None:
    dev = kernel_peer.device
    if resolve == "static_neighbor":
        kernel_peer.add_neighbor()
    sock = kernel_peer.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST_IP, 5555))
    sock.sendto(b"hello usnet", (USNET_IP, 7777))
    if resolve == "arp_by_hand":
        request, _ = wait_for(dev, is_arp)
        arp = parse_arp(request)
        assert (arp["op"], arp["tpa"], arp["spa"]) == (1, USNET_IP, HOST_IP)
        assert arp["eth_dst"] == b"\xff" * 6
        dev.send_batch(
            [arp_frame(2, kernel_peer.usnet_mac, USNET_IP, kernel_peer.host_mac, HOST_IP)]
        )
    frame, _ = wait_for(dev, is_udp)
    assert frame[:6] == kernel_peer.usnet_mac and frame[6:12] == kernel_peer.host_mac
    assert parse_udp(frame) == (HOST_IP, USNET_IP, 5555, 7777, b"hello usnet")


def test_frame_from_tap_reaches_kernel_socket(kernel_peer: KernelPeer) -> None:
    kernel_peer.add_neighbor()
    sock = kernel_peer.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST_IP, 6666))
    sock.settimeout(3)
    kernel_peer.device.send_batch(
        [
            udp_frame(
                kernel_peer.usnet_mac, kernel_peer.host_mac, USNET_IP, HOST_IP, 4444, 6666, b"hi"
            )
        ]
    )
    assert sock.recvfrom(100) == (b"hi", (USNET_IP, 4444))


def test_recv_batch_is_nonblocking_and_bounded(kernel_peer: KernelPeer) -> None:
    dev = kernel_peer.device
    kernel_peer.add_neighbor()
    assert dev.recv_batch() == []
    sock = kernel_peer.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(10):
        sock.sendto(bytes([i]) * 10, (USNET_IP, 9))
    time.sleep(0.1)
    first = dev.recv_batch(4)
    rest = dev.recv_batch(100)
    assert len(first) == 4 and len(rest) == 6
    assert [parse_udp(f)[4] for f in first + rest] == [bytes([i]) * 10 for i in range(10)]


def test_attach_to_persistent_tap_leaves_it_in_place(netns: str) -> None:
    def make_persistent() -> None:
        fd, _ = tap._open_tap("usnetpers0")
        fcntl.ioctl(fd, 0x400454CB, 1)  # TUNSETPERSIST
        os.close(fd)

    run_in_netns(netns, make_persistent)
    assert "usnetpers0" in link_names(netns)
    dev = TapDevice.attach("usnetpers0", netns=netns)
    assert not dev.owned and dev.name == "usnetpers0" and dev.mtu == 1500
    with pytest.raises(OSError, match="already open"):
        TapDevice.attach("usnetpers0", netns=netns)
    dev.close()
    assert "usnetpers0" in link_names(netns)
    with ipr(netns) as handle:
        handle.link("del", index=handle.link_lookup(ifname="usnetpers0")[0])


def test_attach_missing_interface_does_not_create_one(netns: str) -> None:
    with pytest.raises(FileNotFoundError, match="no interface"):
        TapDevice.attach("usnetnope0", netns=netns)
    assert "usnetnope0" not in link_names(netns)


def test_missing_tun_node_explains_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tap, "TUN_PATH", "/nonexistent/tun")
    with pytest.raises(FileNotFoundError, match="modprobe tun"):
        TapDevice.create()


def test_unprivileged_create_explains_what_to_do() -> None:
    code = (
        "import os\n"
        "from usnet_backends import TapDevice\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "try:\n    TapDevice.create()\n"
        "except PermissionError as e:\n    print('PERM', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert "PERM" in out.stdout, out.stderr
    assert "run as root" in out.stdout


def test_no_fds_leak(netns: str) -> None:
    # Warm up lazily opened resources (libc handle, pyroute2 internals) first.
    TapDevice.create(netns=netns).close()
    before = open_fds()
    for _ in range(5):
        with TapDevice.create(host_ip=HOST_IP, netns=netns) as dev:
            dev.send_batch([arp_frame(1, random_local_mac(), USNET_IP, b"", HOST_IP)])
            wait_for(dev, lambda f: is_arp(f) and parse_arp(f)["op"] == 2)
    assert open_fds() == before
    assert not any(name.startswith("usnet") for name in link_names(netns))


def test_create_from_inside_a_running_asyncio_loop() -> None:
    # pyroute2's synchronous API cannot run inside a running event loop; the netlink work
    # moves to a worker thread (a usnet socket made from a coroutine, or asyncio under
    # patch_socket, creates the stack's TAP here).
    import asyncio

    async def main() -> str:
        with NetnsScope() as scope:
            ns = scope.netns()
            dev = TapDevice.create(host_ip="10.98.0.1", netns=ns)
            try:
                return dev.name
            finally:
                dev.close()

    assert asyncio.run(main()).startswith("usnet")
