"""usnet_sync TcpStream/TcpListener on two in-memory stacks, and loopback integration."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from contextlib import nullcontext

import pytest
from sync_env import A_IP, B_IP, driven, stack_pair
from usnet_sync.stack import Mode
from usnet_sync.tcp import TcpListener, TcpStream

MODES = [Mode.MULTI, Mode.SINGLE]


def _echo_server(listener: TcpListener, count: int) -> threading.Thread:
    def serve() -> None:
        for _ in range(count):
            conn, _ = listener.accept()
            with conn:
                conn.set_read_timeout(10.0)
                while data := conn.read(65536):
                    conn.write_all(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("mode", MODES)
def test_echo_over_usnet(mode: Mode) -> None:
    with stack_pair(mode) as (a, b):
        listener = TcpListener.bind(("0.0.0.0", 0), stack=b, loopback=False)
        port = listener.local_addr()[1]
        server = _echo_server(listener, 1)
        stream = TcpStream.connect_timeout((B_IP, port), 5.0, stack=a)
        stream.set_read_timeout(10.0)
        assert stream.peer_addr() == (B_IP, port)
        assert stream.local_addr()[0] == A_IP
        blob = os.urandom(300_000)
        sender = threading.Thread(target=stream.write_all, args=(blob,))
        sender.start()
        got = bytearray()
        while len(got) < len(blob):
            chunk = stream.read(65536)
            assert chunk
            got += chunk
        sender.join()
        assert hashlib.sha256(got).digest() == hashlib.sha256(blob).digest()
        stream.shutdown("write")
        assert stream.read() == b""  # the server saw EOF and closed
        stream.close()
        server.join(5.0)
        listener.close()


@pytest.mark.parametrize("mode", MODES)
def test_connect_refused_quickly(mode: Mode) -> None:
    with stack_pair(mode) as (a, b), driven(b) if mode is Mode.SINGLE else nullcontext():
        start = time.monotonic()
        with pytest.raises(ConnectionRefusedError):
            TcpStream.connect((B_IP, 1), stack=a)
        assert time.monotonic() - start < 2.0


def test_connect_timeout_fires() -> None:
    with stack_pair() as (a, _b):
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            TcpStream.connect_timeout(("10.5.0.77", 80), 0.5, stack=a)  # nobody answers ARP
        assert 0.4 < time.monotonic() - start < 3.0


def test_read_timeout_and_nonblocking() -> None:
    with stack_pair() as (a, b):
        listener = TcpListener.bind(("0.0.0.0", 0), stack=b, loopback=False)
        stream = TcpStream.connect((B_IP, listener.local_addr()[1]), stack=a)
        conn, _ = listener.accept()
        stream.set_read_timeout(0.2)
        with pytest.raises(TimeoutError):
            stream.read()
        stream.set_nonblocking(True)
        with pytest.raises(BlockingIOError):
            stream.read()
        conn.write(b"now")
        stream.set_nonblocking(False)
        assert stream.peek(10) == b"now"
        assert stream.read() == b"now"
        stream.close()
        conn.close()
        listener.close()


def test_kernel_client_reaches_listener_on_loopback() -> None:
    with stack_pair() as (_a, b):
        listener = TcpListener.bind(("0.0.0.0", 0), stack=b)
        port = listener.local_addr()[1]
        server = _echo_server(listener, 1)
        with socket.create_connection(("127.0.0.1", port), timeout=5.0) as kernel:
            kernel.sendall(b"hello via the kernel")
            assert kernel.recv(100) == b"hello via the kernel"
        server.join(5.0)
        listener.close()


def test_connect_to_loopback_uses_kernel() -> None:
    with stack_pair() as (a, _b):
        server = socket.create_server(("127.0.0.1", 0))
        port = server.getsockname()[1]
        stream = TcpStream.connect(("127.0.0.1", port), stack=a)
        conn, _ = server.accept()
        assert stream.is_loopback
        stream.write_all(b"to a local program")
        assert conn.recv(100) == b"to a local program"
        conn.close()
        stream.close()
        server.close()


def test_connect_to_own_address_reaches_own_listener() -> None:
    with stack_pair() as (_a, b):
        listener = TcpListener.bind(("0.0.0.0", 0), stack=b)
        port = listener.local_addr()[1]
        server = _echo_server(listener, 1)
        stream = TcpStream.connect((B_IP, port), stack=b)
        stream.set_read_timeout(5.0)
        stream.write_all(b"myself")
        assert stream.read() == b"myself"
        stream.close()
        server.join(5.0)
        listener.close()


def test_accept_timeout_and_nonblocking() -> None:
    with stack_pair() as (_a, b):
        listener = TcpListener.bind(("0.0.0.0", 0), stack=b)
        listener.set_timeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
        listener.set_nonblocking(True)
        with pytest.raises(BlockingIOError):
            listener.accept()
        listener.close()


def test_many_clients_threaded_server() -> None:
    with stack_pair() as (a, b):
        listener = TcpListener.bind(("0.0.0.0", 0), stack=b, loopback=False)
        port = listener.local_addr()[1]

        def serve() -> None:
            with contextlib.suppress(OSError):  # the listener closes at the end
                for conn in listener.incoming():
                    threading.Thread(target=_echo_one, args=(conn,), daemon=True).start()

        def _echo_one(conn: TcpStream) -> None:
            with conn, contextlib.suppress(OSError):  # the stacks close at the end
                while data := conn.read():
                    conn.write_all(data)

        threading.Thread(target=serve, daemon=True).start()
        results: list[bool] = []

        def client(i: int) -> None:
            with TcpStream.connect((B_IP, port), stack=a) as s:
                s.set_read_timeout(10.0)
                msg = b"client %d " % i * 100
                s.write_all(msg)
                got = b""
                while len(got) < len(msg):
                    got += s.read()
                results.append(got == msg)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20.0)
        assert results == [True] * 16
        listener.close()


def test_host_mode_uses_kernel_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USNET_MODE", "host")
    monkeypatch.delenv("USNET_SOCKETS", raising=False)
    listener = TcpListener.bind(("127.0.0.1", 0))
    port = listener.local_addr()[1]
    server = _echo_server(listener, 1)
    stream = TcpStream.connect(("127.0.0.1", port))
    assert stream.is_loopback
    stream.set_read_timeout(5.0)
    stream.write_all(b"plain kernel")
    assert stream.read() == b"plain kernel"
    stream.shutdown("write")
    assert stream.read() == b""
    stream.close()
    server.join(5.0)
    listener.close()


def test_connect_by_name_resolves_in_stack() -> None:
    with stack_pair() as (a, _b):
        server = socket.create_server(("127.0.0.1", 0))
        port = server.getsockname()[1]
        stream = TcpStream.connect(("localhost", port), stack=a)
        conn, _ = server.accept()
        assert stream.peer_addr() == ("127.0.0.1", port)
        conn.close()
        stream.close()
        server.close()
        with pytest.raises(socket.gaierror):
            TcpStream.connect(("no-such-name.invalid", 80), stack=a)


def test_listener_ttl_applies_to_accepted_connections() -> None:
    with stack_pair() as (a, b):
        listener = TcpListener.bind(("0.0.0.0", 0), stack=b, loopback=False)
        assert listener.ttl() == 64
        listener.set_ttl(17)
        stream = TcpStream.connect((B_IP, listener.local_addr()[1]), stack=a)
        conn, _ = listener.accept()
        assert conn.ttl() == 17
        assert stream.ttl() == 64
        conn.close()
        stream.close()
        listener.close()


def test_addresses_are_validated_and_resolved_like_the_socket_module() -> None:
    with stack_pair() as (a, b):
        with pytest.raises(OverflowError):
            TcpStream.connect((B_IP, 70000), stack=a)
        with pytest.raises(TypeError):
            TcpStream.connect((B_IP, "80"), stack=a)  # type: ignore[arg-type]
        listener = TcpListener.bind(f"{B_IP}:0", stack=b, loopback=False)  # usnet_sockets form
        port = listener.local_addr()[1]
        stream = TcpStream.connect(f"{B_IP}:{port}", stack=a)
        conn, _ = listener.accept()
        assert stream.peer_addr() == (B_IP, port)
        conn.close()
        stream.close()
        listener.close()
        local = TcpListener.bind(("localhost", 0), stack=b)  # a name, resolved in the stack
        assert local.local_addr()[0] == "127.0.0.1"
        local.close()
