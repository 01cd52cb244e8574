"""patch_socket(): unported standard-library networking code runs on usnet.

The server side lives on in-memory stack B, the client side on stack A: facade sockets take
the default stack when they bind or connect, so the default is switched between the two.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import http.client
import http.server
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import usnet_sync.socket as us
from sync_env import B_IP, stack_pair
from usnet_sync.default import set_default_stack
from usnet_sync.patch import PATCHED_NAMES, is_patched, patch_socket, unpatch_socket
from usnet_sync.stack import Stack

ORIGINAL = {name: getattr(socket, name) for name in PATCHED_NAMES}


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The socket module patched for the test (multi-thread mode), always restored."""
    monkeypatch.setenv("USNET_MODE", "multi")
    patch_socket()
    try:
        yield
    finally:
        unpatch_socket()
    assert {name: getattr(socket, name) for name in PATCHED_NAMES} == ORIGINAL


@contextmanager
def default(stack: Stack) -> Iterator[None]:
    """`stack` is the default for the block."""
    previous = set_default_stack(stack)
    try:
        yield
    finally:
        set_default_stack(previous)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler without the request log, with HTTP/1.1 keep-alive."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server(http.server.ThreadingHTTPServer):
    """server_close() waits for the handler threads, so none outlives the stacks."""

    daemon_threads = False


def test_patch_is_idempotent_and_restores() -> None:
    assert not is_patched()
    patch_socket()
    try:
        patched_once = {name: getattr(socket, name) for name in PATCHED_NAMES}
        patch_socket()
        assert {name: getattr(socket, name) for name in PATCHED_NAMES} == patched_once
        assert socket.socket is us.socket
        assert socket.SocketType is us.socket
        assert socket.create_connection is us.create_connection
        assert socket.getaddrinfo is us.getaddrinfo
        assert is_patched()
    finally:
        unpatch_socket()
    unpatch_socket()  # a second unpatch is a no-op
    assert not is_patched()
    assert {name: getattr(socket, name) for name in PATCHED_NAMES} == ORIGINAL


def test_patched_module_keeps_kernel_families(patched: None) -> None:
    with stack_pair() as (a, _b), default(a):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
            assert type(unix) is ORIGINAL["socket"]
            assert isinstance(unix, socket.socket)
        left, right = socket.socketpair()  # the stdlib helper builds through socket.socket
        with left, right:
            assert type(left) is ORIGINAL["socket"]
            left.sendall(b"ok")
            assert right.recv(2) == b"ok"
        with socket.socket() as inet:
            assert type(inet) is us.socket
            assert repr(inet).startswith("<usnet_sync.socket.socket")


def test_http_server_and_clients_over_usnet(patched: None, tmp_path: Path) -> None:
    blob = os.urandom(3 * 2**20 + 17)
    (tmp_path / "blob.bin").write_bytes(blob)
    (tmp_path / "index.html").write_text("<h1>usnet</h1>\n")
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    with stack_pair() as (a, b):
        with default(b):
            server = Server(("0.0.0.0", 0), handler)
        assert isinstance(server.socket, us.socket)
        port = server.server_address[1]
        # serve_forever waits in a selector on server.fileno(): the listener's readiness fd.
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
        thread.start()
        try:
            with default(a):
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                with opener.open(f"http://{B_IP}:{port}/blob.bin", timeout=20) as response:
                    assert response.status == 200
                    got = response.read()
                assert hashlib.sha256(got).digest() == hashlib.sha256(blob).digest()
                conn = http.client.HTTPConnection(B_IP, port, timeout=10)
                socks = []
                for _ in range(3):  # keep-alive: one connection, three requests
                    conn.request("GET", "/index.html")
                    reply = conn.getresponse()
                    assert reply.status == 200
                    assert reply.read() == b"<h1>usnet</h1>\n"
                    socks.append(conn.sock)
                assert isinstance(socks[0], us.socket)
                assert socks == [socks[0]] * 3
                conn.close()
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)


