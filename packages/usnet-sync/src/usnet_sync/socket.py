"""A drop-in for Python's socket module whose AF_INET TCP and UDP sockets run on usnet.

    from usnet_sync import socket as usocket
    with usocket.create_connection(("10.0.0.1", 80), timeout=5) as conn:
        conn.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")

`socket(AF_INET, SOCK_STREAM | SOCK_DGRAM)` lives on the default Stack (`default_stack()`,
or pass `stack=`); every other family, type or protocol (AF_UNIX, AF_INET6, AF_PACKET, raw,
...) and every socket made from an existing descriptor (`fileno=`) is handed to the kernel
unchanged: the result is then an instance of the standard `socket.socket`. With
USNET_MODE=host every socket is a kernel socket (unless `stack=` names a usnet Stack) and
every helper is the standard one.

Semantics follow the standard module: timeouts (None blocks, 0 raises BlockingIOError,
t > 0 raises TimeoutError("timed out")), a non-blocking connect raises EINPROGRESS and
finishes in the background (watch writability, then read SO_ERROR or call connect_ex),
errors are the standard exceptions with errno, and `fileno()` is a real descriptor for
select/poll/epoll that is readable exactly when recv/accept would not block and writable
exactly when send would not. Loopback integration as in usnet_sync.tcp: a listener on the
wildcard or the stack's own address also listens on the kernel's 127.0.0.1 at the same port,
and connects to 127.0.0.0/8 or to the stack's own address go through the kernel.

Limits: in single-thread mode nothing drives the stack between calls, so a select() on
`fileno()` only sees progress made by calls (non-blocking calls drive the stack once). A
fileno() taken before bind/connect/listen keeps its number afterwards (the real descriptor
is dup2'ed onto it), but an epoll registration made before then does not follow: register
after connecting or listening. SO_RCVBUF/SO_SNDBUF are recorded, not applied (buffer sizes
come from SOCKET_BUFFER). TLS (ssl.wrap_socket) needs a kernel descriptor and is refused
with a clear error. `detach()` and `dup()` are not supported on usnet sockets.
"""

from __future__ import annotations

import sys
import types

if __name__ == "socket":
    # Found as the top-level "socket": a file inside usnet_sync was run by path, which puts
    # this directory first on sys.path. Hand every importer the standard module instead
    # (the import system returns what sys.modules holds once this file has run).
    import importlib.machinery
    import importlib.util
    import os as _os

    _spec = importlib.machinery.PathFinder.find_spec("socket", [_os.path.dirname(_os.__file__)])
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["socket"] = _module
    _spec.loader.exec_module(_module)

import builtins
import contextlib
import errno
import io
import ipaddress
import os
import select
import socket as _std
import struct
import threading
import time
from collections.abc import Callable
from socket import (
    AF_INET,
    AF_INET6,
    AF_UNIX,
    AF_UNSPEC,
    AI_CANONNAME,
    AI_NUMERICHOST,
    AI_NUMERICSERV,
    AI_PASSIVE,
    EAI_FAMILY,
    EAI_NONAME,
    EAI_SERVICE,
    INADDR_ANY,
    IP_TOS,
    IP_TTL,
    IPPROTO_IP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    MSG_DONTWAIT,
    MSG_NOSIGNAL,
    MSG_PEEK,
    SHUT_RD,
    SHUT_RDWR,
    SHUT_WR,
    SO_BROADCAST,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_RCVBUF,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_SNDBUF,
    SO_TYPE,
    SOCK_CLOEXEC,
    SOCK_DGRAM,
    SOCK_NONBLOCK,
    SOCK_RAW,
    SOCK_STREAM,
    SOL_SOCKET,
    SOMAXCONN,
    TCP_KEEPCNT,
    TCP_KEEPIDLE,
    TCP_KEEPINTVL,
    TCP_NODELAY,
    AddressFamily,
    SocketKind,
    error,
    gaierror,
    getdefaulttimeout,
    herror,
    setdefaulttimeout,
    timeout,
)
from types import TracebackType
from typing import IO, Any, Self, TypeVar, cast, overload

if __name__ != "socket":  # always, except in the run-by-path case at the top of the file
    from usnet_core.errors import WouldBlock
    from usnet_core.tcp import State
    from usnet_core.tcp import TcpListener as CoreListener
    from usnet_core.tcp import TcpSocket as CoreSocket

    from usnet_sync.addr import from_endpoint
    from usnet_sync.stack import Mode, Stack, StackClosedError, Waiter
    from usnet_sync.tcp import TcpStream
    from usnet_sync.udp import UdpSocket

# The standard constants and helpers are re-exported with their meaning (listed here for
# type checkers); `__getattr__` below forwards every other name to the standard module.
__all__ = [
    "AF_INET",
    "AF_INET6",
    "AF_UNIX",
    "AF_UNSPEC",
    "AI_CANONNAME",
    "AI_NUMERICHOST",
    "AI_NUMERICSERV",
    "AI_PASSIVE",
    "AddressFamily",
    "EAI_FAMILY",
    "EAI_NONAME",
    "EAI_SERVICE",
    "INADDR_ANY",
    "IPPROTO_IP",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "IP_TOS",
    "IP_TTL",
    "MSG_DONTWAIT",
    "MSG_NOSIGNAL",
    "MSG_PEEK",
    "SHUT_RD",
    "SHUT_RDWR",
    "SHUT_WR",
    "SOCK_CLOEXEC",
    "SOCK_DGRAM",
    "SOCK_NONBLOCK",
    "SOCK_RAW",
    "SOCK_STREAM",
    "SOL_SOCKET",
    "SOMAXCONN",
    "SO_BROADCAST",
    "SO_ERROR",
    "SO_KEEPALIVE",
    "SO_LINGER",
    "SO_RCVBUF",
    "SO_REUSEADDR",
    "SO_REUSEPORT",
    "SO_SNDBUF",
    "SO_TYPE",
    "SocketKind",
    "TCP_KEEPCNT",
    "TCP_KEEPIDLE",
    "TCP_KEEPINTVL",
    "TCP_NODELAY",
    "create_connection",
    "create_server",
    "error",
    "fromfd",
    "gaierror",
    "getaddrinfo",
    "getdefaulttimeout",
    "getfqdn",
    "gethostbyname",
    "herror",
    "setdefaulttimeout",
    "socket",
    "socketpair",
    "timeout",
]

T = TypeVar("T")
Address = tuple[Any, ...]
Buffer = bytes | bytearray | memoryview
AddrInfo = tuple[AddressFamily, SocketKind, int, str, tuple[Any, ...]]

# The standard objects, captured at import (before patch_socket can replace them).
KernelSocket: type[_std.socket] = _std.socket
_std_create_connection = _std.create_connection
_std_create_server = _std.create_server
_std_getaddrinfo = _std.getaddrinfo
_std_gethostbyname = _std.gethostbyname
_std_getfqdn = _std.getfqdn
_GLOBAL_DEFAULT_TIMEOUT: object = _std._GLOBAL_DEFAULT_TIMEOUT  # type: ignore[attr-defined]
socketpair = _std.socketpair

