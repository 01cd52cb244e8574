"""Untrusted input: Interface.receive never raises and never grows memory without bound."""

from __future__ import annotations

import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iface_peer import (
    PEER_IP,
    arp_frame,
    icmp_frame,
    learn_peer,
    make_iface,
    udp_frame,
)
from usnet_core.wire import arp, icmpv4
from usnet_core.wire.icmpv4 import Icmpv4Repr

VALID_FRAMES = [
    udp_frame(40000, 7, b"hello world"),
    udp_frame(40000, 9, b"closed port"),
    arp_frame(arp.OP_REQUEST),
    arp_frame(arp.OP_REPLY),
    icmp_frame(Icmpv4Repr(icmpv4.TYPE_ECHO_REQUEST, 0, ident=1, seq_no=2, data=b"p" * 40)),
    icmp_frame(
        Icmpv4Repr(
            icmpv4.TYPE_DEST_UNREACHABLE,
            icmpv4.PORT_UNREACHABLE,
            data=bytes(udp_frame(7, 40000, b"q", src=0x0A000002, dst=PEER_IP)[14:]),
        )
    ),
]


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(st.sampled_from(VALID_FRAMES)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "truncate", "extend", "set"]))
        if op == "flip" and frame:
            i = draw(st.integers(0, len(frame) - 1))
            frame[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del frame[draw(st.integers(0, len(frame))) :]
        elif op == "extend":
            frame += draw(st.binary(max_size=64))
        elif frame:
            i = draw(st.integers(0, len(frame) - 1))
            frame[i] = draw(st.integers(0, 255))
    return bytes(frame)


frames = st.one_of(st.binary(max_size=1600), mutated_frames())


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames, max_size=20))
def test_receive_never_raises(batch: list[bytes]) -> None:
    iface = make_iface()  # strict: an internal error would raise here
    sock = iface.udp_socket()
    sock.bind((0, 7))
    learn_peer(iface)
    for i, frame in enumerate(batch):
        iface.receive(frame, float(i))
        iface.transmit(float(i))
    assert iface.stats.dropped["internal error"] == 0


def test_memory_stays_bounded_under_garbage_flood() -> None:
    iface = make_iface(arp_cache_size=64, arp_pending_hosts=16)
    sock = iface.udp_socket()
    sock.bind((0, 7))
    sock.recv_buffer = 64 * 1024
    import random

    rng = random.Random(5)
    tracemalloc.start()
    try:
        for round_no in range(2):
            for i in range(5000):
                choice = rng.random()
                if choice < 0.3:
                    frame = rng.randbytes(rng.randrange(0, 200))
                elif choice < 0.6:
                    # ARP requests from ever new senders: the cache must not grow past 64.
                    frame = arp_frame(
                        arp.OP_REQUEST,
                        src_mac=bytes([2]) + rng.randbytes(5),
                        src_ip=0x0A000000 | rng.randrange(3, 250),
                    )
                else:
                    frame = udp_frame(rng.randrange(1, 65535), 7, rng.randbytes(100))
                iface.receive(frame, float(i))
                iface.transmit(float(i))
            if round_no == 0:
                baseline = tracemalloc.get_traced_memory()[0]
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert len(iface.neighbors) <= 64
    assert sock.pending * 100 <= 64 * 1024
    assert grown < 200_000, f"memory grew by {grown} bytes in the second round"