def test_socketserver_echo_over_usnet(patched: None) -> None:
    class Echo(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for line in self.rfile:
                self.wfile.write(line.upper())

    with stack_pair() as (a, b):
        with default(b):
            server = socketserver.ThreadingTCPServer(("0.0.0.0", 0), Echo)
            server.daemon_threads = False
        port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
        thread.start()
        try:
            with default(a), socket.create_connection((B_IP, port), timeout=10) as conn:
                f = conn.makefile("rwb")
                for word in (b"alpha\n", b"beta\n"):
                    f.write(word)
                    f.flush()
                    assert f.readline() == word.upper()
                f.close()
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_no_leaked_fds_or_threads(patched: None, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x" * 10000)
    handler = functools.partial(QuietHandler, directory=str(tmp_path))

    def cycle() -> None:
        with stack_pair() as (a, b):
            with default(b):
                server = Server(("0.0.0.0", 0), handler)
            port = server.server_address[1]
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
            thread.start()
            try:
                with default(a):
                    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                    for _ in range(5):
                        with opener.open(f"http://{B_IP}:{port}/f.txt", timeout=10) as r:
                            assert len(r.read()) == 10000
                    # and one select-driven socket, whose fileno() makes a readiness fd
                    with socket.create_connection((B_IP, port), timeout=10) as s:
                        assert s.fileno() >= 0
            finally:
                server.shutdown()
                server.server_close()
                thread.join(10)

    cycle()  # warm-up: imports, lazily created module state
    fds, threads = _fd_count(), threading.active_count()
    for _ in range(3):
        cycle()
    deadline = time.monotonic() + 5
    while threading.active_count() > threads and time.monotonic() < deadline:
        time.sleep(0.05)
    # No growth over three cycles (threads of earlier tests may still be finishing, so
    # the counts may also drop).
    assert threading.active_count() <= threads
    assert _fd_count() <= fds


def test_module_imported_names_before_patch_stay_kernel(patched: None) -> None:
    # `from socket import socket` before patching keeps the kernel class: patch first.
    assert ORIGINAL["socket"] is not socket.socket
    assert us.KernelSocket is ORIGINAL["socket"]


def test_python_m_usnet_sync_run(tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text(
        "import socket, sys\n"
        "s = socket.socket()\n"
        "print(type(s).__module__, sys.argv[1:])\n"
        "u = socket.socket(socket.AF_UNIX)\n"
        "print(type(u).__module__)\n"
        "s.bind(('0.0.0.0', 0)); s.listen(); print(s.getsockname()[0])\n"
        "s.close(); u.close()\n"
    )
    static = {"ipv4": "10.7.0.2", "sub": 24, "gateway": "10.7.0.1"}
    config = json.dumps({"MemoryConfig": {"mac": "Random", "ipv4": {"Static": static}}})
    env = {**os.environ, "USNET_SOCKETS": config, "USNET_MODE": "multi"}
    proc = subprocess.run(
        [sys.executable, "-m", "usnet_sync.run", str(script), "one", "--two"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["usnet_sync.socket ['one', '--two']", "socket", "0.0.0.0"]


def test_asyncio_streams_over_usnet(patched: None) -> None:
    # asyncio makes sockets through the patched module and waits on fileno() with epoll:
    # fileno() before connect, a non-blocking connect, SO_ERROR, then recv/send.
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(b"echo " + line)
        await writer.drain()
        writer.close()

    async def main(a: Stack, b: Stack) -> bytes:
        with default(b):
            server = await asyncio.start_server(handle, "0.0.0.0", 0)
        port = server.sockets[0].getsockname()[1]
        with default(a):
            reader, writer = await asyncio.wait_for(asyncio.open_connection(B_IP, port), 10)
        assert isinstance(writer.get_extra_info("socket")._sock, us.socket)
        writer.write(b"hello asyncio\n")
        await writer.drain()
        reply = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        server.close()
        await server.wait_closed()
        return reply

    with stack_pair() as (a, b):
        assert asyncio.run(main(a, b)) == b"echo hello asyncio\n"


def test_package_file_run_by_path_still_gets_stdlib_socket() -> None:
    # Running a file of usnet_sync by path puts the package directory first on sys.path,
    # where usnet_sync/socket.py would shadow the standard module for every importer.
    cli = Path(us.__file__).with_name("cli.py")
    proc = subprocess.run(
        [sys.executable, str(cli), "config", '"RawConfig"'],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "RawConfig" in proc.stdout


def test_patched_host_mode_is_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USNET_MODE", "host")
    server = ORIGINAL["create_server"](("127.0.0.1", 0))
    patch_socket()
    try:
        with socket.socket() as sock:
            assert type(sock) is ORIGINAL["socket"]
        with socket.create_connection(server.getsockname(), timeout=5) as conn:
            assert type(conn) is ORIGINAL["socket"]
        assert socket.getaddrinfo("127.0.0.1", 80) == ORIGINAL["getaddrinfo"]("127.0.0.1", 80)
    finally:
        unpatch_socket()
        server.close()


def test_64_concurrent_usnet_clients_against_threaded_server(patched: None, tmp_path: Path) -> None:
    pages = {f"/p{i}": os.urandom(500 + 1500 * i) for i in range(8)}
    for name, body in pages.items():
        (tmp_path / name.lstrip("/")).write_bytes(body)

    class Busy(Server):
        request_queue_size = 128

    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    with stack_pair() as (a, b):
        with default(b):
            server = Busy(("0.0.0.0", 0), handler)
        port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
        thread.start()
        results: dict[int, bool] = {}
        barrier = threading.Barrier(64)

        def client(i: int) -> None:
            path = f"/p{i % 8}"
            barrier.wait(30)
            conn = http.client.HTTPConnection(B_IP, port, timeout=30)
            try:
                conn.request("GET", path)
                results[i] = conn.getresponse().read() == pages[path]
            finally:
                conn.close()

        try:
            with default(a):
                threads = [threading.Thread(target=client, args=(i,)) for i in range(64)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(60)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)
    assert results == dict.fromkeys(range(64), True)
