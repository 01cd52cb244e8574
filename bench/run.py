"""usnet benchmarks: run side by side, print a table, write JSON under bench/results/.

Scenarios so far (more arrive with TCP and the adapters):
- udp-echo-memory: two Interfaces over the in-memory link; one sends datagrams, the other
  echoes them; frames per second through both Interfaces (receive + transmit work).
- iface-rx-udp: one Interface receiving prebuilt UDP frames for a bound socket and the
  application draining them: frames per second of the receive path alone.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import random
import sys
import time
from collections.abc import Callable

from usnet_backends.memory import memory_pair
from usnet_core.iface import Interface, InterfaceConfig
from usnet_core.wire.ethernet import EthernetRepr
from usnet_core.wire.ipv4 import PROTO_UDP, Ipv4Repr, addr_from_str
from usnet_core.wire.udp import UdpRepr

A_IP, B_IP = addr_from_str("10.1.0.1"), addr_from_str("10.1.0.2")
A_MAC, B_MAC = bytes.fromhex("02000000a001"), bytes.fromhex("02000000b002")


def _iface(mac: bytes, ip: int) -> Interface:
    rng = random.Random(1)
    return Interface(InterfaceConfig(mac=mac, ipv4=ip, prefix_len=24), entropy=rng.randbytes)


def udp_echo_memory(seconds: float, size: int) -> dict[str, float]:
    """Ping-pong bursts of 64 datagrams between two Interfaces; count frames handled."""
    a, b = _iface(A_MAC, A_IP), _iface(B_MAC, B_IP)
    dev_a, dev_b = memory_pair(queue_limit=100_000)
    sa, sb = a.udp_socket(), b.udp_socket()
    sa.bind((0, 5000))
    sb.bind((0, 7))
    payload = bytes(size)
    frames = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        now = time.monotonic()
        for _ in range(64):
            sa.send_to(payload, (B_IP, 7))
        dev_a.send_batch(a.transmit(now))
        for frame in dev_b.recv_batch(1000):
            b.receive(frame, now)
            frames += 1
        while sb.pending:
            data, peer = sb.recv_from()
            sb.send_to(data, peer)
        dev_b.send_batch(b.transmit(now))
        for frame in dev_a.recv_batch(1000):
            a.receive(frame, now)
            frames += 1
        while sa.pending:
            sa.recv_from()
    elapsed = time.perf_counter() - start
    return {"frames_per_s": frames / elapsed, "mib_per_s": frames * size / elapsed / 2**20}


def iface_rx_udp(seconds: float, size: int) -> dict[str, float]:
    """Receive path only: prebuilt frames into one Interface, the socket drained."""
    b = _iface(B_MAC, B_IP)
    sb = b.udp_socket()
    sb.bind((0, 7))
    dgram = UdpRepr(5000, 7).to_bytes(A_IP, B_IP, bytes(size))
    packet = Ipv4Repr(A_IP, B_IP, PROTO_UDP, len(dgram)).to_bytes(dgram)
    frame = bytes(EthernetRepr(B_MAC, A_MAC, 0x0800).to_bytes(packet))
    frames = 0
    start = time.perf_counter()
    deadline = start + seconds
    recv = b.receive
    while time.perf_counter() < deadline:
        for _ in range(256):
            recv(frame, 0.0)
        frames += 256
        while sb.pending:
            sb.recv_from()
    elapsed = time.perf_counter() - start
    return {"frames_per_s": frames / elapsed, "mib_per_s": frames * size / elapsed / 2**20}


SCENARIOS: dict[str, Callable[[float, int], dict[str, float]]] = {
    "udp-echo-memory": udp_echo_memory,
    "iface-rx-udp": iface_rx_udp,
}


def main(argv: list[str] | None = None) -> int:
    """Run the selected scenarios and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--size", type=int, default=64, help="UDP payload bytes")
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    for name in args.only or list(SCENARIOS):
        print(f"running {name} for {args.seconds:.0f} s ...", flush=True)
        results[name] = SCENARIOS[name](args.seconds, args.size)
    print(f"\n{'scenario':<20} {'frames/s':>12} {'MiB/s':>10}")
    for name, row in results.items():
        print(f"{name:<20} {row['frames_per_s']:>12,.0f} {row['mib_per_s']:>10.2f}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    meta = {"python": sys.version, "machine": platform.machine(), "payload": args.size}
    path.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
