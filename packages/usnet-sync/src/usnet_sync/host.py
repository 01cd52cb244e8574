"""Host mode (USNET_MODE=host) for UdpSocket: the same API over a kernel UDP socket.

`KernelUdpCore` has the core UdpSocket's interface but is backed by a kernel socket whose
timeout follows the handle's options; `HostDriver` stands in for the Stack and simply
runs each call, since the kernel socket blocks by itself.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Callable, Iterator
from typing import TypeVar

from usnet_sync.addr import Endpoint, from_endpoint, to_endpoint
from usnet_sync.options import SocketOptions

T = TypeVar("T")
_KernelSocket = socket.socket  # captured before patch_socket() can replace it


class KernelUdpCore:
    """A kernel UDP socket shaped like usnet_core.udp.UdpSocket."""

    def __init__(self, options: SocketOptions) -> None:
        self._sock = _KernelSocket(socket.AF_INET, socket.SOCK_DGRAM)
        self._options = options
        self.remote: Endpoint | None = None

    def _timed(self, write: bool) -> socket.socket:
        self._sock.settimeout(self._options.timeout(write))
        return self._sock

    @property
    def local(self) -> Endpoint | None:
        """The bound (addr, port), None before binding."""
        host, port = self._sock.getsockname()[:2]
        return None if port == 0 else to_endpoint((host, port))

    def bind(self, local: Endpoint) -> None:
        """Bind the kernel socket."""
        self._sock.bind(from_endpoint(local))

    def connect(self, remote: Endpoint) -> None:
        """Connect the kernel socket."""
        self._sock.connect(from_endpoint(remote))
        self.remote = remote

    def send_to(self, data: bytes | bytearray | memoryview, remote: Endpoint) -> int:
        """sendto on the kernel socket."""
        return self._timed(True).sendto(data, from_endpoint(remote))

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """send on the connected kernel socket."""
        return self._timed(True).send(data)

    def recv_from(self, bufsize: int = 65535) -> tuple[bytes, Endpoint]:
        """recvfrom on the kernel socket."""
        data, (host, port) = self._timed(False).recvfrom(bufsize)
        return data, to_endpoint((host, port))

    def recv_from_into(self, buf: bytearray | memoryview) -> tuple[int, Endpoint]:
        """recvfrom_into on the kernel socket."""
        n, (host, port) = self._timed(False).recvfrom_into(buf)
        return n, to_endpoint((host, port))

    def peek_from(self, bufsize: int = 65535) -> tuple[bytes, Endpoint]:
        """recvfrom with MSG_PEEK."""
        data, (host, port) = self._timed(False).recvfrom(bufsize, socket.MSG_PEEK)
        return data, to_endpoint((host, port))

    def take_error(self) -> OSError | None:
        """SO_ERROR of the kernel socket."""
        code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return OSError(code, errno.errorcode.get(code, "")) if code else None

    @property
    def ttl(self) -> int:
        """IP_TTL."""
        return self._sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL)

    @ttl.setter
    def ttl(self, value: int) -> None:
        self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, value)

    @property
    def broadcast(self) -> bool:
        """SO_BROADCAST."""
        return bool(self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST))

    @broadcast.setter
    def broadcast(self, on: bool) -> None:
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, int(on))

    def fileno(self) -> int:
        """The kernel socket's fd."""
        return self._sock.fileno()

    def close(self) -> None:
        """Close the kernel socket."""
        self._sock.close()


class HostDriver:
    """Stands in for a Stack in host mode: calls run directly on the kernel socket."""

    closed = False

    @property
    def lock(self) -> contextlib.AbstractContextManager[None]:
        """No lock is needed: the kernel serialises."""
        return _no_lock()

    def call(self, waiter: object, op: Callable[[], T], timeout: float | None) -> T:
        """Run op (the kernel socket applies the timeout itself)."""
        return op()

    def run(self, op: Callable[[], T]) -> T:
        """Run op."""
        return op()

    def register(self, core: KernelUdpCore) -> KernelUdpCore:
        """The core is its own waiter (its fileno is the kernel fd)."""
        return core

    def unregister(self, core: object) -> None:
        """Nothing to forget."""


@contextlib.contextmanager
def _no_lock() -> Iterator[None]:
    yield
