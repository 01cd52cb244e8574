"""usnet_sync.socket behaves like the standard socket module.

Every API test runs three ways: multi-thread and single-thread mode over two in-memory
stacks (server on B, client on the default stack A), and host mode (USNET_MODE=host: the
facade hands back kernel sockets on 127.0.0.1), which shows the expected behaviour is the
kernel's.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import selectors
import socket as std
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import usnet_sync.socket as us
from sync_env import A_IP, B_IP, driven, stack_pair
from usnet_sync.default import set_default_stack
from usnet_sync.stack import Mode, Stack

MODES = ["multi", "single", "host"]


class Env:
    """Where the server lives and how sockets for each side are made, per mode."""

    def __init__(self, mode: str, a: Stack | None, b: Stack | None) -> None:
        self.mode = mode
        self.a, self.b = a, b
        self.server_ip = "127.0.0.1" if mode == "host" else B_IP
        self.client_ip = "127.0.0.1" if mode == "host" else A_IP

    @property
    def host(self) -> bool:
        return self.mode == "host"

    def server_socket(self, kind: int = std.SOCK_STREAM) -> us.socket:
        """A server-side socket (stack B; kernel in host mode)."""
        if self.host:
            return us.socket(std.AF_INET, kind)
        return us.socket(std.AF_INET, kind, stack=self.b)

    def client_socket(self, kind: int = std.SOCK_STREAM) -> us.socket:
        """A client-side socket on the default stack (A)."""
        return us.socket(std.AF_INET, kind)

    @contextmanager
    def on_server_stack(self) -> Iterator[None]:
        """Make B the default for the block (for helpers without a stack= argument)."""
        if self.host:
            yield
            return
        previous = set_default_stack(self.b)
        try:
            yield
        finally:
            set_default_stack(previous)

    def listener(self, backlog: int | None = None) -> tuple[us.socket, tuple[str, int]]:
        """A listening server socket and the address clients use."""
        with self.on_server_stack():
            srv = us.create_server((self.server_ip, 0), backlog=backlog)
        srv.settimeout(10)  # a failing test must not hang in accept()
        return srv, (self.server_ip, srv.getsockname()[1])


@pytest.fixture(params=MODES)
def env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """The facade's world for one mode; the default stack is restored afterwards."""
    mode = request.param
    if mode == "host":
        monkeypatch.setenv("USNET_MODE", "host")
        yield Env(mode, None, None)
        return
    monkeypatch.setenv("USNET_MODE", mode)
    with stack_pair(Mode(mode)) as (a, b):
        previous = set_default_stack(a)
        try:
            with driven(b) if mode == "single" else contextlib.nullcontext():
                yield Env(mode, a, b)
        finally:
            set_default_stack(previous)


def _in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    result: list[object] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def _echo_once(srv: us.socket) -> tuple[threading.Thread, list[object]]:
    srv.settimeout(10)

    def serve() -> bytes:
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(10)
            got = b""
            while data := conn.recv(65536):
                got += data
                conn.sendall(data)
            return got

    return _in_thread(serve)


# --- basics -------------------------------------------------------------------------------


def test_echo_addresses_and_eof(env: Env) -> None:
    srv, addr = env.listener()
    with srv:
        thread, result = _echo_once(srv)
        with us.create_connection(addr, timeout=10) as conn:
            assert conn.getpeername() == addr
            assert conn.getsockname()[0] == env.client_ip
            assert conn.family == std.AF_INET and conn.type == std.SOCK_STREAM
            blob = os.urandom(200_000)
            sender, _ = _in_thread(lambda: conn.sendall(blob))
            got = bytearray()
            while len(got) < len(blob):
                chunk = conn.recv(65536)
                assert chunk
                got += chunk
            sender.join(10)
            assert got == blob
            conn.shutdown(std.SHUT_WR)
            assert conn.recv(100) == b""  # the server saw EOF and closed
        thread.join(10)
        assert result == [blob]


def test_accept_returns_socket_and_peer(env: Env) -> None:
    srv, addr = env.listener()
    with srv:
        client = env.client_socket()
        client.settimeout(10)
        srv.settimeout(10)
        thread, result = _in_thread(srv.accept)
        client.connect(addr)
        thread.join(10)
        conn, peer = result[0]  # type: ignore[misc]
        with conn, client:
            assert peer == client.getsockname()
            assert conn.getpeername() == client.getsockname()
            assert conn.getsockname() == addr
            assert conn.gettimeout() is None  # not inherited from the listener
            conn.sendall(b"hi")
            assert client.recv(10) == b"hi"