_TYPE_FLAGS = SOCK_NONBLOCK | SOCK_CLOEXEC
_EPHEMERAL_LOW, _EPHEMERAL_COUNT = 61000, 4536  # as TcpListener: above Linux's range
_KEEPIDLE_DEFAULT = 7200.0
_NOT_SUPPORTED_TLS = (
    "TLS is not supported over usnet yet: ssl needs a kernel socket descriptor "
    "(use a kernel socket, or terminate TLS elsewhere)"
)


def __getattr__(name: str) -> Any:
    """Everything else (inet_aton, htons, SocketIO, constants...) is the standard one."""
    try:
        return getattr(_std, name)
    except AttributeError:
        raise AttributeError(f"module 'usnet_sync.socket' has no attribute {name!r}") from None


def _host_mode() -> bool:
    from usnet_sync.default import mode_from_env  # noqa: PLC0415 (cheap after first import)

    return mode_from_env() is Mode.HOST


def _oserror(code: int, cls: type[OSError] = OSError) -> OSError:
    """OSError(code) with the standard message; OSError itself picks the subclass by errno
    (ECONNREFUSED: ConnectionRefusedError, EAGAIN/EINPROGRESS: BlockingIOError, ...)."""
    return cls(code, os.strerror(code))


def _ebadf() -> OSError:
    return _oserror(errno.EBADF)


# --- names and addresses ------------------------------------------------------------------


def _ipv4_literal(host: str) -> str | None:
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        return None


def _resolve_ipv4(host: str, stack: Stack | None = None) -> list[str]:
    """IPv4 addresses of `host`: literals directly, names through usnet_sync.resolve."""
    literal = _ipv4_literal(host)
    if literal is not None:
        return [literal]
    from usnet_sync.resolve import resolve  # noqa: PLC0415 (written in parallel; lazy)

    return resolve(host, stack=stack)


def _host_text(host: object) -> str:
    if isinstance(host, (bytes, bytearray)):
        return bytes(host).decode("idna")
    if not isinstance(host, str):
        raise TypeError(f"str, bytes or bytearray expected, not {type(host).__name__}")
    return host


def _inet_address(address: object, stack: Stack | None, *, for_bind: bool) -> tuple[str, int]:
    """A socket-module AF_INET address tuple as (dotted IPv4, port), resolving names."""
    if not isinstance(address, tuple) or len(address) != 2:
        raise TypeError(
            "AF_INET address must be tuple, not " + type(address).__name__
            if not isinstance(address, tuple)
            else "AF_INET address must be a pair (host, port)"
        )
    host, port = _host_text(address[0]), address[1]
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"'{type(port).__name__}' object cannot be interpreted as an integer")
    if not 0 <= port <= 65535:
        raise OverflowError(
            "bind(): port must be 0-65535." if for_bind else "port must be 0-65535."
        )
    if host == "":
        return "0.0.0.0", port
    if host == "<broadcast>":
        return "255.255.255.255", port
    return _resolve_ipv4(host, stack)[0], port


def _ip_int(host: str) -> int:
    return int(ipaddress.IPv4Address(host))


def _is_loopback(host: str) -> bool:
    return host.startswith("127.")


# --- the socket class ---------------------------------------------------------------------


class _SocketMeta(type):
    """Makes `isinstance(kernel_socket, usnet_sync.socket.socket)` true, so code that
    checks `isinstance(x, socket.socket)` after patch_socket still accepts kernel sockets
    (AF_UNIX, socketpair(), fromfd())."""

    def __instancecheck__(cls, obj: object) -> bool:
        return type.__instancecheck__(cls, obj) or (cls is socket and isinstance(obj, KernelSocket))

    def __subclasscheck__(cls, sub: type) -> bool:
        return type.__subclasscheck__(cls, sub) or (cls is socket and issubclass(sub, KernelSocket))


