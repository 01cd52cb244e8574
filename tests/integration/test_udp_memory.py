"""Two Interfaces over the in-memory link exchange UDP datagrams, both ways, checked."""

from __future__ import annotations

import random

from usnet_backends.memory import memory_pair
from usnet_core.iface import Interface, InterfaceConfig
from usnet_core.wire.ipv4 import addr_from_str

A_IP, B_IP = addr_from_str("10.1.0.1"), addr_from_str("10.1.0.2")


def _pair() -> tuple[Interface, Interface]:
    rng = random.Random(3)
    a = Interface(
        InterfaceConfig(mac=bytes.fromhex("02000000a001"), ipv4=A_IP, prefix_len=24),
        entropy=rng.randbytes,
        strict=True,
    )
    b = Interface(
        InterfaceConfig(mac=bytes.fromhex("02000000b002"), ipv4=B_IP, prefix_len=24),
        entropy=rng.randbytes,
        strict=True,
    )
    return a, b


def test_thousand_datagrams_each_way_over_memory_link() -> None:
    iface_a, iface_b = _pair()
    dev_a, dev_b = memory_pair(queue_limit=4096)
    sa, sb = iface_a.udp_socket(), iface_b.udp_socket()
    sa.bind((0, 5000))
    sb.bind((0, 6000))
    now = 0.0

    def pump() -> None:
        for _ in range(10):
            dev_a.send_batch(iface_a.transmit(now))
            dev_b.send_batch(iface_b.transmit(now))
            if not (dev_a.pending or dev_b.pending):
                return
            for frame in dev_b.recv_batch(4096):
                iface_b.receive(frame, now)
            for frame in dev_a.recv_batch(4096):
                iface_a.receive(frame, now)

    got_a: list[bytes] = []
    got_b: list[bytes] = []
    for i in range(1000):
        sa.send_to(b"a->b %d " % i + bytes([i % 256]) * (i % 700), (B_IP, 6000))
        sb.send_to(b"b->a %d " % i + bytes([i % 256]) * (i % 900), (A_IP, 5000))
        pump()
        while sb.pending:
            data, src = sb.recv_from()
            assert src == (A_IP, 5000)
            got_b.append(data)
        while sa.pending:
            data, src = sa.recv_from()
            assert src == (B_IP, 6000)
            got_a.append(data)
        now += 0.001
    assert got_b == [b"a->b %d " % i + bytes([i % 256]) * (i % 700) for i in range(1000)]
    assert got_a == [b"b->a %d " % i + bytes([i % 256]) * (i % 900) for i in range(1000)]
    assert iface_a.stats.total_dropped == 0 and iface_b.stats.total_dropped == 0
    dev_a.close()
    dev_b.close()
