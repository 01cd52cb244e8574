"""Blocking UDP sockets on a usnet Stack, with usnet_sockets' (Rust std's) method names."""

from __future__ import annotations

import errno

from usnet_core.udp import UdpSocket as CoreUdpSocket

from usnet_sync.addr import Address, from_endpoint, resolve_endpoint
from usnet_sync.host import HostDriver, KernelUdpCore
from usnet_sync.options import Closing, SocketOptions, TimeoutMethods
from usnet_sync.stack import Mode, Stack, Waiter


class _Shared(SocketOptions):
    """The socket behind a handle and its try_clone() copies (like one file description)."""

    __slots__ = ("core", "stack", "waiter")

    def __init__(self, stack: Stack, core: CoreUdpSocket) -> None:
        super().__init__()
        self.stack = stack
        self.core = core
        self.waiter: Waiter = stack.register(core)

    @classmethod
    def host(cls) -> _Shared:
        """Host mode: a kernel socket behind the same calls (see usnet_sync.host)."""
        shared = cls.__new__(cls)
        SocketOptions.__init__(shared)
        driver, core = HostDriver(), KernelUdpCore(shared)
        # Duck-typed stand-ins for the Stack, the core socket and the waiter.
        shared.stack, shared.core = driver, core  # type: ignore[assignment]
        shared.waiter = driver.register(core)  # type: ignore[assignment]
        return shared


class UdpSocket(TimeoutMethods, Closing):
    """A UDP socket on the userspace stack: `UdpSocket.bind(("0.0.0.0", 5353))`."""

    def __init__(self, shared: _Shared) -> None:
        """Use UdpSocket.bind()."""
        self._shared = shared
        self._closed = False

    @classmethod
    def bind(cls, address: Address | str, *, stack: Stack | None = None) -> UdpSocket:
        """A socket bound to (host, port); port 0 picks an ephemeral port."""
        local = resolve_endpoint(address, stack)
        if stack is None:
            from usnet_sync.default import default_stack, mode_from_env  # noqa: PLC0415

            if mode_from_env() is Mode.HOST:
                shared = _Shared.host()
                shared.core.bind(local)
                return cls(shared)
            stack = default_stack()
        core = stack.run(stack.iface.udp_socket)
        stack.run(lambda: core.bind(local))
        return cls(_Shared(stack, core))

    @property
    def _opts(self) -> SocketOptions:
        return self._s

    @property
    def _s(self) -> _Shared:
        if self._closed:
            raise OSError(errno.EBADF, "socket is closed")
        return self._shared

    # -- data ------------------------------------------------------------------------

    def send_to(self, data: bytes | bytearray | memoryview, address: Address | str) -> int:
        """Send one datagram to (host, port); returns the bytes sent."""
        s = self._s
        remote = resolve_endpoint(address, s.stack if isinstance(s.stack, Stack) else None)
        return s.stack.call(s.waiter, lambda: s.core.send_to(data, remote), s.timeout(True))

    def recv_from(self, bufsize: int = 65535) -> tuple[bytes, Address]:
        """Receive one datagram (truncated to bufsize) and its source."""
        s = self._s
        data, src = s.stack.call(s.waiter, lambda: s.core.recv_from(bufsize), s.timeout(False))
        return data, from_endpoint(src)

    def recv_from_into(self, buf: bytearray | memoryview) -> tuple[int, Address]:
        """Receive one datagram into buf; returns (length, source)."""
        s = self._s
        n, src = s.stack.call(s.waiter, lambda: s.core.recv_from_into(buf), s.timeout(False))
        return n, from_endpoint(src)

    def peek_from(self, bufsize: int = 65535) -> tuple[bytes, Address]:
        """Like recv_from, leaving the datagram queued."""
        s = self._s
        data, src = s.stack.call(s.waiter, lambda: s.core.peek_from(bufsize), s.timeout(False))
        return data, from_endpoint(src)

    def connect(self, address: Address | str) -> None:
        """Fix the peer: send/recv use it and datagrams from others are dropped."""
        s = self._s
        remote = resolve_endpoint(address, s.stack if isinstance(s.stack, Stack) else None)
        s.stack.run(lambda: s.core.connect(remote))

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """Send one datagram to the connected peer."""
        s = self._s
        return s.stack.call(s.waiter, lambda: s.core.send(data), s.timeout(True))

    def recv(self, bufsize: int = 65535) -> bytes:
        """Receive one datagram's data from the connected peer."""
        return self.recv_from(bufsize)[0]

    def peek(self, bufsize: int = 65535) -> bytes:
        """Peek at the next datagram's data."""
        return self.peek_from(bufsize)[0]

    # -- options -------------------------------------------------------------------------

    def local_addr(self) -> Address:
        """The bound (host, port)."""
        s = self._s
        local = s.core.local
        if local is None:
            raise OSError(errno.EINVAL, "socket is not bound")
        addr = local[0] or 0
        return from_endpoint((addr, local[1]))

    def peer_addr(self) -> Address:
        """The connected peer's (host, port)."""
        remote = self._s.core.remote
        if remote is None:
            raise OSError(errno.ENOTCONN, "socket is not connected")
        return from_endpoint(remote)

    def ttl(self) -> int:
        """The IP TTL of outgoing datagrams."""
        return self._s.core.ttl

    def set_ttl(self, ttl: int) -> None:
        """Set the IP TTL (1..255)."""
        if not 1 <= ttl <= 255:
            raise OSError(errno.EINVAL, "ttl must be 1..255")
        self._s.core.ttl = ttl

    def broadcast(self) -> bool:
        """Whether sending to broadcast addresses is allowed (SO_BROADCAST)."""
        return self._s.core.broadcast

    def set_broadcast(self, on: bool) -> None:
        """Allow sending to broadcast addresses."""
        self._s.core.broadcast = on

    def take_error(self) -> OSError | None:
        """Return and clear the pending error (SO_ERROR)."""
        s = self._s
        return s.stack.run(s.core.take_error)

    def try_clone(self) -> UdpSocket:
        """Another handle to the same socket (it stays open until every handle is closed)."""
        s = self._s
        s.refs += 1
        return UdpSocket(s)

    def fileno(self) -> int:
        """A pollable fd: readable when recv would not block, writable when send would not."""
        s = self._s
        with s.stack.lock:
            return s.waiter.fileno()

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """Close this handle; the socket goes away with its last handle."""
        if self._closed:
            return
        self._closed = True
        s = self._shared
        s.refs -= 1
        if s.refs == 0 and not s.stack.closed:
            s.stack.unregister(s.core)
            s.stack.run(s.core.close)

    def __repr__(self) -> str:
        if self._closed:
            return "<usnet_sync.UdpSocket closed>"
        local = self._shared.core.local
        if local is None:
            return "<usnet_sync.UdpSocket unbound>"
        host, port = from_endpoint(local)
        where = f"{host}:{port}"
        return f"<usnet_sync.UdpSocket {where}>"
