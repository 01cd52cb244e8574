"""The usnet demo: an HTTP server on the userspace stack, fetched by a client.

As root: a private network namespace whose kernel (at 10.99.0.1) fetches a page over a TAP
from a usnet HTTP server (at 10.99.0.2), with Python's own urllib on kernel sockets.
Without root: two usnet stacks talk over an in-memory link instead, and it says so.
Everything it creates is removed at the end.

    python -m usnet_sync.demo
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable

from usnet_backends.device import Device
from usnet_backends.memory import memory_pair
from usnet_core.iface import Interface, InterfaceConfig

from usnet_sync.stack import Stack
from usnet_sync.tcp import TcpListener, TcpStream

PAGE = b"<html><body><h1>Hello from usnet</h1><p>Every byte of this page was parsed by Python.</p></body></html>\n"  # noqa: E501
BLOB = os.urandom(4 * 2**20)


def _say(text: str) -> None:
    print(f"[usnet demo] {text}", flush=True)


def _respond(conn: TcpStream) -> None:
    """A tiny HTTP/1.1 server loop on one usnet connection (keep-alive aware)."""
    buf = b""
    with conn:
        conn.set_read_timeout(10.0)
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = conn.read()
                if not chunk:
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            body = BLOB if path == b"/blob" else PAGE
            kind = b"application/octet-stream" if path == b"/blob" else b"text/html"
            conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: " + kind + b"\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\nServer: usnet-demo\r\n\r\n" + body
            )  # fmt: skip
            if b"connection: close" in head.lower():
                return


def _serve(listener: TcpListener, stop: threading.Event) -> threading.Thread:
    def loop() -> None:
        listener.set_timeout(0.2)
        while not stop.is_set():
            try:
                conn, peer = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            _say(f"server: connection from {peer[0]}:{peer[1]}")
            threading.Thread(target=_respond, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def _stack(device: Device, mac: str, cidr: str, gateway: str | None) -> Stack:
    config = InterfaceConfig.build(mac, cidr, gateway=gateway)
    return Stack(Interface(config, entropy=os.urandom), device)


def _report(stack: Stack) -> None:
    stats = stack.iface.stats
    tcp = stack.iface.tcp.stats
    _say(
        f"usnet stack: {stats.rx_frames} frames in, {stats.tx_frames} frames out, "
        f"{stats.total_dropped} dropped {dict(stats.dropped) or ''}".rstrip()
    )
    _say(f"usnet TCP: {tcp}")


def _fetch(get: Callable[[str], bytes], base: str) -> None:
    start = time.monotonic()
    page = get(base + "/")
    _say(f"client: GET / -> {len(page)} bytes: {page.decode().strip()[:80]}...")
    blob = get(base + "/blob")
    elapsed = time.monotonic() - start
    ok = hashlib.sha256(blob).digest() == hashlib.sha256(BLOB).digest()
    _say(
        f"client: GET /blob -> {len(blob)} bytes, sha256 {'matches' if ok else 'DIFFERS'} "
        f"({len(blob) / elapsed / 2**20:.1f} MiB/s)"
    )
    if not ok or page != PAGE:
        raise SystemExit("demo failed: content mismatch")


def demo_tap() -> None:
    """As root: the kernel in a private namespace fetches from a usnet server over TAP."""
    from usnet_backends.netns import NetnsScope, run_in_netns, set_sysctl  # noqa: PLC0415
    from usnet_backends.tap import TapDevice  # noqa: PLC0415

    with NetnsScope() as scope:
        ns = scope.netns()
        set_sysctl(ns, "net.ipv6.conf.default.disable_ipv6", 1)
        device = TapDevice.create(mtu=1500, host_ip="10.99.0.1", prefix_len=24, netns=ns)
        _say(f"created namespace {ns} with TAP {device.name}: kernel 10.99.0.1, usnet 10.99.0.2")
        stack = _stack(device, "02:00:00:99:00:02", "10.99.0.2/24", "10.99.0.1")
        scope.callback(stack.close)
        stop = threading.Event()
        listener = TcpListener.bind(("0.0.0.0", 8080), stack=stack)
        _serve(listener, stop)
        _say("usnet HTTP server listening on 10.99.0.2:8080 (and on the kernel's 127.0.0.1:8080)")

        def kernel_get(url: str) -> bytes:
            def get() -> bytes:
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                with opener.open(url, timeout=10) as response:
                    data: bytes = response.read()
                    return data

            return run_in_netns(ns, get)

        _fetch(kernel_get, "http://10.99.0.2:8080")
        with socket.create_connection(("127.0.0.1", 8080), timeout=5) as local:
            local.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            reply = local.recv(100)
        _say(f"a local kernel program via 127.0.0.1:8080 got: {reply.splitlines()[0].decode()}")
        stop.set()
        listener.close()
        _report(stack)
    _say("namespace and TAP removed")


def demo_memory() -> None:
    """Without root: two usnet stacks over an in-memory link."""
    _say("not root: running two usnet stacks over an in-memory link instead of a TAP")
    dev_a, dev_b = memory_pair()
    server = _stack(dev_a, "02:00:00:00:00:01", "10.0.0.1/24", None)
    client = _stack(dev_b, "02:00:00:00:00:02", "10.0.0.2/24", None)
    try:
        stop = threading.Event()
        listener = TcpListener.bind(("10.0.0.1", 8080), stack=server, loopback=False)
        _serve(listener, stop)
        _say("usnet HTTP server listening on 10.0.0.1:8080 (stack A)")

        def usnet_get(url: str) -> bytes:
            path = url.split("8080", 1)[1]
            with TcpStream.connect(("10.0.0.1", 8080), stack=client) as conn:
                conn.set_read_timeout(10.0)
                request = f"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                conn.write_all(request.encode())
                data = b""
                while chunk := conn.read():
                    data += chunk
            return data.partition(b"\r\n\r\n")[2]

        _fetch(usnet_get, "http://10.0.0.1:8080")
        stop.set()
        listener.close()
        _report(server)
    finally:
        server.close()
        client.close()


def main() -> int:
    """Run the TAP demo as root, else the in-memory one."""
    if os.geteuid() == 0 and os.path.exists("/dev/net/tun"):
        demo_tap()
    else:
        demo_memory()
    _say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
