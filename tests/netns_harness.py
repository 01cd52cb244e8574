"""Kernel-peer harness: a private network namespace whose kernel talks to usnet over a TAP.

    with kernel_peer_session() as peer:       # or the pytest fixture `kernel_peer`
        sock = peer.socket(socket.AF_INET, socket.SOCK_DGRAM)   # a kernel socket in the netns
        peer.device.send_batch([...]); peer.device.recv_batch()  # usnet's side of the wire

The TAP interface (and its MAC, `host_mac`) is the kernel's side at 10.99.0.1/24; usnet
plays 10.99.0.2 with its own random locally administered MAC `usnet_mac`. IPv6 is off in
the namespace by default so the kernel does not chatter (MLD, router solicitations).
Everything is torn down on exit, also on failure and on KeyboardInterrupt; a crashed run's
namespace is removed by `usnet_backends.netns.cleanup_stale()` (the plugin calls it at
session start).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from usnet_backends.netns import NetnsScope, enter_netns, ipr, run_in_netns, set_sysctl
from usnet_backends.tap import TapDevice

HOST_IP = "10.99.0.1"
USNET_IP = "10.99.0.2"
PREFIX_LEN = 24


def random_local_mac() -> bytes:
    """A random unicast, locally administered MAC."""
    raw = bytearray(os.urandom(6))
    raw[0] = (raw[0] & 0xFC) | 0x02
    return bytes(raw)


def mac_str(mac: bytes) -> str:
    """aa:bb:cc:dd:ee:ff form of a 6-byte MAC."""
    return ":".join(f"{b:02x}" for b in mac)


@dataclass
class KernelPeer:
    """One kernel-peer setup; see the module docstring."""

    device: TapDevice
    netns: str
    usnet_mac: bytes
    host_ip: str = HOST_IP
    usnet_ip: str = USNET_IP
    prefix_len: int = PREFIX_LEN
    _sockets: list[socket.socket] = field(default_factory=list)

    @property
    def host_mac(self) -> bytes:
        """The kernel side's MAC (the TAP interface's own)."""
        return self.device.kernel_mac

    @property
    def ifname(self) -> str:
        """The TAP's name inside the namespace."""
        return self.device.name

    def socket(
        self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM, proto: int = 0
    ) -> socket.socket:
        """A kernel socket living in the peer namespace; closed at teardown if still open."""
        sock = run_in_netns(self.netns, socket.socket, family, type, proto)
        self._sockets.append(sock)
        return sock

    def enter(self) -> contextlib.AbstractContextManager[None]:
        """Switch the calling thread into the peer namespace for the `with` block."""
        return enter_netns(self.netns)

    def ipr(self) -> contextlib.AbstractContextManager[Any]:
        """A pyroute2 IPRoute bound to the peer namespace."""
        return ipr(self.netns)

    def add_neighbor(self, ip: str | None = None, mac: bytes | None = None) -> None:
        """A permanent ARP entry in the kernel (default: usnet_ip -> usnet_mac)."""
        with self.ipr() as handle:
            handle.neigh(
                "replace",
                dst=ip or self.usnet_ip,
                lladdr=mac_str(mac or self.usnet_mac),
                ifindex=self.device.ifindex,
                state="permanent",
            )

    def sysctl(self, key: str, value: str | int) -> None:
        """Set a sysctl inside the peer namespace (e.g. net.ipv4.tcp_tw_reuse)."""
        set_sysctl(self.netns, key, value)

    def close_sockets(self) -> None:
        """Close every kernel socket made through `socket()`."""
        while self._sockets:
            self._sockets.pop().close()


@contextlib.contextmanager
def kernel_peer_session(*, mtu: int = 1500, ipv6: bool = False) -> Iterator[KernelPeer]:
    """Set up a KernelPeer and tear it down on exit (needs root)."""
    with NetnsScope() as scope:
        ns = scope.netns()
        if not ipv6:
            # Before the TAP arrives: a device moved in takes the namespace's defaults.
            set_sysctl(ns, "net.ipv6.conf.all.disable_ipv6", 1)
            set_sysctl(ns, "net.ipv6.conf.default.disable_ipv6", 1)
        device = TapDevice.create(mtu=mtu, host_ip=HOST_IP, prefix_len=PREFIX_LEN, netns=ns)
        scope.callback(device.close)
        peer = KernelPeer(device=device, netns=ns, usnet_mac=random_local_mac())
        scope.callback(peer.close_sockets)
        yield peer
