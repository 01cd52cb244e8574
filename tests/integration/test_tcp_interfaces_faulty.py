"""TCP between two whole Interfaces over the in-memory link, through a seeded FaultInjector.

The layer-level stateful tests (tests/core/tcp/test_tcp_stateful.py) drive bare TcpLayers;
this drives the full path (Ethernet, ARP, IPv4, TCP) on a fake clock, with frames dropped,
duplicated, reordered, corrupted, delayed and rate limited (a slow link with a short queue
that tail-drops) on the wire, and checks every byte arrives
exactly once and in order in both directions, and that both ends close cleanly.
"""

from __future__ import annotations

import contextlib
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from usnet_backends.fault import FaultInjector
from usnet_backends.memory import memory_pair
from usnet_core.errors import WouldBlock
from usnet_core.iface import Interface, InterfaceConfig
from usnet_core.tcp import State, TcpConfig
from usnet_core.wire.ipv4 import addr_from_str

A_IP, B_IP = addr_from_str("10.7.0.1"), addr_from_str("10.7.0.2")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _iface(mac: str, cidr: str, seed: int, cc: str) -> Interface:
    rng = random.Random(seed)
    tcp = TcpConfig(mss=1460, rx_buffer=64 * 1024, tx_buffer=64 * 1024, congestion=cc, msl=1.0)
    return Interface(
        InterfaceConfig.build(mac, cidr), entropy=rng.randbytes, tcp_config=tcp, strict=True
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    drop=st.sampled_from([0.0, 0.01, 0.05]),
    duplicate=st.sampled_from([0.0, 0.02]),
    reorder=st.sampled_from([0.0, 0.02, 0.1]),
    corrupt=st.sampled_from([0.0, 0.01]),
    rate=st.sampled_from([0.0, 5_000_000.0, 500_000.0]),
    cc=st.sampled_from(["newreno", "cubic"]),
    size_a=st.integers(0, 300_000),
    size_b=st.integers(0, 100_000),
)
def test_bytes_arrive_exactly_once_in_order(
    seed: int,
    drop: float,
    duplicate: float,
    reorder: float,
    corrupt: float,
    rate: float,
    cc: str,
    size_a: int,
    size_b: int,
) -> None:
    clock = Clock()
    raw_a, raw_b = memory_pair(queue_limit=100_000)
    dev_a = FaultInjector(
        raw_a, seed, drop=drop, duplicate=duplicate, reorder=reorder, corrupt=corrupt,
        delay=0.001, rate=rate, rate_queue=0.02, clock=clock,
    )  # fmt: skip
    dev_b = raw_b
    ia = _iface("02:00:00:00:07:01", "10.7.0.1/24", seed, cc)
    ib = _iface("02:00:00:00:07:02", "10.7.0.2/24", seed + 1, cc)
    listener = ib.tcp.listen((0, 80))
    client = ia.tcp.connect((B_IP, 80), clock.now)
    rng = random.Random(seed)
    data_a, data_b = rng.randbytes(size_a), rng.randbytes(size_b)
    got_a, got_b = bytearray(), bytearray()
    server = None
    sent_a = sent_b = 0
    buf = bytearray(65536)
    for _ in range(200_000):
        dev_a.send_batch(ia.transmit(clock.now))
        dev_b.send_batch(ib.transmit(clock.now))
        for frame in dev_b.recv_batch(1000):
            ib.receive(frame, clock.now)
        for frame in dev_a.recv_batch(1000):
            ia.receive(frame, clock.now)
        if server is None:
            with contextlib.suppress(WouldBlock):
                server = listener.accept()
        client_open = client.state in (State.ESTABLISHED, State.CLOSE_WAIT)
        if client_open and sent_a < size_a:
            with contextlib.suppress(WouldBlock):
                sent_a += client.send(data_a[sent_a : sent_a + 16384])
            if sent_a == size_a:
                client.shutdown("write")
        elif client_open and size_a == 0 and not client._fin_queued:
            client.shutdown("write")
        if server is not None:
            if sent_b < size_b:
                with contextlib.suppress(WouldBlock):
                    sent_b += server.send(data_b[sent_b : sent_b + 16384])
                if sent_b == size_b:
                    server.shutdown("write")
            elif size_b == 0 and not server._fin_queued:
                server.shutdown("write")
            _drain(server, got_a, buf)
        _drain(client, got_b, buf)
        done = (
            server is not None
            and server.state in (State.CLOSED, State.TIME_WAIT)
            and client.state in (State.CLOSED, State.TIME_WAIT)
        )
        if done:
            break
        deadlines = [t for t in (ia.poll_at(), ib.poll_at(), dev_a.poll_at()) if t is not None]
        clock.now = max(clock.now + 0.0005, min(deadlines, default=clock.now + 0.01))
    assert bytes(got_a) == data_a
    assert bytes(got_b) == data_b
    assert server is not None
    assert server.error is None and client.error is None
    assert ia.stats.dropped["internal error"] == 0 and ib.stats.dropped["internal error"] == 0


def _drain(sock: object, into: bytearray, buf: bytearray) -> None:
    while True:
        try:
            n = sock.recv_into(buf)  # type: ignore[attr-defined]
        except WouldBlock:
            return
        if n == 0:
            return
        into += buf[:n]