def test_bind_then_connect_uses_bound_port(env: Env) -> None:
    srv, addr = env.listener()
    with srv, env.client_socket() as client:
        client.bind((env.client_ip, 0))
        local = client.getsockname()
        assert local[1] != 0
        client.settimeout(10)
        client.connect(addr)
        conn, peer = srv.accept()
        with conn:
            assert peer == local == client.getsockname()


def test_getsockname_before_bind_and_listen_autobinds(env: Env) -> None:
    with env.server_socket() as srv:
        assert srv.getsockname() == ("0.0.0.0", 0)
        srv.listen()
        assert srv.getsockname()[1] != 0
    with env.server_socket() as srv:
        srv.bind(("", 0))
        port = srv.getsockname()[1]
        assert port != 0
        srv.listen(5)
        assert srv.getsockname()[1] == port


def test_makefile_text_and_binary(env: Env) -> None:
    srv, addr = env.listener()
    with srv:
        srv.settimeout(10)

        def serve() -> str:
            conn, _ = srv.accept()
            with conn, conn.makefile("rw", encoding="utf-8", newline="\n") as f:
                line = f.readline()
                f.write("echo " + line)
                f.flush()
                return line

        thread, result = _in_thread(serve)
        with us.create_connection(addr, timeout=10) as conn:
            wfile = conn.makefile("wb", buffering=0)
            wfile.write("héllo\n".encode())
            rfile = conn.makefile("rb")
            conn.close()  # the files keep the connection open
            assert rfile.readline() == "echo héllo\n".encode()
            rfile.close()
            wfile.close()
        thread.join(10)
        assert result == ["héllo\n"]


def test_context_manager_and_closed_socket(env: Env) -> None:
    sock = env.client_socket()
    with sock:
        assert sock.fileno() >= 0
    assert sock.fileno() == -1
    sock.close()  # closing twice is fine
    for op in (lambda: sock.recv(1), lambda: sock.send(b"x"), sock.getsockname):
        with pytest.raises(OSError) as info:
            op()
        assert info.value.errno == errno.EBADF
    assert "closed" in repr(sock)


def test_unconnected_errors(env: Env) -> None:
    with env.client_socket() as sock:
        with pytest.raises(BrokenPipeError):
            sock.send(b"x")
        for op in (lambda: sock.recv(1), sock.getpeername, lambda: sock.shutdown(std.SHUT_RDWR)):
            with pytest.raises(OSError) as info:
                op()
            assert info.value.errno == errno.ENOTCONN
        assert sock.getsockname() == ("0.0.0.0", 0)
    with env.client_socket(std.SOCK_DGRAM) as udp, pytest.raises(OSError) as info:
        udp.send(b"x")
    assert info.value.errno == errno.EDESTADDRREQ


# --- timeouts and blocking ------------------------------------------------------------------


def test_timeouts_and_nonblocking(env: Env) -> None:
    srv, addr = env.listener()
    with srv, us.create_connection(addr, timeout=10) as client:
        conn, _ = srv.accept()
        with conn:
            assert client.gettimeout() == 10.0 and client.getblocking()
            client.settimeout(0.2)
            start = time.monotonic()
            with pytest.raises(TimeoutError) as timed:
                client.recv(10)
            assert str(timed.value) == "timed out"
            assert 0.15 < time.monotonic() - start < 2.0
            client.setblocking(False)
            assert client.gettimeout() == 0.0 and not client.getblocking()
            with pytest.raises(BlockingIOError) as info:
                client.recv(10)
            assert info.value.errno == errno.EAGAIN
            client.setblocking(True)
            assert client.gettimeout() is None
            with pytest.raises(ValueError):
                client.settimeout(-1)
            conn.sendall(b"peekaboo")
            assert client.recv(4, std.MSG_PEEK) == b"peek"
            assert client.recv(100) == b"peekaboo"
            with pytest.raises(BlockingIOError):
                client.recv(10, std.MSG_DONTWAIT)
            assert client.gettimeout() is None  # MSG_DONTWAIT is for that one call


def test_accept_timeout_and_nonblocking(env: Env) -> None:
    srv, _ = env.listener()
    with srv:
        srv.settimeout(0.2)
        with pytest.raises(TimeoutError):
            srv.accept()
        srv.setblocking(False)
        with pytest.raises(BlockingIOError):
            srv.accept()


