"""TAP devices (/dev/net/tun, IFF_TAP | IFF_NO_PI): usnet on one side, a kernel on the other.

The TAP interface's own MAC and the `host_ip` address belong to the *kernel's* side; the
stack on our fd is another host on that link and must use a MAC of its own, so
`TapDevice.mac` is None and the interface's MAC is `kernel_mac`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import struct
from collections.abc import Iterable

from .device import DeviceBase, DeviceStats, Frame, Offloads, closed_error
from .netns import ipr, off_event_loop, run_in_netns

__all__ = ["TapDevice"]

TUN_PATH = "/dev/net/tun"
_TUNSETIFF = 0x400454CA
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000
_IFREQ = "16sH22x"
# One reusable receive buffer large enough for any frame the kernel can hand us (also GSO
# super-frames later): a short read buffer would silently truncate frames with IFF_NO_PI.
_RX_BUFFER = 65536 + 64


def _open_tap(name: str) -> tuple[int, str]:
    """Open /dev/net/tun and bind it to TAP `name` (may contain %d); return (fd, real name)."""
    if len(name.encode()) > 15:
        raise ValueError(f"interface name {name!r} is longer than 15 bytes")
    try:
        fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            e.errno,
            f"{TUN_PATH} is missing: load the tun module (modprobe tun) or create the node "
            "(mkdir -p /dev/net && mknod /dev/net/tun c 10 200)",
        ) from e
    except PermissionError as e:
        raise PermissionError(
            e.errno, f"cannot open {TUN_PATH}: run as root or make it readable and writable"
        ) from e
    try:
        ifr = struct.pack(_IFREQ, name.encode(), _IFF_TAP | _IFF_NO_PI)
        try:
            res = fcntl.ioctl(fd, _TUNSETIFF, ifr)
        except PermissionError as e:
            raise PermissionError(
                e.errno,
                f"TUNSETIFF {name!r} not permitted: creating a TAP needs CAP_NET_ADMIN (run as "
                "root), or create a persistent TAP owned by your user beforehand "
                "(ip tuntap add mode tap user $USER) and use TapDevice.attach",
            ) from e
        except OSError as e:
            hint = {
                errno.EBUSY: "it is already open by another process",
                errno.EINVAL: "it exists but is not a TAP (a TUN?) or has other flags",
            }.get(e.errno or 0, os.strerror(e.errno or 0))
            raise OSError(e.errno, f"TUNSETIFF {name!r} failed: {hint}") from e
        real = struct.unpack(_IFREQ, res)[0].rstrip(b"\0").decode()
    except BaseException:
        os.close(fd)
        raise
    return fd, real


class TapDevice(DeviceBase):
    """A TAP interface driven by usnet through its file descriptor.

    Make one with `create` (a new interface, removed on close) or `attach` (an existing
    persistent TAP, left in place). Reads and writes never block.
    """

    def __init__(self, fd: int, name: str, netns: str | None, *, owned: bool) -> None:
        """Wrap an already bound TAP fd; prefer `create` or `attach`."""
        # Look the link up before taking ownership of fd: if this raises, the caller closes it.
        with ipr(netns) as handle:
            found = handle.link_lookup(ifname=name)
            if not found:
                raise OSError(errno.ENODEV, f"TAP {name!r} not found", netns)
            link = handle.get_links(found[0])[0]
        self.mtu: int = int(link.get("mtu"))
        self.ifindex: int = int(link["index"])
        self.kernel_mac = bytes.fromhex(str(link.get("address")).replace(":", ""))
        self.name = name
        self.netns = netns
        self.owned = owned
        self.stats = DeviceStats()
        self.offloads = Offloads()
        self.mac: bytes | None = None
        self._buf = bytearray(_RX_BUFFER)
        self._view = memoryview(self._buf)
        self._fd = fd

    @classmethod
    @off_event_loop
    def create(
        cls,
        name: str | None = None,
        mtu: int = 1500,
        host_ip: str | None = None,
        prefix_len: int = 24,
        netns: str | None = None,
    ) -> TapDevice:
        """Create a TAP, set its MTU, bring it up and give the kernel's side `host_ip`.

        With `netns`, the interface is moved into that namespace and configured there (our
        fd keeps working). The interface disappears when the device is closed.
        """
        fd, real = _open_tap(name or "usnet%d")
        try:
            if netns is not None:
                with ipr() as here:
                    index = here.link_lookup(ifname=real)[0]
                    here.link("set", index=index, net_ns_fd=netns)
            with ipr(netns) as handle:
                index = handle.link_lookup(ifname=real)[0]
                handle.link("set", index=index, mtu=mtu)
                if host_ip is not None:
                    handle.addr("add", index=index, address=host_ip, prefixlen=prefix_len)
                handle.link("set", index=index, state="up")
            return cls(fd, real, netns, owned=True)
        except BaseException:
            os.close(fd)  # a non-persistent TAP dies with its last fd
            raise

    @classmethod
    @off_event_loop
    def attach(cls, name: str, netns: str | None = None) -> TapDevice:
        """Open the existing TAP `name` (typically persistent); close leaves it in place."""
        with ipr(netns) as handle:
            if not handle.link_lookup(ifname=name):
                # TUNSETIFF would silently create a new interface under that name.
                raise FileNotFoundError(errno.ENODEV, f"no interface {name!r} to attach to")
        if netns is None:
            fd, real = _open_tap(name)
        else:
            # The tun fd binds to the namespace it was opened in.
            fd, real = run_in_netns(netns, _open_tap, name)
        try:
            return cls(fd, real, netns, owned=False)
        except BaseException:
            os.close(fd)
            raise

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._fd < 0

    def fileno(self) -> int:
        """The tun fd; readable when frames wait."""
        if self._fd < 0:
            raise closed_error()
        return self._fd

    def recv_batch(self, limit: int = 64) -> list[bytes]:
        """Every frame ready now, at most `limit`; never blocks."""
        fd = self.fileno()
        frames: list[bytes] = []
        view = self._view
        stats = self.stats
        while len(frames) < limit:
            try:
                n = os.readv(fd, (self._buf,))
            except BlockingIOError:
                break
            frames.append(bytes(view[:n]))
            stats.rx_frames += 1
            stats.rx_bytes += n
        return frames

    def send_batch(self, frames: Iterable[Frame]) -> None:
        """Write each frame; one the kernel refuses now (full queue, link down) is dropped."""
        fd = self.fileno()
        stats = self.stats
        for frame in frames:
            try:
                n = os.write(fd, frame)
            except (BlockingIOError, OSError) as e:
                if e.errno == errno.EBADF:
                    raise
                stats.tx_dropped += 1
                continue
            stats.tx_frames += 1
            stats.tx_bytes += n

    def close(self) -> None:
        """Close the fd (idempotent); a TAP we created is removed by the kernel with it."""
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        self._view.release()
        os.close(fd)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __repr__(self) -> str:
        where = f" netns={self.netns!r}" if self.netns else ""
        return f"<TapDevice {self.name!r}{where} mtu={self.mtu} fd={self._fd}>"
