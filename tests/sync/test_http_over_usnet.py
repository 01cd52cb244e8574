"""HTTP over usnet: unported servers and clients, h11, and the kernel as the peer.

Over TAP (root; the `kernel_peer` fixture: the kernel at 10.99.0.1 in a private namespace,
usnet at 10.99.0.2) with patch_socket applied: curl downloads a large file from http.server
on usnet, urllib on usnet fetches from a kernel http.server, 64 kernel client threads hit a
threaded usnet server at once, and a local kernel program reaches the usnet server through
127.0.0.1. Without root: h11 client and server on the socket facade exchange 1,000
keep-alive requests over the in-memory link.

USNET_HTTP_MIB sets the curl download size (default 50).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h11
import pytest
import usnet_sync.socket as us
from netns_harness import KernelPeer, mac_str
from sync_env import B_IP, stack_pair
from usnet_backends.netns import enter_netns, run_in_netns
from usnet_core.iface import Interface, InterfaceConfig
from usnet_sync.default import set_default_stack
from usnet_sync.patch import patch_socket, unpatch_socket
from usnet_sync.stack import Stack

HTTP_MIB = int(os.environ.get("USNET_HTTP_MIB", "50"))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """A file server without the request log, keeping connections alive (HTTP/1.1)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server(http.server.ThreadingHTTPServer):
    """A threaded HTTP server with a realistic accept backlog (socketserver's is 5) whose
    server_close() waits for the handler threads, so none outlives the stack."""

    request_queue_size = 128
    daemon_threads = False