def test_sendall_timeout_bounds_the_whole_call(env: Env) -> None:
    srv, addr = env.listener()
    with srv, us.create_connection(addr, timeout=10) as client:
        conn, _ = srv.accept()  # never reads: the buffers fill up
        with conn:
            client.settimeout(0.5)
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                client.sendall(bytes(48 * 2**20))
            assert time.monotonic() - start < 5.0


def test_nonblocking_socket_type_flag(env: Env) -> None:
    if env.host:
        sock = us.socket(std.AF_INET, std.SOCK_STREAM | std.SOCK_NONBLOCK)
    else:
        sock = us.socket(std.AF_INET, std.SOCK_STREAM | std.SOCK_NONBLOCK, stack=env.a)
    with sock:
        assert sock.type == std.SOCK_STREAM
        assert sock.gettimeout() == 0.0


def test_default_timeout_applies(env: Env) -> None:
    old = std.getdefaulttimeout()
    std.setdefaulttimeout(3.5)
    try:
        with env.client_socket() as sock:
            assert sock.gettimeout() == 3.5
    finally:
        std.setdefaulttimeout(old)


# --- connecting ---------------------------------------------------------------------------


def test_refused_connect(env: Env) -> None:
    port = 1  # nobody listens there (usnet: RST from B; host: the kernel's loopback)
    start = time.monotonic()
    with env.client_socket() as sock, pytest.raises(ConnectionRefusedError) as info:
        sock.connect((env.server_ip, port))
    assert info.value.errno == errno.ECONNREFUSED
    assert time.monotonic() - start < 2.0
    with env.client_socket() as sock:
        assert sock.connect_ex((env.server_ip, port)) == errno.ECONNREFUSED


def test_nonblocking_connect_in_background(env: Env) -> None:
    srv, addr = env.listener()
    with srv, env.client_socket() as sock:
        sock.setblocking(False)
        with pytest.raises(BlockingIOError) as info:
            sock.connect(addr)
        assert info.value.errno == errno.EINPROGRESS
        if env.mode == "single":
            while sock.connect_ex(addr) == errno.EALREADY:  # calls drive the stack
                time.sleep(0.01)
        else:
            _, writable, _ = select.select([], [sock], [], 10)
            assert writable == [sock]
            assert sock.getsockopt(std.SOL_SOCKET, std.SO_ERROR) == 0
            assert sock.connect_ex(addr) == 0  # the kernel's answer once it completed
        assert sock.connect_ex(addr) == errno.EISCONN
        assert sock.getpeername() == addr


def test_data_after_nonblocking_connect_without_second_connect(poll_env: Env) -> None:
    # asyncio's way: connect, wait for writability, read SO_ERROR, then just send.
    srv, addr = poll_env.listener()
    with srv, poll_env.client_socket() as sock:
        sock.setblocking(False)
        assert sock.connect_ex(addr) == errno.EINPROGRESS
        select.select([], [sock], [], 10)
        assert sock.getsockopt(std.SOL_SOCKET, std.SO_ERROR) == 0
        assert sock.getpeername() == addr
        assert sock.send(b"straight away") == 13
        srv.settimeout(10)
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(10)
            assert conn.recv(100) == b"straight away"


def test_nonblocking_connect_refused_reports_so_error(env: Env) -> None:
    with env.client_socket() as sock:
        sock.setblocking(False)
        assert sock.connect_ex((env.server_ip, 1)) == errno.EINPROGRESS
        deadline = time.monotonic() + 10
        if env.mode == "single":
            while sock.connect_ex((env.server_ip, 1)) == errno.EALREADY:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            return
        select.select([], [sock], [], 10)
        assert sock.getsockopt(std.SOL_SOCKET, std.SO_ERROR) == errno.ECONNREFUSED
        assert sock.connect_ex((env.server_ip, 1)) == errno.ECONNABORTED  # error consumed


def test_connect_timeout(env: Env) -> None:
    if env.host:
        pytest.skip("no unanswered address exists on the kernel's loopback")
    with env.client_socket() as sock:
        sock.settimeout(0.3)
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            sock.connect(("10.5.0.77", 80))  # nobody answers ARP
        assert 0.25 < time.monotonic() - start < 3.0
    with env.client_socket() as sock:
        sock.settimeout(0.3)
        assert sock.connect_ex(("10.5.0.77", 80)) == errno.EAGAIN  # as CPython reports it


