"""usnet_sync.UdpSocket on two in-memory stacks, in multi- and single-thread mode."""

from __future__ import annotations

import errno
import select
import threading
import time

import pytest
from sync_env import B_IP, stack_pair
from usnet_sync.stack import Mode
from usnet_sync.udp import UdpSocket

MODES = [Mode.MULTI, Mode.SINGLE]


@pytest.mark.parametrize("mode", MODES)
def test_exchange_and_addresses(mode: Mode) -> None:
    # Each stack is used by one thread only, which single-thread mode requires.
    with stack_pair(mode) as (a, b):
        sb = UdpSocket.bind((B_IP, 5000), stack=b)
        sb.set_read_timeout(5.0)
        assert sb.local_addr() == (B_IP, 5000)

        def echo() -> None:
            for _ in range(200):
                data, src = sb.recv_from()
                sb.send_to(data.replace(b"ping", b"pong"), src)

        server = threading.Thread(target=echo)
        server.start()
        sa = UdpSocket.bind(("0.0.0.0", 4000), stack=a)
        sa.set_read_timeout(5.0)
        for i in range(200):
            sa.send_to(b"ping %d" % i, (B_IP, 5000))
            assert sa.recv_from() == (b"pong %d" % i, (B_IP, 5000))
        server.join(5.0)
        sa.close()
        sb.close()


@pytest.mark.parametrize("mode", MODES)
def test_read_timeout_and_nonblocking(mode: Mode) -> None:
    with stack_pair(mode) as (a, _b):
        sock = UdpSocket.bind(("0.0.0.0", 0), stack=a)
        sock.set_read_timeout(0.2)
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            sock.recv_from()
        assert 0.15 < time.monotonic() - start < 2.0
        sock.set_nonblocking(True)
        with pytest.raises(BlockingIOError):
            sock.recv_from()
        with pytest.raises(OSError) as info:
            sock.set_read_timeout(0)
        assert info.value.errno == errno.EINVAL
        sock.close()


def test_blocked_reader_wakes_when_datagram_arrives() -> None:
    with stack_pair(Mode.MULTI) as (a, b):
        sb = UdpSocket.bind(("0.0.0.0", 7), stack=b)
        sb.set_read_timeout(5.0)
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(sb.recv()))
        reader.start()
        time.sleep(0.1)
        UdpSocket.bind(("0.0.0.0", 0), stack=a).send_to(b"wake up", (B_IP, 7))
        reader.join(5.0)
        assert got == [b"wake up"]


def test_fileno_follows_readiness_under_select() -> None:
    with stack_pair(Mode.MULTI) as (a, b):
        sb = UdpSocket.bind(("0.0.0.0", 7), stack=b)
        fd = sb.fileno()
        r, w, _ = select.select([fd], [fd], [], 0)
        assert (r, w) == ([], [fd])
        UdpSocket.bind(("0.0.0.0", 0), stack=a).send_to(b"x", (B_IP, 7))
        r, _, _ = select.select([fd], [], [], 5.0)
        assert r == [fd]
        sb.recv()
        r, _, _ = select.select([fd], [], [], 0)
        assert r == []


def test_connected_socket_and_clone() -> None:
    with stack_pair(Mode.MULTI) as (a, b):
        sa = UdpSocket.bind(("0.0.0.0", 0), stack=a)
        sb = UdpSocket.bind(("0.0.0.0", 9), stack=b)
        sb.set_read_timeout(5.0)
        sa.connect((B_IP, 9))
        assert sa.peer_addr() == (B_IP, 9)
        clone = sa.try_clone()
        sa.close()
        clone.send(b"from the clone")
        assert sb.recv() == b"from the clone"
        with pytest.raises(OSError) as info:
            sa.send(b"closed handle")
        assert info.value.errno == errno.EBADF
        clone.close()


def test_closed_stack_gives_clear_error() -> None:
    with stack_pair(Mode.MULTI) as (a, _b):
        sock = UdpSocket.bind(("0.0.0.0", 0), stack=a)
        a.close()
        with pytest.raises(OSError, match="closed"):
            sock.send_to(b"x", (B_IP, 9))


def test_host_mode_uses_kernel_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USNET_MODE", "host")
    monkeypatch.delenv("USNET_SOCKETS", raising=False)
    server = UdpSocket.bind(("127.0.0.1", 0))
    client = UdpSocket.bind(("127.0.0.1", 0))
    port = server.local_addr()[1]
    server.set_read_timeout(5.0)
    client.set_read_timeout(5.0)
    client.connect(("127.0.0.1", port))
    client.send(b"kernel datagram")
    assert server.peek_from() == (b"kernel datagram", client.local_addr())
    data, peer = server.recv_from()
    assert (data, peer) == (b"kernel datagram", client.local_addr())
    server.send_to(b"reply", peer)
    assert client.recv() == b"reply"
    server.set_read_timeout(0.1)
    with pytest.raises(TimeoutError):
        server.recv_from()
    server.set_nonblocking(True)
    with pytest.raises(BlockingIOError):
        server.recv_from()
    r, _, _ = select.select([server.fileno()], [], [], 0)
    assert r == []
    client.set_ttl(7)
    assert client.ttl() == 7
    server.close()
    client.close()


def test_names_and_host_port_strings() -> None:
    with stack_pair() as (a, b):
        sb = UdpSocket.bind(f"{B_IP}:5353", stack=b)
        sb.set_read_timeout(5.0)
        sa = UdpSocket.bind(("0.0.0.0", 0), stack=a)
        sa.send_to(b"by string", f"{B_IP}:5353")
        assert sb.recv() == b"by string"
        assert repr(sb) == f"<usnet_sync.UdpSocket {B_IP}:5353>"
        with pytest.raises(OverflowError):
            sa.send_to(b"x", (B_IP, 65536))