class socket(metaclass=_SocketMeta):
    """socket.socket for AF_INET TCP/UDP on usnet; other families get a kernel socket."""

    def __new__(
        cls,
        family: int = -1,
        type: int = -1,
        proto: int = -1,
        fileno: int | None = None,
        *,
        stack: Stack | None = None,
    ) -> Self:
        """A usnet socket, or a standard kernel socket when usnet does not take it."""
        if _usnet_takes(family, type, proto, fileno, stack):
            return super().__new__(cls)
        return cast(Self, KernelSocket(family, type, proto, fileno))

    def __init__(
        self,
        family: int = -1,
        type: int = -1,
        proto: int = -1,
        fileno: int | None = None,
        *,
        stack: Stack | None = None,
    ) -> None:
        kind = (SOCK_STREAM if type == -1 else type) & ~_TYPE_FLAGS
        self._family = AddressFamily.AF_INET
        self._type = SocketKind(kind)
        self._proto = 0 if proto == -1 else proto
        self._stack: Stack | None = stack
        self._timeout: float | None = _std.getdefaulttimeout()
        if type != -1 and type & SOCK_NONBLOCK:
            self._timeout = 0.0
        self._lock = threading.Lock()
        self._closed = False  # close() was called (makefile() objects may keep it alive)
        self._dead = False  # really closed: every call raises EBADF
        self._io_refs = 0
        self._opts: dict[tuple[int, int], int] = {}
        # What the socket is right now (at most one of these is set).
        self._kernel: _std.socket | None = None  # loopback or kernel-side peer
        self._stream: TcpStream | None = None
        self._listener: _Listening | None = None
        self._core: CoreSocket | None = None  # the stream's core socket and its waiter
        self._waiter: Waiter | None = None
        self._udp: UdpSocket | None = None
        # TCP before listen/connect: the bound address and its kernel 127.0.0.1 twin
        # (holding the port there; it becomes the loopback listener on listen()).
        self._bound: tuple[str, int] | None = None
        self._twin: _std.socket | None = None
        self._connecting = False
        self._connect_reported = False
        self._listen_shut = False
        self._fd_alias: int | None = None

    @classmethod
    def _wrap(
        cls,
        stack: Stack | None,
        proto: int,
        opts: dict[tuple[int, int], int],
        *,
        core: CoreSocket | None = None,
        kernel: _std.socket | None = None,
    ) -> socket:
        sock = super().__new__(cls)
        socket.__init__(sock, AF_INET, SOCK_STREAM, proto, stack=stack)
        sock._opts = dict(opts)
        if core is not None:
            assert stack is not None
            sock._set_stream(stack, core)
        if kernel is not None:
            sock._kernel = kernel
        sock._apply_timeout()
        return sock

    # -- attributes -----------------------------------------------------------------------

    @property
    def family(self) -> AddressFamily:
        """Always AF_INET (other families are kernel sockets)."""
        return self._family

    @property
    def type(self) -> SocketKind:
        """SOCK_STREAM or SOCK_DGRAM."""
        return self._type

    @property
    def proto(self) -> int:
        """The protocol number given at creation (0, IPPROTO_TCP or IPPROTO_UDP)."""
        return self._proto

    @property
    def timeout(self) -> float | None:
        """The timeout in seconds (None: blocking), as gettimeout()."""
        return self._timeout

    def __repr__(self) -> str:
        parts = [
            f"family=AddressFamily.{self._family.name}",
            f"type=SocketKind.{self._type.name}",
            f"proto={self._proto}",
        ]
        if self._dead:
            return f"<usnet_sync.socket.socket [closed] {', '.join(parts)}>"
        for label, get in (("laddr", self.getsockname), ("raddr", self.getpeername)):
            with contextlib.suppress(OSError):
                parts.append(f"{label}={get()}")
        kind = " kernel" if self._kernel is not None else ""
        return f"<usnet_sync.socket.socket{kind} {', '.join(parts)}>"

    # -- plumbing -------------------------------------------------------------------------

    def _check(self) -> None:
        if self._dead:
            raise _ebadf()

    def _need_stack(self) -> Stack:
        if self._stack is None:
            from usnet_sync.default import default_stack  # noqa: PLC0415 (cycle)

            self._stack = default_stack()
        return self._stack

    def _drive(self) -> None:
        """Single-thread mode: a non-blocking call first lets the stack catch up."""
        st = self._stack
        if self._timeout == 0 and st is not None and st.mode is Mode.SINGLE:
            with st.lock:
                st.poll(0)

    def _apply_timeout(self) -> None:
        t = self._timeout
        target: TcpStream | UdpSocket | None = self._stream or self._udp
        if self._kernel is not None:
            self._kernel.settimeout(t)
        if target is not None:
            target.set_nonblocking(t == 0)
            target.set_read_timeout(t or None)
            target.set_write_timeout(t or None)

    def _apply_stream_opts(self) -> None:
        stream = self._stream
        if stream is None:
            return
        if self._opts.get((IPPROTO_TCP, TCP_NODELAY)):
            stream.set_nodelay(True)
        ttl = self._opts.get((IPPROTO_IP, IP_TTL))
        if ttl:
            stream.set_ttl(ttl)
        if self._opts.get((SOL_SOCKET, SO_KEEPALIVE)):
            self._set_keepalive(True)

    def _set_stream(self, st: Stack, core: CoreSocket) -> TcpStream:
        self._core, self._waiter = core, st.register(core)
        self._stream = TcpStream(stack=st, core=core, waiter=self._waiter)
        self._apply_stream_opts()
        self._apply_timeout()
        return self._stream

    def _set_keepalive(self, on: bool) -> None:
        core = self._core  # TcpStream has no keepalive setter yet
        if core is not None:
            idle = self._opts.get((IPPROTO_TCP, TCP_KEEPIDLE))
            core.keepalive = (float(idle) if idle else _KEEPIDLE_DEFAULT) if on else None

    def _attached(self) -> None:
        """The socket got its real descriptor: keep a number handed out earlier valid."""
        alias = self._fd_alias
        if alias is not None:
            real = self._real_fileno()
            if real is not None:
                os.dup2(real, alias, inheritable=False)

    def _real_fileno(self) -> int | None:
        if self._kernel is not None:
            return self._kernel.fileno()
        if self._stream is not None:
            return self._stream.fileno()
        if self._udp is not None:
            return self._udp.fileno()
        if self._listener is not None:
            return self._listener.fileno()
        return None

    def _become_kernel(self) -> _std.socket:
        """From now on this socket is a kernel socket (loopback traffic)."""
        self._release_twin()
        self._bound = None
        k = KernelSocket(AF_INET, self._type, self._proto)
        try:
            for (level, opt), value in self._opts.items():
                k.setsockopt(level, opt, value)
            k.settimeout(self._timeout)
        except BaseException:
            k.close()
            raise
        self._kernel = k
        return k

    def _release_twin(self) -> None:
        if self._twin is not None:
            self._twin.close()
            self._twin = None

    # -- timeouts ---------------------------------------------------------------------------

    def settimeout(self, value: float | None) -> None:
        """None: block; 0: non-blocking; t > 0: raise TimeoutError after t seconds."""
        if value is not None:
            value = float(value)
            if value < 0:
                raise ValueError("Timeout value out of range")
        self._timeout = value
        if not self._dead:
            self._apply_timeout()

    def gettimeout(self) -> float | None:
        """The timeout (None when blocking)."""
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        """setblocking(True) is settimeout(None), setblocking(False) is settimeout(0)."""
        self.settimeout(None if flag else 0.0)

    def getblocking(self) -> bool:
        """False in non-blocking mode (timeout 0), else True."""
        return self._timeout != 0.0

    # -- binding and listening -------------------------------------------------------------

    def bind(self, address: Address) -> None:
        """Bind to (host, port); port 0 picks a free port (on usnet and the kernel twin)."""
        self._check()
        if self._kernel is not None:
            self._kernel.bind(address)
            return
        if self._bound is not None or self._listener or self._stream or self._udp:
            raise _oserror(errno.EINVAL)
        host, port = _inet_address(address, self._stack, for_bind=True)
        if _is_loopback(host):
            self._become_kernel().bind((host, port))
            self._attached()
            return
        st = self._need_stack()
        ip = _ip_int(host)
        if ip and not st.iface.is_local(ip):
            raise _oserror(errno.EADDRNOTAVAIL)
        if self._type == SOCK_DGRAM:
            self._udp = UdpSocket.bind((host, port), stack=st)
            self._apply_timeout()
            self._attached()
            return
        self._bound = (host, self._reserve(st, ip, port))

    def _reserve(self, st: Stack, ip: int, port: int) -> int:
        """Check (ip, port) is free on usnet and hold 127.0.0.1:port on the kernel side."""
        for _attempt in range(64):
            pick = port or _EPHEMERAL_LOW + int.from_bytes(os.urandom(2), "big") % _EPHEMERAL_COUNT

            def probe(p: int = pick) -> None:
                st.iface.tcp.listen((ip, p)).close()

            try:
                st.run(probe)
            except OSError as exc:
                if port or exc.errno != errno.EADDRINUSE:
                    raise _oserror(exc.errno or errno.EADDRINUSE) from None
                continue
            twin = KernelSocket(AF_INET, SOCK_STREAM)
            try:
                twin.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
                twin.bind(("127.0.0.1", pick))
            except OSError as exc:
                twin.close()
                if port or exc.errno != errno.EADDRINUSE:
                    raise
                continue
            self._twin = twin
            return pick
        raise _oserror(errno.EADDRINUSE)

    def listen(self, backlog: int | None = None) -> None:
        """Start listening (backlog defaults to SOCKET_BACKLOG); binds a free port if unbound."""
        self._check()
        if self._kernel is not None:
            if backlog is None:
                self._kernel.listen()
            else:
                self._kernel.listen(backlog)
            return
        if self._type != SOCK_STREAM:
            raise _oserror(errno.EOPNOTSUPP)
        if self._listener is not None:
            return
        if self._stream is not None:
            raise _oserror(errno.EINVAL)
        if self._bound is None:
            self.bind(("0.0.0.0", 0))
        assert self._bound is not None
        st = self._need_stack()
        if backlog is not None:
            backlog = max(backlog, 0)
        ip, port = _ip_int(self._bound[0]), self._bound[1]
        core = st.run(lambda: st.iface.tcp.listen((ip, port), backlog))
        twin, self._twin = self._twin, None
        self._listener = _Listening(st, core, twin)
        if twin is not None:
            twin.listen(backlog if backlog is not None else 128)
            twin.setblocking(False)
        self._attached()

    def accept(self) -> tuple[socket, Address]:
        """Wait for a connection (from usnet or the kernel's 127.0.0.1); (socket, address)."""
        self._check()
        if self._kernel is not None:
            conn, addr = self._kernel.accept()
            return self._wrap(self._stack, self._proto, self._opts, kernel=conn), addr
        listener = self._listener
        if listener is None or self._listen_shut:
            raise _oserror(errno.EINVAL)
        t = self._timeout
        deadline = None if t is None else time.monotonic() + t
        while True:
            self._drive()
            got = self._try_accept(listener)
            if got is not None:
                return got
            if t == 0:
                raise _oserror(errno.EAGAIN, BlockingIOError)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError("timed out")
            self._wait_accept(listener, remaining)
            if self._dead or self._listen_shut:
                raise _oserror(errno.EBADF if self._dead else errno.EINVAL)

    def _try_accept(self, listener: _Listening) -> tuple[socket, Address] | None:
        st = listener.stack
        try:
            conn = st.call(listener.waiter, listener.core.accept, 0.0)
        except WouldBlock:
            pass
        else:
            sock = self._wrap(st, self._proto, self._opts, core=conn)
            return sock, from_endpoint(conn.remote)
        twin = listener.twin
        if twin is not None:
            try:
                kconn, kaddr = twin.accept()
            except BlockingIOError:
                return None
            return self._wrap(self._stack, self._proto, self._opts, kernel=kconn), kaddr
        return None

    def _wait_accept(self, listener: _Listening, remaining: float | None) -> None:
        st = listener.stack
        fds = [listener.twin.fileno()] if listener.twin is not None else []
        # Wake now and then to notice close() from another thread (which, in single-thread
        # mode, also needs the stack lock that poll() holds).
        limit = 0.5 if remaining is None else min(remaining, 0.5)
        if st.mode is Mode.SINGLE:
            with st.lock:
                st.poll(limit, extra_fds=fds)
            return
        with st.lock:
            fds.append(listener.waiter.fileno())
        select.select(fds, [], [], limit)

    # -- connecting -------------------------------------------------------------------------

    def connect(self, address: Address) -> None:
        """Connect (TCP: handshake, honouring the timeout; UDP: fix the peer)."""
        code = self._connect(address, raise_errors=True)
        if code:
            raise _oserror(code)  # EINPROGRESS/EALREADY: BlockingIOError, by errno

    def connect_ex(self, address: Address) -> int:
        """Like connect, but return an errno (0 on success) instead of raising OSError."""
        try:
            return self._connect(address, raise_errors=False)
        except TimeoutError as exc:
            return exc.errno or errno.EAGAIN
        except OSError as exc:
            if isinstance(exc, gaierror) or exc.errno is None:
                raise
            return exc.errno

    def _connect(self, address: Address, *, raise_errors: bool) -> int:
        self._check()
        if self._kernel is not None:
            if raise_errors:
                self._kernel.connect(address)
                return 0
            return self._kernel.connect_ex(address)
        if self._type == SOCK_DGRAM:
            return self._connect_udp(address)
        if self._listener is not None:
            raise _oserror(errno.EISCONN)
        if self._stream is not None:
            return self._finish_connect()
        host, port = _inet_address(address, self._stack, for_bind=False)
        ip = _ip_int(host)
        st = self._stack
        own = False
        if not _is_loopback(host) and ip != 0:
            st = self._need_stack()
            own = st.iface.is_local(ip)
        if _is_loopback(host) or ip == 0 or own:
            # Linux sends a connect to 0.0.0.0 to the loopback, and we reach our own
            # address through the kernel's 127.0.0.1, where every usnet listener listens.
            target = (host if _is_loopback(host) else "127.0.0.1", port)
            kernel = self._become_kernel()
            code = kernel.connect_ex(target)
            self._attached()
            if code in (0, errno.EINPROGRESS) or not raise_errors:
                return code
            raise _oserror(code)  # OSError picks the subclass (ConnectionRefusedError...)
        assert st is not None
        if port == 0:
            raise _oserror(errno.ECONNREFUSED, ConnectionRefusedError)
        local = None
        if self._bound is not None:
            local = (_ip_int(self._bound[0]), self._bound[1])
            self._release_twin()
        remote = (ip, port)
        core = st.run(lambda: st.iface.tcp.connect(remote, time.monotonic(), local=local))
        self._set_stream(st, core)
        self._connecting, self._connect_reported = True, False
        self._attached()
        if self._timeout == 0:
            # As the kernel does for a remote peer: the handshake goes on in the background.
            self._connect_reported = True
            return errno.EINPROGRESS
        return self._finish_connect()

    def _finish_connect(self) -> int:
        stream = self._stream
        assert stream is not None
        if not self._connecting:
            raise _oserror(errno.EISCONN)
        core, st = self._core, self._need_stack()
        assert core is not None

        def established() -> None:
            err = core.take_error()
            if err is not None:
                raise err
            if core.connected:
                return
            if core.closed:
                raise _oserror(errno.ECONNABORTED, ConnectionAbortedError)
            raise WouldBlock()

        self._drive()
        try:
            st.call(self._waiter, established, self._timeout)
        except WouldBlock:
            code = errno.EALREADY if self._connect_reported else errno.EINPROGRESS
            self._connect_reported = True
            return code
        except BaseException:
            self._connecting = False
            self._drop_stream(abort=True)
            raise
        self._connecting = False
        return 0

    def _drop_stream(self, *, abort: bool) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        core, st = self._core, self._stack
        self._core = self._waiter = None
        if abort and core is not None and st is not None and not st.closed:
            st.run(core.abort)
        stream.close()

    def _connect_udp(self, address: Address) -> int:
        host, port = _inet_address(address, self._stack, for_bind=False)
        if _is_loopback(host) and self._udp is None:
            self._become_kernel().connect((host, port))
            self._attached()
            return 0
        udp = self._need_udp()
        udp.connect((host, port))
        return 0

    def _need_udp(self) -> UdpSocket:
        if self._udp is None:
            self._udp = UdpSocket.bind(("0.0.0.0", 0), stack=self._need_stack())
            self._apply_timeout()
            self._attached()
        return self._udp

    # -- data -------------------------------------------------------------------------------

    def _need_stream(self, *, sending: bool = False) -> TcpStream:
        self._check()
        stream = self._stream
        if stream is None:
            # Linux: sending on a never-connected TCP socket is EPIPE, receiving ENOTCONN.
            raise _oserror(errno.EPIPE, BrokenPipeError) if sending else _oserror(errno.ENOTCONN)
        # Still connecting: block (or not) as a connect would; once the handshake is over,
        # data calls see its outcome even before connect is called again.
        core = self._core
        connecting = self._connecting and core is not None and core.state is State.SYN_SENT
        if connecting and (self._timeout == 0 or self._finish_connect()):
            raise _oserror(errno.EAGAIN, BlockingIOError)
        return stream

    @staticmethod
    def _check_flags(flags: int, allowed: int) -> None:
        if flags & ~allowed:
            raise _oserror(errno.EOPNOTSUPP)

    def _with_flags(self, flags: int, op: Callable[[], T]) -> T:
        """Run op, non-blocking for this one call when MSG_DONTWAIT is given."""
        if not flags & MSG_DONTWAIT or self._timeout == 0:
            return op()
        saved = self._timeout
        self._timeout = 0.0
        self._apply_timeout()
        try:
            self._drive()
            return op()
        finally:
            self._timeout = saved
            self._apply_timeout()

    def send(self, data: Buffer, flags: int = 0) -> int:
        """Send some of data; return how many bytes were taken."""
        self._check()
        if self._kernel is not None:
            return self._kernel.send(data, flags)
        self._check_flags(flags, MSG_DONTWAIT | MSG_NOSIGNAL)
        if self._type == SOCK_DGRAM:
            udp = self._udp
            if udp is None or not _connected_udp(udp):
                raise _oserror(errno.EDESTADDRREQ)
            return self._with_flags(flags, lambda: udp.send(data))
        stream = self._need_stream(sending=True)
        self._drive()
        return self._with_flags(flags, lambda: stream.write(data))

    def sendall(self, data: Buffer, flags: int = 0) -> None:
        """Send all of data; the timeout bounds the whole call, as in the standard module."""
        self._check()
        if self._kernel is not None:
            self._kernel.sendall(data, flags)
            return
        if self._type == SOCK_DGRAM:
            self.send(data, flags)
            return
        self._check_flags(flags, MSG_NOSIGNAL)
        stream = self._need_stream(sending=True)
        view = memoryview(data).cast("B")
        t = self._timeout
        if not t:
            self._drive()
            while view:
                view = view[stream.write(view) :]
            return
        deadline = time.monotonic() + t
        try:
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("timed out")
                stream.set_write_timeout(remaining)
                view = view[stream.write(view) :]
        finally:
            stream.set_write_timeout(t)

    @overload
    def sendto(self, data: Buffer, address: Address, /) -> int: ...
    @overload
    def sendto(self, data: Buffer, flags: int, address: Address, /) -> int: ...
    def sendto(self, data: Buffer, flags_or_address: Any, address: Any = None, /) -> int:
        """Send a datagram to address (UDP); binds an ephemeral port first if needed."""
        flags = 0
        if address is None:
            address = flags_or_address
        else:
            flags = int(flags_or_address)
        self._check()
        if self._kernel is not None:
            return self._kernel.sendto(data, flags, address)
        if self._type != SOCK_DGRAM:
            if self._stream is None:
                raise _oserror(errno.EPIPE, BrokenPipeError)
            raise _oserror(errno.EISCONN)
        self._check_flags(flags, MSG_DONTWAIT | MSG_NOSIGNAL)
        host, port = _inet_address(address, self._stack, for_bind=False)
        if _is_loopback(host) and self._udp is None:
            kernel = self._become_kernel()
            self._attached()
            return kernel.sendto(data, flags, (host, port))
        udp = self._need_udp()
        self._drive()
        return self._with_flags(flags, lambda: udp.send_to(data, (host, port)))

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Receive up to bufsize bytes (b"" at end of stream)."""
        self._check()
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        if self._kernel is not None:
            return self._kernel.recv(bufsize, flags)
        self._check_flags(flags, MSG_DONTWAIT | MSG_PEEK)
        if self._type == SOCK_DGRAM:
            return self._recv_udp(bufsize, flags)[0]
        stream = self._need_stream()
        self._drive()
        if flags & MSG_PEEK:
            return self._with_flags(flags, lambda: stream.peek(bufsize))
        return self._with_flags(flags, lambda: stream.read(bufsize))

    def recv_into(self, buffer: bytearray | memoryview, nbytes: int = 0, flags: int = 0) -> int:
        """Receive into buffer (at most nbytes, 0 meaning all of it); return the count."""
        self._check()
        view = _target(buffer, nbytes, "recv_into")
        if self._kernel is not None:
            return self._kernel.recv_into(view, len(view), flags)
        self._check_flags(flags, MSG_DONTWAIT | MSG_PEEK)
        if self._type == SOCK_DGRAM:
            return self._recvfrom_into_udp(view, flags)[0]
        stream = self._need_stream()
        self._drive()
        if flags & MSG_PEEK:
            data = self._with_flags(flags, lambda: stream.peek(len(view)))
            view[: len(data)] = data
            return len(data)
        return self._with_flags(flags, lambda: stream.read_into(view))

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Address | None]:
        """Receive a datagram and its source (TCP: the data and None)."""
        self._check()
        if bufsize < 0:
            raise ValueError("negative buffersize in recvfrom")
        if self._kernel is not None:
            return self._kernel.recvfrom(bufsize, flags)
        if self._type == SOCK_DGRAM:
            self._check_flags(flags, MSG_DONTWAIT | MSG_PEEK)
            return self._recv_udp(bufsize, flags)
        return self.recv(bufsize, flags), None

    def recvfrom_into(
        self, buffer: bytearray | memoryview, nbytes: int = 0, flags: int = 0
    ) -> tuple[int, Address | None]:
        """Receive a datagram into buffer; return (count, source) (TCP: source None)."""
        self._check()
        view = _target(buffer, nbytes, "recvfrom_into")
        if self._kernel is not None:
            return self._kernel.recvfrom_into(view, len(view), flags)
        if self._type == SOCK_DGRAM:
            self._check_flags(flags, MSG_DONTWAIT | MSG_PEEK)
            return self._recvfrom_into_udp(view, flags)
        return self.recv_into(view, 0, flags), None

    def _recv_udp(self, bufsize: int, flags: int) -> tuple[bytes, Address]:
        udp = self._need_udp()
        self._drive()
        if flags & MSG_PEEK:
            return self._with_flags(flags, lambda: udp.peek_from(bufsize))
        return self._with_flags(flags, lambda: udp.recv_from(bufsize))

    def _recvfrom_into_udp(self, view: memoryview, flags: int) -> tuple[int, Address]:
        if flags & MSG_PEEK:
            data, addr = self._recv_udp(len(view), flags)
            view[: len(data)] = data
            return len(data), addr
        udp = self._need_udp()
        self._drive()
        return self._with_flags(flags, lambda: udp.recv_from_into(view))

    def sendfile(self, file: IO[bytes], offset: int = 0, count: int | None = None) -> int:
        """Send a file's bytes (read and sendall; there is no kernel zero-copy here)."""
        if self._kernel is not None:
            return self._kernel.sendfile(file, offset, count)
        if offset:
            file.seek(offset)
        total = 0
        while count is None or total < count:
            want = 65536 if count is None else min(65536, count - total)
            chunk = file.read(want)
            if not chunk:
                break
            self.sendall(chunk)
            total += len(chunk)
        if total:
            file.seek(offset + total)
        return total

    # -- files --------------------------------------------------------------------------------

    def makefile(
        self,
        mode: str = "r",
        buffering: int | None = None,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> Any:
        """A file object over the socket, exactly as the standard makefile() builds it."""
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
        writing = "w" in mode
        reading = "r" in mode or not writing
        binary = "b" in mode
        rawmode = ("r" if reading else "") + ("w" if writing else "")
        # SocketIO needs only recv_into, send, fileno and _decref_socketios.
        raw = _std.SocketIO(self, rawmode)  # type: ignore[arg-type]
        self._io_refs += 1
        if buffering is None:
            buffering = -1
        if buffering < 0:
            buffering = io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if not binary:
                raise ValueError("unbuffered streams must be binary")
            return raw
        buffer: io.BufferedIOBase
        if reading and writing:
            buffer = io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffer = io.BufferedReader(raw, buffering)
        else:
            buffer = io.BufferedWriter(raw, buffering)
        if binary:
            return buffer
        text = io.TextIOWrapper(cast(Any, buffer), io.text_encoding(encoding), errors, newline)
        text.mode = mode  # type: ignore[misc]
        return text

    def _decref_socketios(self) -> None:
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed and self._io_refs <= 0:
            self._real_close()

    # -- addresses and options ----------------------------------------------------------------

    def getsockname(self) -> Address:
        """The local (host, port); ("0.0.0.0", 0) before binding."""
        self._check()
        if self._kernel is not None:
            return cast(Address, self._kernel.getsockname())
        if self._stream is not None:
            return self._stream.local_addr()
        if self._listener is not None:
            return from_endpoint(self._listener.core.local)
        if self._udp is not None:
            return self._udp.local_addr()
        return self._bound or ("0.0.0.0", 0)

    def getpeername(self) -> Address:
        """The remote (host, port); OSError(ENOTCONN) when not connected."""
        self._check()
        if self._kernel is not None:
            return cast(Address, self._kernel.getpeername())
        if self._stream is not None and self._core is not None and self._core.connected:
            return self._stream.peer_addr()
        if self._udp is not None:
            return self._udp.peer_addr()
        raise _oserror(errno.ENOTCONN)

    def setsockopt(self, level: int, optname: int, value: int | bytes | None, *_: int) -> None:
        """Set SO_REUSEADDR, TCP_NODELAY, SO_KEEPALIVE, SO_RCVBUF, SO_SNDBUF, IP_TTL, ..."""
        self._check()
        if self._kernel is not None:
            if value is None:
                raise TypeError("setsockopt with optlen needs a kernel-specific call")
            self._kernel.setsockopt(level, optname, value)
            return
        if isinstance(value, (bytes, bytearray)):
            value = struct.unpack("i", bytes(value)[:4].ljust(4, b"\0"))[0]
        if value is None:
            raise TypeError("an integer value is required")
        key = (level, optname)
        if key not in _SETTABLE:
            raise _oserror(errno.ENOPROTOOPT)
        value = int(value)
        if key == (IPPROTO_IP, IP_TTL) and not 1 <= value <= 255 and value != -1:
            raise _oserror(errno.EINVAL)
        self._opts[key] = value
        if key == (IPPROTO_IP, IP_TTL) and value == -1:
            self._opts[key] = value = 64
        if self._stream is not None:
            if key == (IPPROTO_TCP, TCP_NODELAY):
                self._stream.set_nodelay(bool(value))
            elif key == (IPPROTO_IP, IP_TTL):
                self._stream.set_ttl(value)
            elif key in ((SOL_SOCKET, SO_KEEPALIVE), (IPPROTO_TCP, TCP_KEEPIDLE)):
                self._set_keepalive(bool(self._opts.get((SOL_SOCKET, SO_KEEPALIVE))))
        elif self._udp is not None:
            if key == (IPPROTO_IP, IP_TTL):
                self._udp.set_ttl(value)
            elif key == (SOL_SOCKET, SO_BROADCAST):
                self._udp.set_broadcast(bool(value))

    def getsockopt(self, level: int, optname: int, buflen: int | None = None) -> Any:
        """Read an option (SO_ERROR reads and clears the pending error)."""
        self._check()
        if self._kernel is not None:
            if buflen is None:
                return self._kernel.getsockopt(level, optname)
            return self._kernel.getsockopt(level, optname, buflen)
        value = self._getsockopt(level, optname)
        if buflen is None:
            return value
        return struct.pack("i", value)[:buflen]

    def _getsockopt(self, level: int, optname: int) -> int:
        key = (level, optname)
        if key == (SOL_SOCKET, SO_ERROR):
            return self._take_error()
        if key == (SOL_SOCKET, SO_TYPE):
            return int(self._type)
        if key == (IPPROTO_IP, IP_TTL):
            if self._stream is not None:
                return self._stream.ttl()
            if self._udp is not None:
                return self._udp.ttl()
            return self._opts.get(key, 64)
        if key == (IPPROTO_TCP, TCP_NODELAY) and self._stream is not None:
            return int(self._stream.nodelay())
        if key in ((SOL_SOCKET, SO_RCVBUF), (SOL_SOCKET, SO_SNDBUF)) and key not in self._opts:
            core = self._core
            if core is not None:
                rcv = key[1] == SO_RCVBUF
                return int(core.recv_buffer_size if rcv else core.send_buffer_size)
            from usnet_backends.config import EnvSettings  # noqa: PLC0415

            return EnvSettings.from_env().socket_buffer
        if key not in _SETTABLE:
            raise _oserror(errno.ENOPROTOOPT)
        return self._opts.get(key, 0)

    def _take_error(self) -> int:
        err: OSError | None = None
        if self._stream is not None:
            core = self._core
            st = self._stack
            if core is not None and st is not None:
                self._drive()
                err = st.run(core.take_error)
        elif self._udp is not None:
            err = self._udp.take_error()
        return (err.errno or 0) if err is not None else 0

    # -- shutting down ----------------------------------------------------------------------

    def shutdown(self, how: int) -> None:
        """Shut down reading (SHUT_RD), writing (SHUT_WR) or both (SHUT_RDWR)."""
        self._check()
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise _oserror(errno.EINVAL)
        if self._kernel is not None:
            self._kernel.shutdown(how)
            return
        if self._listener is not None:
            if how != SHUT_WR:
                self._listen_shut = True  # accept() now fails with EINVAL, as on Linux
            return
        core = self._core
        if self._stream is None or core is None or core.state is State.SYN_SENT:
            raise _oserror(errno.ENOTCONN)
        self._stream.shutdown(how)

    def close(self) -> None:
        """Close the socket (its makefile() objects keep it open until they close)."""
        self._closed = True
        if self._io_refs <= 0:
            self._real_close()

    def _real_close(self) -> None:
        with self._lock:
            self._dead = True
            things: list[Any] = [
                self._stream,
                self._listener,
                self._udp,
                self._kernel,
                self._twin,
            ]
            self._stream = self._listener = self._udp = None
            self._kernel = self._twin = None
            self._core = self._waiter = None
            alias, self._fd_alias = self._fd_alias, None
        for thing in things:
            if thing is not None:
                # Closing never fails, also when the stack went away first.
                with contextlib.suppress(StackClosedError):
                    thing.close()
        if alias is not None:
            os.close(alias)

    def detach(self) -> int:
        """Not supported: a usnet socket has no kernel descriptor to hand over."""
        if self._kernel is not None:
            fd = self._kernel.detach()
            self._closed = True
            self._real_close()
            return fd
        raise OSError(
            errno.EOPNOTSUPP,
            "detach() is not supported on usnet sockets: there is no kernel socket descriptor",
        )

    def dup(self) -> socket:
        """A duplicate for kernel-side (loopback) sockets; EOPNOTSUPP for usnet ones."""
        self._check()
        if self._kernel is not None:
            return self._wrap(self._stack, self._proto, self._opts, kernel=self._kernel.dup())
        raise OSError(errno.EOPNOTSUPP, "dup() is not supported on usnet sockets")

    def fileno(self) -> int:
        """A real descriptor mirroring readiness for select/poll/epoll (-1 once closed)."""
        if self._dead:
            return -1
        if self._fd_alias is not None:
            return self._fd_alias
        real = self._real_fileno()
        if real is not None:
            return real
        # Not bound or connected yet: a placeholder (writable, not readable) whose number
        # stays this socket's; the real descriptor is dup2'ed onto it later.
        self._fd_alias = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        return self._fd_alias

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: builtins.type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __getstate__(self) -> Any:
        raise TypeError(f"cannot pickle {type(self).__name__!r} object")


SocketType = socket


class _Listening:
    """A listening facade socket's parts: the core listener, its waiter, the kernel twin."""

    __slots__ = ("core", "epoll", "stack", "twin", "waiter")

    def __init__(self, stack: Stack, core: CoreListener, twin: _std.socket | None) -> None:
        self.stack, self.core, self.twin = stack, core, twin
        self.waiter = stack.register(core, listening=True)
        self.epoll: select.epoll | None = None

    def fileno(self) -> int:
        """Readable when either side (usnet or the kernel twin) has a connection waiting.

        An epoll fd is readable exactly when one of its registered fds is, and a listener
        is never writable, which is all an epoll fd can say.
        """
        if self.epoll is None:
            ep = select.epoll()
            with self.stack.lock:
                ep.register(self.waiter.fileno(), select.EPOLLIN)
            if self.twin is not None:
                ep.register(self.twin.fileno(), select.EPOLLIN)
            self.epoll = ep
        return self.epoll.fileno()

    def close(self) -> None:
        """Stop listening on both sides (pending usnet connections are reset)."""
        st, core = self.stack, self.core
        if not st.closed:
            st.unregister(core)
            st.run(core.close)
        if self.twin is not None:
            with contextlib.suppress(OSError):
                self.twin.shutdown(SHUT_RDWR)
            self.twin.close()
        if self.epoll is not None:
            self.epoll.close()


def _connected_udp(udp: UdpSocket) -> bool:
    try:
        udp.peer_addr()
    except OSError:
        return False
    return True


_SETTABLE = frozenset(
    {
        (SOL_SOCKET, SO_REUSEADDR),
        (SOL_SOCKET, SO_REUSEPORT),
        (SOL_SOCKET, SO_KEEPALIVE),
        (SOL_SOCKET, SO_RCVBUF),
        (SOL_SOCKET, SO_SNDBUF),
        (SOL_SOCKET, SO_BROADCAST),
        (SOL_SOCKET, SO_LINGER),
        (IPPROTO_TCP, TCP_NODELAY),
        (IPPROTO_TCP, TCP_KEEPIDLE),
        (IPPROTO_TCP, TCP_KEEPINTVL),
        (IPPROTO_TCP, TCP_KEEPCNT),
        (IPPROTO_IP, IP_TTL),
        (IPPROTO_IP, IP_TOS),
    }
)


def _usnet_takes(
    family: int, kind: int, proto: int, fileno: int | None, stack: Stack | None
) -> bool:
    if fileno is not None:
        return False  # an existing descriptor is a kernel socket
    if family not in (-1, AF_INET):
        return False
    base = (SOCK_STREAM if kind == -1 else kind) & ~_TYPE_FLAGS
    allowed: dict[int, tuple[int, ...]] = {
        SOCK_STREAM: (-1, 0, IPPROTO_TCP),
        SOCK_DGRAM: (-1, 0, IPPROTO_UDP),
    }
    if proto not in allowed.get(base, ()):
        return False
    return stack is not None or not _host_mode()


def _target(buffer: bytearray | memoryview, nbytes: int, name: str) -> memoryview:
    view = memoryview(buffer).cast("B")
    if nbytes < 0:
        raise ValueError(f"negative buffersize in {name}")
    if nbytes > len(view):
        raise ValueError(f"buffer too small for requested bytes")  # noqa: F541
    return view[:nbytes] if nbytes else view


# --- module functions ------------------------------------------------------------------------


def create_connection(
    address: tuple[str, int],
    timeout: float | object | None = _GLOBAL_DEFAULT_TIMEOUT,
    source_address: tuple[str, int] | None = None,
    *,
    all_errors: bool = False,
) -> socket:
    """Connect to (host, port) over usnet (names via usnet_sync.resolve), as the standard."""
    if _host_mode():
        std_timeout = cast(float | None, timeout)  # the sentinel passes through unchanged
        return cast(
            socket,
            _std_create_connection(address, std_timeout, source_address, all_errors=all_errors),
        )
    host, port = address
    exceptions: list[Exception] = []
    for family, kind, proto, _canon, addr in getaddrinfo(host, port, 0, SOCK_STREAM):
        sock = None
        try:
            sock = socket(family, kind, proto)
            if timeout is not _GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(cast(float | None, timeout))
            if source_address:
                sock.bind(source_address)
            sock.connect(addr)
            exceptions.clear()
            return sock
        except OSError as exc:
            if not all_errors:
                exceptions.clear()
            exceptions.append(exc)
            if sock is not None:
                sock.close()
    if exceptions:
        try:
            if not all_errors:
                raise exceptions[0]
            raise ExceptionGroup("create_connection failed", exceptions)
        finally:
            exceptions.clear()
    raise OSError("getaddrinfo returns an empty list")


def create_server(
    address: tuple[str, int],
    *,
    family: int = AF_INET,
    backlog: int | None = None,
    reuse_port: bool = False,
    dualstack_ipv6: bool = False,
) -> socket:
    """A listening TCP socket on usnet (AF_INET6 and host mode: the standard one)."""
    if family != AF_INET or _host_mode():
        return cast(
            socket,
            _std_create_server(
                address,
                family=family,
                backlog=backlog,
                reuse_port=reuse_port,
                dualstack_ipv6=dualstack_ipv6,
            ),
        )
    if dualstack_ipv6:
        raise ValueError("dualstack_ipv6 requires AF_INET6 family")
    sock = socket(AF_INET, SOCK_STREAM)
    try:
        sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)
        try:
            sock.bind(address)
        except OSError as err:
            msg = f"{err.strerror} (while attempting to bind on address {address!r})"
            raise OSError(err.errno, msg) from None
        if backlog is None:
            sock.listen()
        else:
            sock.listen(backlog)
        return sock
    except BaseException:
        sock.close()
        raise