# --- UDP ------------------------------------------------------------------------------------


def test_udp_roundtrip(env: Env) -> None:
    with env.server_socket(std.SOCK_DGRAM) as server, env.client_socket(std.SOCK_DGRAM) as client:
        server.bind((env.server_ip, 0))
        addr = server.getsockname()
        assert addr[1] != 0
        server.settimeout(10)
        client.settimeout(10)

        def serve() -> list[object]:
            # The server side runs on its own thread: in single-thread mode each stack is
            # driven by the thread that uses it.
            seen: list[object] = []
            data, source = server.recvfrom(100)
            seen += [data, source]
            server.sendto(b"pong", 0, source)
            seen += [server.recv(3, std.MSG_PEEK), server.recv(100)]
            view = bytearray(4)
            seen += [server.recv_into(view), bytes(view)]
            server.settimeout(0.2)
            try:
                server.recvfrom(10)
            except TimeoutError as exc:
                seen.append(str(exc))
            return seen

        thread, result = _in_thread(serve)
        assert client.sendto(b"ping", addr) == 4
        assert client.getsockname()[0] == "0.0.0.0"  # autobound to the wildcard, as Linux
        port = client.getsockname()[1]
        buf = bytearray(10)
        n, frm = client.recvfrom_into(buf)
        assert (buf[:n], frm) == (b"pong", addr)
        client.connect(addr)
        assert client.getpeername() == addr
        client.send(b"again")
        client.sendall(b"xyzw")
        thread.join(10)
        assert result == [
            [b"ping", (env.client_ip, port), b"aga", b"again", 4, b"xyzw", "timed out"]
        ]
        assert server.getsockopt(std.SOL_SOCKET, std.SO_TYPE) == std.SOCK_DGRAM


# --- options ----------------------------------------------------------------------------------


def test_socket_options(env: Env) -> None:
    srv, addr = env.listener()
    with srv, env.client_socket() as sock:
        assert srv.getsockopt(std.SOL_SOCKET, std.SO_REUSEADDR) == 1  # create_server sets it
        sock.setsockopt(std.IPPROTO_TCP, std.TCP_NODELAY, 1)
        sock.setsockopt(std.SOL_SOCKET, std.SO_KEEPALIVE, 1)
        sock.setsockopt(std.IPPROTO_IP, std.IP_TTL, 33)
        sock.setsockopt(std.SOL_SOCKET, std.SO_RCVBUF, 65536)
        sock.settimeout(10)
        sock.connect(addr)
        conn, _ = srv.accept()
        with conn:
            assert sock.getsockopt(std.IPPROTO_TCP, std.TCP_NODELAY) == 1
            assert sock.getsockopt(std.SOL_SOCKET, std.SO_KEEPALIVE) == 1
            assert sock.getsockopt(std.IPPROTO_IP, std.IP_TTL) == 33
            assert sock.getsockopt(std.SOL_SOCKET, std.SO_RCVBUF) >= 65536
            assert sock.getsockopt(std.SOL_SOCKET, std.SO_SNDBUF) > 0
            assert sock.getsockopt(std.SOL_SOCKET, std.SO_TYPE) == std.SOCK_STREAM
            assert sock.getsockopt(std.SOL_SOCKET, std.SO_ERROR) == 0
            assert len(sock.getsockopt(std.SOL_SOCKET, std.SO_TYPE, 4)) == 4
            sock.setsockopt(std.IPPROTO_TCP, std.TCP_NODELAY, 0)
            assert sock.getsockopt(std.IPPROTO_TCP, std.TCP_NODELAY) == 0


# --- what stays on the kernel -----------------------------------------------------------------


def test_other_families_are_kernel_sockets(env: Env) -> None:
    with us.socket(std.AF_UNIX, std.SOCK_STREAM) as unix:
        assert type(unix) is std.socket
        assert isinstance(unix, us.socket)  # isinstance checks keep working after patching
    with us.socket(std.AF_INET6, std.SOCK_STREAM) as six:
        assert type(six) is std.socket and six.family == std.AF_INET6
    a, b = us.socketpair()
    with a, b:
        assert type(a) is std.socket
        a.sendall(b"x")
        assert b.recv(1) == b"x"
        with us.fromfd(a.fileno(), std.AF_UNIX, std.SOCK_STREAM) as dup:
            assert type(dup) is std.socket
    with env.client_socket() as inet:
        assert (type(inet) is std.socket) == env.host


