"""Blocking TCP on a usnet Stack: TcpStream and TcpListener, usnet_sockets' names.

Loopback integration (as in usnet_sockets): a listener bound to 0.0.0.0 or the stack's own
address also listens on the kernel's 127.0.0.1 at the same port and accepts from both, so
local programs reach the service; a connect to 127.0.0.0/8 or to the stack's own address
goes through the kernel (the own address is reached as 127.0.0.1, where every usnet
listener also listens), so the service reaches local programs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import time
from collections.abc import Callable, Iterator
from typing import Generic, Self, TypeVar

from usnet_core.errors import AddressInUse, WouldBlock
from usnet_core.tcp import TcpListener as CoreListener
from usnet_core.tcp import TcpSocket as CoreSocket

from usnet_sync.addr import Address, from_endpoint, resolve_ips, split_address
from usnet_sync.options import Closing, SocketOptions, TimeoutMethods, check_timeout
from usnet_sync.stack import Mode, Stack, Waiter

T = TypeVar("T")
C = TypeVar("C", bound=CoreSocket | CoreListener)
# The kernel's own socket API, captured before patch_socket() can replace it: loopback and
# host-mode connections must stay kernel sockets.
_KernelSocket = socket.socket
_kernel_create_connection = socket.create_connection
LOOPBACK = "127.0.0.1"
_SHUT = {"read": "read", "write": "write", "both": "both"}
_SHUT_INT = {socket.SHUT_RD: "read", socket.SHUT_WR: "write", socket.SHUT_RDWR: "both"}


def _is_loopback(ip: int) -> bool:
    return ip >> 24 == 127


def _stack_or_default(stack: Stack | None) -> Stack:
    if stack is not None:
        return stack
    from usnet_sync.default import default_stack  # noqa: PLC0415 (import cycle)

    return default_stack()


def _host_mode() -> bool:
    """USNET_MODE=host: the same API on plain kernel sockets."""
    from usnet_sync.default import mode_from_env  # noqa: PLC0415 (import cycle)

    return mode_from_env() is Mode.HOST


def _shutdown_how(how: str | int) -> str:
    if isinstance(how, str) and how.lower() in _SHUT:
        return _SHUT[how.lower()]
    if isinstance(how, int) and how in _SHUT_INT:
        return _SHUT_INT[how]
    raise ValueError(f"shutdown how must be 'read', 'write', 'both' or SHUT_*, not {how!r}")


class _Handle(TimeoutMethods, Closing, Generic[C]):
    """What TcpStream and TcpListener share: a core socket (or a kernel one), options and
    a waiter, all shared with try_clone() copies; the last handle closes the socket."""

    def __init__(
        self,
        *,
        stack: Stack | None,
        core: C | None = None,
        kernel: socket.socket | None = None,
        options: SocketOptions | None = None,
        waiter: Waiter | None = None,
    ) -> None:
        self._stack = stack
        self._core: C | None = core
        self._kernel = kernel
        self._options = options or SocketOptions()
        self._waiter = waiter
        self._closed = False

    def try_clone(self) -> Self:
        """Another handle to the same socket (it stays open until every handle is closed)."""
        if self._closed:
            raise OSError(errno.EBADF, "socket is closed")
        self._opts.refs += 1
        return type(self)(
            stack=self._stack,
            core=self._core,
            kernel=self._kernel,
            options=self._opts,
            waiter=self._waiter,
        )

    def _release(self) -> bool:
        """Close this handle; True when it was the last one (the socket must go now)."""
        if self._closed:
            return False
        self._closed = True
        self._opts.refs -= 1
        return self._opts.refs == 0

    def _close_core(self) -> None:
        core, stack = self._core, self._stack
        if core is not None and stack is not None and not stack.closed:
            stack.unregister(core)
            stack.run(core.close)


class TcpStream(_Handle[CoreSocket]):
    """A TCP connection: over usnet, or over the kernel for local peers and in host mode."""

    def __init__(
        self,
        *,
        stack: Stack | None,
        core: CoreSocket | None = None,
        kernel: socket.socket | None = None,
        options: SocketOptions | None = None,
        waiter: Waiter | None = None,
    ) -> None:
        """Use TcpStream.connect() or TcpListener.accept()."""
        if core is not None and waiter is None and stack is not None:
            waiter = stack.register(core)
        super().__init__(stack=stack, core=core, kernel=kernel, options=options, waiter=waiter)

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def connect(cls, address: Address | str, *, stack: Stack | None = None) -> TcpStream:
        """Connect to (host, port), blocking until established or refused."""
        return cls._connect(address, None, stack)

    @classmethod
    def connect_timeout(
        cls, address: Address | str, timeout: float, *, stack: Stack | None = None
    ) -> TcpStream:
        """Connect, giving up with TimeoutError after `timeout` seconds."""
        if timeout <= 0:
            raise OSError(errno.EINVAL, "cannot set a 0 or negative timeout")
        return cls._connect(address, timeout, stack)

    @classmethod
    def _connect(
        cls, address: Address | str, timeout: float | None, stack: Stack | None
    ) -> TcpStream:
        """Try each address the host resolves to in turn (like Rust's each_addr)."""
        host, port = split_address(address)
        deadline = None if timeout is None else time.monotonic() + timeout
        last: OSError | None = None
        for ip in resolve_ips(host, stack, timeout):
            remaining = None if deadline is None else max(0.001, deadline - time.monotonic())
            try:
                return cls._connect_ip(ip, port, remaining, stack)
            except OSError as exc:
                last = exc
        assert last is not None
        raise last

    @classmethod
    def _connect_ip(
        cls, ip: int, port: int, timeout: float | None, stack: Stack | None
    ) -> TcpStream:
        remote = (ip, port)
        if port == 0:
            raise OSError(errno.ECONNREFUSED, "cannot connect to port 0")
        host_mode = stack is None and _host_mode()
        if not _is_loopback(ip) and not host_mode:
            stack = _stack_or_default(stack)
        if host_mode or _is_loopback(ip) or (stack is not None and stack.iface.is_local(ip)):
            local = host_mode or _is_loopback(ip)
            target = from_endpoint(remote) if local else (LOOPBACK, port)
            kernel = _kernel_create_connection(target, timeout=timeout)
            kernel.settimeout(None)
            return cls(stack=stack, kernel=kernel)
        assert stack is not None
        st = stack
        core = st.run(lambda: st.iface.tcp.connect(remote, time.monotonic()))
        waiter = st.register(core)

        def established() -> None:
            err = core.take_error()
            if err is not None:
                raise err
            if not core.established and not core.readable:
                raise WouldBlock()

        try:
            st.call(waiter, established, timeout)
        except BaseException:
            st.unregister(core)
            st.run(core.abort)
            raise
        return cls(stack=st, core=core, waiter=waiter)

    # -- data ----------------------------------------------------------------------------

    def _call(self, op: Callable[[CoreSocket], T], write: bool) -> T:
        core, stack = self._core, self._stack
        if self._closed:
            raise OSError(errno.EBADF, "socket is closed")
        assert core is not None and stack is not None
        return stack.call(self._waiter, lambda: op(core), self._opts.timeout(write))

    def _kernel_call(self, op: Callable[[socket.socket], T], write: bool) -> T:
        kernel = self._kernel
        if self._closed or kernel is None:
            raise OSError(errno.EBADF, "socket is closed")
        kernel.settimeout(self._opts.timeout(write))
        try:
            return op(kernel)
        except TimeoutError:
            raise TimeoutError("timed out") from None

    def read(self, n: int = 65536) -> bytes:
        """Up to n bytes; b"" at end of stream. Blocks until at least one byte or EOF."""
        if self._kernel is not None:
            return self._kernel_call(lambda k: k.recv(n), False)
        return self._call(lambda c: c.recv(n), False)

    def read_into(self, buf: bytearray | memoryview) -> int:
        """Read into buf; returns the count (0 at end of stream)."""
        if self._kernel is not None:
            return self._kernel_call(lambda k: k.recv_into(buf), False)
        return self._call(lambda c: c.recv_into(buf), False)

    def peek(self, n: int = 65536) -> bytes:
        """Like read, but the bytes stay queued."""
        if self._kernel is not None:
            return self._kernel_call(lambda k: k.recv(n, socket.MSG_PEEK), False)
        return self._call(lambda c: c.peek(n), False)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Queue some of data (at least one byte, blocking for room); returns the count."""
        if self._kernel is not None:
            return self._kernel_call(lambda k: k.send(data), True)
        return self._call(lambda c: c.send(data), True)

    def write_all(self, data: bytes | bytearray | memoryview) -> None:
        """Queue all of data, blocking as needed."""
        view = memoryview(data).cast("B")
        while view:
            view = view[self.write(view) :]

    def flush(self) -> None:
        """Nothing to do: written bytes are already on their way (as in Rust's TcpStream)."""
        if self._closed:
            raise OSError(errno.EBADF, "socket is closed")

    def shutdown(self, how: str | int) -> None:
        """Shut down "read", "write" or "both" directions (or socket.SHUT_*)."""
        mode = _shutdown_how(how)
        if self._kernel is not None:
            flag = {"read": socket.SHUT_RD, "write": socket.SHUT_WR, "both": socket.SHUT_RDWR}
            self._kernel_call(lambda k: k.shutdown(flag[mode]), True)
            return
        core, stack = self._core, self._stack
        if self._closed or core is None or stack is None:
            raise OSError(errno.EBADF, "socket is closed")
        stack.run(lambda: core.shutdown(mode))

    # -- options -------------------------------------------------------------------------

    def local_addr(self) -> Address:
        """This end's (host, port)."""
        if self._kernel is not None:
            host, port = self._kernel.getsockname()[:2]
            return host, port
        return from_endpoint(self._live_core().local)

    def peer_addr(self) -> Address:
        """The peer's (host, port)."""
        if self._kernel is not None:
            host, port = self._kernel.getpeername()[:2]
            return host, port
        return from_endpoint(self._live_core().remote)

    def _live_core(self) -> CoreSocket:
        if self._closed or self._core is None:
            raise OSError(errno.EBADF, "socket is closed")
        return self._core

    def set_nodelay(self, nodelay: bool) -> None:
        """Turn Nagle's algorithm off (True) or on (False)."""
        if self._kernel is not None:
            self._kernel.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(nodelay))
        else:
            self._live_core().nodelay = nodelay

    def set_keepalive(self, idle: float | None) -> None:
        """Send keep-alive probes after `idle` seconds without traffic (None: off)."""
        if idle is not None and idle <= 0:
            raise OSError(errno.EINVAL, "keep-alive idle time must be positive")
        if self._kernel is not None:
            self._kernel.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(idle is not None))
            if idle is not None:
                self._kernel.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, int(idle)))
            return
        core = self._live_core()
        assert self._stack is not None
        self._stack.run(lambda: setattr(core, "keepalive", idle))

    def keepalive(self) -> float | None:
        """The keep-alive idle time, or None when keep-alive is off."""
        if self._kernel is not None:
            if not self._kernel.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE):
                return None
            return float(self._kernel.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE))
        return self._live_core().keepalive

    def nodelay(self) -> bool:
        """Whether Nagle's algorithm is off."""
        if self._kernel is not None:
            return bool(self._kernel.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return self._live_core().nodelay

    def set_ttl(self, ttl: int) -> None:
        """Set the IP TTL of outgoing segments."""
        if not 1 <= ttl <= 255:
            raise OSError(errno.EINVAL, "ttl must be 1..255")
        if self._kernel is not None:
            self._kernel.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        else:
            self._live_core().ttl = ttl

    def ttl(self) -> int:
        """The IP TTL of outgoing segments."""
        if self._kernel is not None:
            return self._kernel.getsockopt(socket.IPPROTO_IP, socket.IP_TTL)
        return self._live_core().ttl

    def take_error(self) -> OSError | None:
        """Return and clear the pending error (SO_ERROR)."""
        if self._kernel is not None:
            code = self._kernel.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            return OSError(code, errno.errorcode.get(code, "")) if code else None
        core = self._live_core()
        assert self._stack is not None
        return self._stack.run(core.take_error)

    @property
    def is_loopback(self) -> bool:
        """True when this connection runs over the kernel's loopback, not usnet."""
        return self._kernel is not None

    def fileno(self) -> int:
        """A pollable fd: readable when read would not block, writable when write would not."""
        if self._kernel is not None:
            return self._kernel.fileno()
        if self._closed or self._waiter is None or self._stack is None:
            raise OSError(errno.EBADF, "socket is closed")
        with self._stack.lock:
            return self._waiter.fileno()

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """Close this handle; the last one closes the connection gracefully (FIN)."""
        if not self._release():
            return
        if self._kernel is not None:
            self._kernel.close()
            return
        self._close_core()

    def __repr__(self) -> str:
        if self._closed:
            return "<usnet_sync.TcpStream closed>"
        try:
            return f"<usnet_sync.TcpStream {self.local_addr()} -> {self.peer_addr()}>"
        except OSError:
            return "<usnet_sync.TcpStream>"


class TcpListener(_Handle[CoreListener]):
    """A listening TCP socket on usnet (and on the kernel's 127.0.0.1 at the same port)."""

    def __init__(
        self,
        *,
        stack: Stack | None,
        core: CoreListener | None = None,
        kernel: socket.socket | None = None,
        options: SocketOptions | None = None,
        waiter: Waiter | None = None,
    ) -> None:
        """Use TcpListener.bind()."""
        super().__init__(stack=stack, core=core, kernel=kernel, options=options, waiter=waiter)
        self._ttl: int | None = None

    @classmethod
    def bind(
        cls,
        address: Address | str,
        *,
        stack: Stack | None = None,
        backlog: int | None = None,
        loopback: bool = True,
    ) -> TcpListener:
        """Listen on (host, port); port 0 picks a free one. backlog defaults to SOCKET_BACKLOG.

        With loopback (the default) and a wildcard or own address, the kernel's 127.0.0.1
        at the same port is listened on too.
        """
        host, port = split_address(address)
        ip = resolve_ips(host, stack)[0]
        if _is_loopback(ip) or (stack is None and _host_mode()):
            only = _kernel_listener(from_endpoint((ip, port)), backlog)
            return cls(stack=stack, core=None, kernel=only)
        st = _stack_or_default(stack)
        for _attempt in range(64):
            # Port 0: a random port above the kernel's ephemeral range (Linux 32768-60999),
            # so the loopback twin rarely collides with the kernel's own connections.
            pick = port or 61000 + int.from_bytes(os.urandom(2), "big") % 4536

            def listen(p: int = pick) -> CoreListener:
                return st.iface.tcp.listen((ip, p), backlog)

            try:
                core = st.run(listen)
            except AddressInUse:
                if port:
                    raise
                continue
            kernel: socket.socket | None = None
            if loopback:
                try:
                    kernel = _kernel_listener((LOOPBACK, core.local[1]), backlog)
                except OSError as exc:
                    st.run(core.close)
                    if port == 0 and exc.errno == errno.EADDRINUSE:
                        continue  # our ephemeral pick is taken on the kernel side: retry
                    raise OSError(
                        exc.errno, f"loopback twin 127.0.0.1:{core.local[1]}: {exc.strerror}"
                    ) from exc
            waiter = st.register(core, listening=True)
            return cls(stack=st, core=core, kernel=kernel, waiter=waiter)
        raise OSError(errno.EADDRINUSE, "no port free on both usnet and kernel loopback")

    def accept(self) -> tuple[TcpStream, Address]:
        """Wait for the next connection, from usnet or the kernel's loopback."""
        if self._closed:
            raise OSError(errno.EBADF, "socket is closed")
        timeout = self._opts.timeout(False)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            stream = self._try_accept()
            if stream is not None:
                return stream, stream.peer_addr()
            if timeout == 0:
                raise BlockingIOError(errno.EAGAIN, "no connection to accept")
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError("timed out")
            if self._closed:
                raise OSError(errno.EBADF, "listener closed while accepting")
            try:
                self._wait(remaining)
            except OSError:
                if not self._closed:
                    raise
            if self._closed:
                raise OSError(errno.EBADF, "listener closed while accepting")

    def _try_accept(self) -> TcpStream | None:
        core, stack = self._core, self._stack
        if core is not None and stack is not None:
            try:
                # Through call() so the listener's readiness fd is brought up to date.
                conn = stack.call(self._waiter, core.accept, 0.0)
            except WouldBlock:
                pass
            else:
                if self._ttl is not None:
                    conn.ttl = self._ttl
                return TcpStream(stack=stack, core=conn)
        if self._kernel is not None:
            try:
                ksock, _ = self._kernel.accept()
            except BlockingIOError:
                return None
            ksock.setblocking(True)
            if self._ttl is not None:
                ksock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, self._ttl)
            return TcpStream(stack=stack, kernel=ksock)
        return None

    def _wait(self, remaining: float | None) -> None:
        stack, waiter = self._stack, self._waiter
        fds = [self._kernel.fileno()] if self._kernel is not None else []
        if stack is None or waiter is None:
            select.select(fds, [], [], remaining)
            return
        if stack.mode is Mode.SINGLE:
            with stack.lock:
                stack.poll(remaining, extra_fds=fds)
            return
        with stack.lock:
            fds.append(waiter.fileno())
        select.select(fds, [], [], remaining)

    def incoming(self) -> Iterator[TcpStream]:
        """Accept connections forever (an iterator of streams)."""
        while True:
            yield self.accept()[0]

    def local_addr(self) -> Address:
        """The bound (host, port)."""
        if self._core is not None:
            return from_endpoint(self._core.local)
        if self._kernel is not None:
            host, port = self._kernel.getsockname()[:2]
            return host, port
        raise OSError(errno.EBADF, "socket is closed")

    def set_timeout(self, timeout: float | None) -> None:
        """Block accept at most `timeout` seconds (None: forever)."""
        self._opts.read_timeout = check_timeout(timeout)

    def set_ttl(self, ttl: int) -> None:
        """Set the IP TTL for accepted connections (applied on accept)."""
        if not 1 <= ttl <= 255:
            raise OSError(errno.EINVAL, "ttl must be 1..255")
        self._ttl = ttl

    def ttl(self) -> int:
        """The IP TTL for accepted connections."""
        if self._ttl is not None:
            return self._ttl
        return self._stack.iface.config.default_ttl if self._stack is not None else 64

    def fileno(self) -> int:
        """A pollable fd, readable when accept would not block (usnet side only)."""
        if self._closed:
            raise OSError(errno.EBADF, "socket is closed")
        if self._waiter is None or self._stack is None:
            assert self._kernel is not None
            return self._kernel.fileno()
        with self._stack.lock:
            return self._waiter.fileno()

    def close(self) -> None:
        """Stop listening (the last handle): pending connections are reset."""
        if not self._release():
            return
        if self._kernel is not None:
            with contextlib.suppress(OSError):
                self._kernel.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept
            self._kernel.close()
        self._close_core()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.local_addr()}"
        return f"<usnet_sync.TcpListener {state}>"


def _kernel_listener(address: Address, backlog: int | None) -> socket.socket:
    sock = _KernelSocket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog if backlog is not None else 128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