@contextmanager
def serving(directory: Path, address: tuple[str, int] = ("0.0.0.0", 0)) -> Iterator[Server]:
    """An HTTP server for `directory` (built through the socket module, patched or not)."""
    server = Server(address, functools.partial(QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextmanager
def usnet_stack(kernel_peer: KernelPeer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A usnet stack on the kernel peer's TAP as the default stack, socket module patched."""
    monkeypatch.setenv("USNET_MODE", "multi")
    config = InterfaceConfig.build(
        mac_str(kernel_peer.usnet_mac),
        f"{kernel_peer.usnet_ip}/{kernel_peer.prefix_len}",
        gateway=kernel_peer.host_ip,
    )
    stack = Stack(Interface(config, entropy=os.urandom), kernel_peer.device)
    previous = set_default_stack(stack)
    patch_socket()
    try:
        yield stack
    finally:
        unpatch_socket()
        set_default_stack(previous)
        stack.close()


@pytest.fixture
def usnet_on_tap(kernel_peer: KernelPeer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """usnet_stack() for the whole test."""
    with usnet_stack(kernel_peer, monkeypatch) as stack:
        yield stack


_CURL_OPTS = ("-sS", "--fail", "--noproxy", "*")


def _in_netns(netns: str) -> list[str]:
    return ["ip", "netns", "exec", netns]


@pytest.fixture(scope="session")
def curl() -> str | None:
    """curl's path, installed with apt-get when missing (None if that fails too)."""
    path = shutil.which("curl")
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for args in (["apt-get", "update"], ["apt-get", "install", "-y", "curl"]):
            subprocess.run(args, capture_output=True, env=env, timeout=600, check=False)
        path = shutil.which("curl")
    return path


def _kernel_download(netns: str, address: tuple[str, int], path: str, out: Path) -> None:
    """Stream a GET's body into `out` with a kernel socket in `netns` (curl's stand-in)."""
    with enter_netns(netns):
        sock = us.KernelSocket(socket.AF_INET, socket.SOCK_STREAM)
    with sock, out.open("wb") as f:
        sock.settimeout(60)
        sock.connect(address)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: usnet\r\nConnection: close\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(65536)
            assert chunk, "connection closed before the response head"
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), head[:100]
        f.write(rest)
        while chunk := sock.recv(1 << 20):
            f.write(chunk)


def _random_file(path: Path, mib: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as f:
        for _ in range(mib):
            chunk = os.urandom(2**20)
            digest.update(chunk)
            f.write(chunk)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()


# --- over TAP with the kernel as peer -----------------------------------------------------------


@pytest.mark.root
def test_curl_downloads_from_http_server_on_usnet(
    usnet_on_tap: Stack, kernel_peer: KernelPeer, tmp_path: Path, curl: str | None
) -> None:
    served = tmp_path / "www"
    served.mkdir()
    want = _random_file(served / "big.bin", HTTP_MIB)
    out = tmp_path / "download.bin"
    with serving(served) as server:
        assert isinstance(server.socket, us.socket)
        port = server.server_address[1]
        url = f"http://{kernel_peer.usnet_ip}:{port}/big.bin"
        start = time.monotonic()
        if curl is None:
            print("\ncurl is missing and could not be installed: a kernel socket downloads")
            _kernel_download(kernel_peer.netns, (kernel_peer.usnet_ip, port), "/big.bin", out)
        else:
            args = [*_in_netns(kernel_peer.netns), curl, *_CURL_OPTS, "--max-time", "600"]
            proc = subprocess.run(
                [*args, "-o", str(out), url],
                capture_output=True,
                text=True,
                timeout=660,
                check=False,
            )
            assert proc.returncode == 0, proc.stderr
        elapsed = time.monotonic() - start
    assert out.stat().st_size == HTTP_MIB * 2**20
    assert _sha256(out) == want
    print(f"\ncurl <- usnet http.server: {HTTP_MIB} MiB in {elapsed:.1f} s, "
          f"{HTTP_MIB / elapsed:.1f} MiB/s")  # fmt: skip


@pytest.mark.root
def test_kernel_socket_download_from_usnet(
    usnet_on_tap: Stack, kernel_peer: KernelPeer, tmp_path: Path
) -> None:
    # curl's stand-in (used when curl cannot be installed) works on its own.
    served = tmp_path / "www"
    served.mkdir()
    want = _random_file(served / "mid.bin", 4)
    out = tmp_path / "download.bin"
    with serving(served) as server:
        address = (kernel_peer.usnet_ip, server.server_address[1])
        _kernel_download(kernel_peer.netns, address, "/mid.bin", out)
    assert _sha256(out) == want


@pytest.mark.root
def test_urllib_on_usnet_fetches_from_kernel_server(
    kernel_peer: KernelPeer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blob = os.urandom(8 * 2**20)
    (tmp_path / "blob.bin").write_bytes(blob)
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    # The kernel's server lives in the peer namespace; build it before patching.
    kernel_server = run_in_netns(kernel_peer.netns, Server, (kernel_peer.host_ip, 0), handler)
    assert type(kernel_server.socket) is socket.socket
    thread = threading.Thread(target=kernel_server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        with usnet_stack(kernel_peer, monkeypatch):
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            url = f"http://{kernel_peer.host_ip}:{kernel_server.server_address[1]}/blob.bin"
            start = time.monotonic()
            with opener.open(url, timeout=30) as response:
                assert isinstance(response.fp.raw._sock, us.socket)  # type: ignore[attr-defined]
                got = response.read()
            elapsed = time.monotonic() - start
            assert hashlib.sha256(got).digest() == hashlib.sha256(blob).digest()
            print(
                f"\nurllib on usnet <- kernel http.server: {len(got) / elapsed / 2**20:.1f} MiB/s"
            )
            # A refused connect is quick: the kernel answers with RST.
            start = time.monotonic()
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((kernel_peer.host_ip, 1), timeout=5)
            assert time.monotonic() - start < 1.0
    finally:
        kernel_server.shutdown()
        kernel_server.server_close()
        thread.join(10)


def _kernel_get(netns: str, address: tuple[str, int], path: str) -> bytes:
    """GET with a kernel socket from the peer namespace (not through the patched module)."""
    with enter_netns(netns):
        sock = us.KernelSocket(socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(60)
        sock.connect(address)
        request = f"GET {path} HTTP/1.1\r\nHost: usnet\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head[:100]
    return body


@pytest.mark.root
def test_64_concurrent_kernel_clients(
    usnet_on_tap: Stack, kernel_peer: KernelPeer, tmp_path: Path
) -> None:
    pages = {f"/page{i}.bin": os.urandom(1000 + 997 * i) for i in range(8)}
    for name, body in pages.items():
        (tmp_path / name.lstrip("/")).write_bytes(body)
    results: dict[int, bool] = {}
    with serving(tmp_path) as server:
        address = (kernel_peer.usnet_ip, server.server_address[1])
        barrier = threading.Barrier(64)

        def client(i: int) -> None:
            path = f"/page{i % 8}.bin"
            barrier.wait(30)
            results[i] = _kernel_get(kernel_peer.netns, address, path) == pages[path]

        threads = [threading.Thread(target=client, args=(i,)) for i in range(64)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        elapsed = time.monotonic() - start
    assert results == dict.fromkeys(range(64), True)
    print(f"\n64 concurrent kernel clients served in {elapsed:.2f} s")


@pytest.mark.root
def test_local_kernel_program_reaches_usnet_server_via_loopback(
    usnet_on_tap: Stack, tmp_path: Path, curl: str | None
) -> None:
    if curl is None:
        pytest.skip("curl is missing and could not be installed")
    (tmp_path / "index.html").write_text("<h1>hello from usnet</h1>\n")
    with serving(tmp_path) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        proc = subprocess.run(
            [curl, *_CURL_OPTS, "--max-time", "30", url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "<h1>hello from usnet</h1>\n"


# --- h11 on the socket facade, in memory ----------------------------------------------------------


def _h11_serve(listener: us.socket, count: int) -> int:
    conn_sock, _ = listener.accept()
    served = 0
    with conn_sock:
        conn_sock.settimeout(30)
        conn_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = h11.Connection(h11.SERVER)
        while served < count:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(conn_sock.recv(65536))
                continue
            if isinstance(event, h11.Request):
                body = b"reply to " + event.target
                headers = [("Content-Length", str(len(body))), ("Content-Type", "text/plain")]
                # One write per response: separate small writes would meet Nagle and the
                # peer's delayed ACK (40 ms each), on usnet as on the kernel.
                reply = conn.send(h11.Response(status_code=200, headers=headers))
                reply += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
                conn_sock.sendall(reply)
            elif isinstance(event, h11.EndOfMessage):
                served += 1
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                break
    return served


def test_h11_thousand_keepalive_requests() -> None:
    count = 1000
    with stack_pair() as (a, b):
        listener = us.socket(stack=b)
        listener.bind(("0.0.0.0", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result: list[int] = []
        server = threading.Thread(target=lambda: result.append(_h11_serve(listener, count)))
        server.start()
        start = time.monotonic()
        with us.socket(stack=a) as sock:
            sock.settimeout(30)
            sock.connect((B_IP, port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = h11.Connection(h11.CLIENT)
            for i in range(count):
                target = f"/item/{i}"
                request = h11.Request(method="GET", target=target, headers=[("Host", "usnet")])
                sock.sendall(conn.send(request) + conn.send(h11.EndOfMessage()))
                body = b""
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(sock.recv(65536))
                    elif isinstance(event, h11.Response):
                        assert event.status_code == 200
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                assert body == b"reply to " + target.encode()
                conn.start_next_cycle()
        elapsed = time.monotonic() - start
        server.join(30)
        listener.close()
    assert result == [count]
    print(f"\nh11: {count} keep-alive requests in {elapsed:.2f} s ({count / elapsed:.0f}/s)")