def test_unsupported_operations_are_clear(env: Env) -> None:
    srv, addr = env.listener()
    with srv, us.create_connection(addr, timeout=10) as conn:
        if env.host:
            assert conn.detach() >= 0
            return
        with pytest.raises(OSError, match="detach") as info:
            conn.detach()
        assert info.value.errno == errno.EOPNOTSUPP
        import ssl

        context = ssl.create_default_context()
        from usnet_sync.patch import patch_socket, unpatch_socket

        patch_socket()
        try:
            with pytest.raises(OSError, match="TLS is not supported over usnet"):
                context.wrap_socket(conn, server_hostname="example.com")  # type: ignore[arg-type]
        finally:
            unpatch_socket()


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("10.1.2.3", 80), {}),
        (("10.1.2.3", "80"), {"type": std.SOCK_STREAM}),
        (("10.1.2.3", "http"), {"type": std.SOCK_STREAM}),
        (("10.1.2.3", None), {"proto": std.IPPROTO_UDP}),
        ((None, 8080), {"family": std.AF_INET, "flags": std.AI_PASSIVE}),
        ((None, 8080), {"family": std.AF_INET}),
        (("10.1.2.3", 53), {"family": std.AF_INET, "type": std.SOCK_DGRAM}),
        (("127.0.0.1", 1), {"flags": std.AI_NUMERICHOST}),
        (("::1", 80), {"type": std.SOCK_STREAM}),
    ],
)
def test_getaddrinfo_numeric_matches_kernel(
    args: tuple[object, ...], kwargs: dict[str, int]
) -> None:
    expected = std.getaddrinfo(*args, **kwargs)  # type: ignore[arg-type]
    assert us.getaddrinfo(*args, **kwargs) == expected  # type: ignore[arg-type]


def test_getaddrinfo_errors_and_names() -> None:
    with pytest.raises(std.gaierror) as info:
        us.getaddrinfo("example.com", 80, flags=std.AI_NUMERICHOST)
    assert info.value.errno == std.EAI_NONAME
    with pytest.raises(std.gaierror):
        us.getaddrinfo("10.1.2.3", "no-such-service-xyz")
    with pytest.raises(std.gaierror) as fam:
        us.getaddrinfo("example.com", 80, std.AF_INET6)
    assert fam.value.errno == std.EAI_FAMILY
    assert us.gethostbyname("10.9.8.7") == "10.9.8.7"
    assert us.gethostbyname("localhost") == "127.0.0.1"  # /etc/hosts via usnet_sync.resolve
    [(family, kind, proto, canon, addr)] = us.getaddrinfo(
        "localhost", 80, type=std.SOCK_STREAM, flags=std.AI_CANONNAME
    )
    assert (family, kind, proto, canon, addr) == (
        std.AF_INET,
        std.SOCK_STREAM,
        std.IPPROTO_TCP,
        "localhost",
        ("127.0.0.1", 80),
    )


def test_host_mode_hands_back_kernel_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USNET_MODE", "host")
    with us.socket() as sock:
        assert type(sock) is std.socket
    with us.create_server(("127.0.0.1", 0)) as srv:
        assert type(srv) is std.socket


# --- readiness: select and selectors on fileno() ------------------------------------------------


def _ready(sock: us.socket) -> tuple[bool, bool]:
    r, w, _ = select.select([sock], [sock], [], 0)
    return bool(r), bool(w)


def _settle(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.005)
    return check()


@pytest.fixture(params=["multi", "host"])
def poll_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """Readiness needs something driving the stack between calls: multi mode (and host)."""
    if request.param == "host":
        monkeypatch.setenv("USNET_MODE", "host")
        yield Env("host", None, None)
        return
    monkeypatch.setenv("USNET_MODE", "multi")
    with stack_pair(Mode.MULTI) as (a, b):
        previous = set_default_stack(a)
        try:
            yield Env("multi", a, b)
        finally:
            set_default_stack(previous)