_KINDS: tuple[tuple[int, int], ...] = (
    (SOCK_STREAM, IPPROTO_TCP),
    (SOCK_DGRAM, IPPROTO_UDP),
    (SOCK_RAW, 0),
)


def _port_number(port: object, flags: int, kind: int) -> int:
    if port is None:
        return 0
    if isinstance(port, int) and not isinstance(port, bool):
        return port
    if isinstance(port, (bytes, bytearray)):
        port = bytes(port).decode()
    if not isinstance(port, str):
        raise OSError("Int or String expected")
    if port.isdigit():
        return int(port)
    if flags & _std.AI_NUMERICSERV:
        raise gaierror(EAI_NONAME, "Name or service not known")
    try:
        return _std.getservbyname(port, "udp" if kind == SOCK_DGRAM else "tcp")
    except OSError:
        raise gaierror(EAI_SERVICE, "Servname not supported for ai_socktype") from None


def getaddrinfo(
    host: str | bytes | None,
    port: str | bytes | int | None,
    family: int = 0,
    type: int = 0,
    proto: int = 0,
    flags: int = 0,
) -> list[AddrInfo]:
    """AF_INET addresses for (host, port), resolved in the stack (never by the kernel).

    None as host is 0.0.0.0 with AI_PASSIVE and 127.0.0.1 without; IPv6 literals are
    answered as the standard function does (no lookup), IPv6 for names is not offered.
    """
    if _host_mode():
        return cast(list[AddrInfo], _std_getaddrinfo(host, port, family, type, proto, flags))
    name = None if host is None else _host_text(host)
    if name is not None and ":" in name and family in (AF_UNSPEC, AF_INET6):
        # An IPv6 literal: no lookup involved; its sockets are the kernel's anyway.
        numeric = flags | AI_NUMERICHOST
        return cast(list[AddrInfo], _std_getaddrinfo(name, port, family, type, proto, numeric))
    if family not in (AF_UNSPEC, AF_INET):
        raise gaierror(_std.EAI_FAMILY, "ai_family not supported")
    kinds = [(k, p) for k, p in _KINDS if (not type or type == k) and (not proto or proto == p)]
    if type and not kinds:
        kinds = [(type, proto)]
    if not kinds:
        raise gaierror(EAI_SERVICE, "Servname not supported for ai_socktype")
    if name is None:
        addresses = ["0.0.0.0" if flags & AI_PASSIVE else "127.0.0.1"]
    elif flags & AI_NUMERICHOST:
        literal = _ipv4_literal(name)
        if literal is None:
            raise gaierror(EAI_NONAME, "Name or service not known")
        addresses = [literal]
    else:
        addresses = _resolve_ipv4(name)
    canon = name if flags & AI_CANONNAME and name is not None else ""
    out: list[AddrInfo] = []
    for address in addresses:
        for kind, kproto in kinds:
            number = _port_number(port, flags, kind)
            out.append((AddressFamily.AF_INET, SocketKind(kind), kproto, canon, (address, number)))
            canon = ""
    return out