def test_readiness_mirrors_recv_send_and_accept(poll_env: Env) -> None:
    srv, addr = poll_env.listener()
    with srv:
        srv.setblocking(False)
        assert _ready(srv) == (False, False)  # nothing to accept; a listener is never writable
        client = us.create_connection(addr, timeout=10)
        assert _settle(lambda: _ready(srv)[0])
        conn, _ = srv.accept()
        assert _ready(srv) == (False, False)  # readable exactly while accept would not block
        with conn, client:
            conn.setblocking(False)
            assert _ready(conn) == (False, True)
            client.sendall(b"data")
            assert _settle(lambda: _ready(conn)[0])
            assert conn.recv(100) == b"data"
            assert _ready(conn) == (False, True)
            with pytest.raises(BlockingIOError):
                conn.recv(100)
            # Fill until send would block, also after the peer's receive window filled up
            # (ACKs keep freeing room until then): then the fd is not writable.
            filled, refusals = 0, 0
            while refusals < 5:
                try:
                    filled += conn.send(bytes(65536))
                    refusals = 0
                except BlockingIOError:
                    refusals += 1
                    time.sleep(0.05)
            assert not _ready(conn)[1]
            # The client drains; the server becomes writable again.
            client.settimeout(10)
            drained = 0
            while drained < filled:
                drained += len(client.recv(1 << 20))
            assert _settle(lambda: _ready(conn)[1])
            client.shutdown(std.SHUT_WR)
            assert _settle(lambda: _ready(conn)[0])  # EOF is readable
            assert conn.recv(10) == b""


def test_selectors_server_with_several_clients(poll_env: Env) -> None:
    srv, addr = poll_env.listener()
    sel = selectors.DefaultSelector()
    clients: list[us.socket] = []
    try:
        srv.setblocking(False)
        sel.register(srv, selectors.EVENT_READ, "listener")
        for i in range(6):
            c = us.create_connection(addr, timeout=10)
            c.sendall(b"hello %d\n" % i)
            clients.append(c)
        answered = 0
        idle_polls = 0
        deadline = time.monotonic() + 20
        while answered < len(clients) and time.monotonic() < deadline:
            events = sel.select(0.5)
            for key, _ in events:
                sock = key.fileobj
                assert isinstance(sock, us.socket)
                if key.data == "listener":
                    conn, _ = sock.accept()  # must not block: the selector said so
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, "conn")
                else:
                    data = sock.recv(100)  # must not raise BlockingIOError
                    if data:
                        sock.sendall(b"echo " + data)
                        answered += 1
                    else:
                        sel.unregister(sock)
                        sock.close()
            if not events:
                idle_polls += 1
        assert answered == len(clients)
        for i, c in enumerate(clients):
            assert c.recv(100) == b"echo hello %d\n" % i
    finally:
        for key in list(sel.get_map().values()):
            sel.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]
        sel.close()
        for c in clients:
            c.close()


def test_fileno_before_connect_stays_valid(poll_env: Env) -> None:
    srv, addr = poll_env.listener()
    with srv, poll_env.client_socket() as sock:
        fd = sock.fileno()
        assert fd >= 0
        sock.setblocking(False)
        sock.connect_ex(addr)
        assert sock.fileno() == fd
        _, writable, _ = select.select([], [fd], [], 10)
        assert writable == [fd]
        conn, _ = srv.accept() if poll_env.host else _accept_blocking(srv)
        with conn:
            conn.sendall(b"x")
            readable, _, _ = select.select([fd], [], [], 10)
            assert readable == [fd]


def _accept_blocking(srv: us.socket) -> tuple[us.socket, object]:
    srv.settimeout(10)
    return srv.accept()


def test_kernel_client_reaches_facade_listener_via_loopback() -> None:
    with stack_pair() as (_a, b):
        srv = us.socket(stack=b)
        srv.bind(("0.0.0.0", 0))
        srv.listen()
        port = srv.getsockname()[1]
        with srv, std.create_connection(("127.0.0.1", port), timeout=5) as kernel:
            srv.settimeout(5)
            readable, _, _ = select.select([srv], [], [], 5)  # the twin wakes the listener fd
            assert readable == [srv]
            conn, peer = srv.accept()
            with conn:
                assert peer[0] == "127.0.0.1"
                kernel.sendall(b"via the kernel")
                assert conn.recv(100) == b"via the kernel"


def test_usnet_sync_socket_is_callable_like_the_class() -> None:
    # DESIGN/issue: `from usnet_sync import socket` names the socket class beside
    # create_connection; the module stays importable with all its names.
    import socket as stdlib

    import usnet_sync
    from usnet_sync import socket as facade

    sock = usnet_sync.socket(stdlib.AF_UNIX, stdlib.SOCK_STREAM)  # other families: kernel
    assert isinstance(sock, stdlib.socket)
    sock.close()
    assert facade.create_connection is usnet_sync.create_connection
    assert isinstance(facade.socket, type)