def gethostbyname(hostname: str) -> str:
    """The first IPv4 address of hostname, resolved in the stack."""
    if _host_mode():
        return _std_gethostbyname(hostname)
    if hostname == "":
        return "0.0.0.0"
    return _resolve_ipv4(_host_text(hostname))[0]


def getfqdn(name: str = "") -> str:
    """The name itself (or the host name for ""/0.0.0.0): no kernel reverse lookup."""
    if _host_mode():
        return _std_getfqdn(name)
    name = name.strip()
    if not name or name in ("0.0.0.0", "::"):
        return _std.gethostname()
    return name


def fromfd(fd: int, family: int, type: int, proto: int = 0) -> _std.socket:
    """A kernel socket on a duplicate of fd (an existing descriptor is always the kernel's)."""
    return KernelSocket(family, type, proto, os.dup(fd))


def refuse_tls(sock: object) -> None:
    """Raise OSError(EOPNOTSUPP) with a clear message when `sock` is a usnet socket."""
    if builtins.type.__instancecheck__(socket, sock):  # usnet's own, not a kernel socket
        usnet = cast(socket, sock)
        if usnet._kernel is None or usnet._fd_alias is not None:
            raise OSError(errno.EOPNOTSUPP, _NOT_SUPPORTED_TLS)


class _CallableModule(types.ModuleType):
    """This module, callable: `usnet_sync.socket(AF_INET, SOCK_STREAM)` makes a socket.

    Issue and DESIGN name both `from usnet_sync import socket` next to create_connection (the
    class, as in `from socket import socket`) and the module of the socket names; a callable
    module serves both: `usnet_sync.socket(...)` and `usnet_sync.socket.create_connection`.
    For isinstance checks use `usnet_sync.socket.socket`.
    """

    def __call__(
        self,
        family: int = -1,
        type: int = -1,
        proto: int = -1,
        fileno: int | None = None,
        *,
        stack: Stack | None = None,
    ) -> socket:
        return socket(family, type, proto, fileno, stack=stack)


sys.modules[__name__].__class__ = _CallableModule
