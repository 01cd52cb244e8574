"""TCP bulk throughput over TAP against the kernel, with kernel-to-kernel over veth as ceiling.

    sudo /work/venv/bin/python bench/tcp_tap.py [--mib 64] [--runs 3] [--cpu 0] [--profile]

Scenarios (MTU 1500, no offloads, one usnet stack driven by tests/stack_driver.py's
background thread, the application on the main thread):
- kernel->usnet: a kernel client in the peer namespace sends MIB to a usnet listener;
- usnet->kernel: usnet connects to a kernel listener and sends MIB;
- kernel->kernel: two namespaces joined by a veth pair, a kernel client sends MIB to a
  kernel server (the ceiling; both ends are plain Python sockets with 1 MiB buffers).
Each runs `--runs` times; the median MiB/s is printed with the usnet/kernel ratio. The
clock starts after the handshake and stops when the receiver has read the last byte.

By default the whole process is pinned to one CPU (`--cpu`, -1 = no pinning): the
issue's figures are "single core", and the kernel's side of a TAP or veth runs in the
softirq of the CPU that writes to it, so everything shares that core.

`--profile` runs one extra kernel->usnet transfer under cProfile in the driver thread
(where all stack work happens) and prints the top functions by own and cumulative time;
`--pyinstrument` does the same with pyinstrument's sampling profiler (less distortion;
`pip install pyinstrument`), `--skip-bench` runs only the profile.
Not a test: it prints numbers and writes JSON with `--json`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pathlib
import pstats
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from netns_harness import KernelPeer, kernel_peer_session  # noqa: E402
from stack_driver import Driver  # noqa: E402
from usnet_backends.netns import NetnsScope, run_in_netns  # noqa: E402
from usnet_core import errors  # noqa: E402
from usnet_core.iface import Interface, InterfaceConfig  # noqa: E402
from usnet_core.tcp import State, TcpSocket  # noqa: E402
from usnet_core.wire.ipv4 import addr_from_str  # noqa: E402

MIB = 1 << 20
PORT = 5201
TIMEOUT = 60.0
CHUNK = bytes(range(256)) * 4096  # 1 MiB


def _iface(peer: KernelPeer) -> Interface:
    cfg = InterfaceConfig(
        mac=peer.usnet_mac,
        ipv4=addr_from_str(peer.usnet_ip),
        prefix_len=peer.prefix_len,
        gateway=addr_from_str(peer.host_ip),
        mtu=1500,
    )
    return Interface(cfg, entropy=os.urandom)


class ProfiledDriver(Driver):
    """A Driver whose loop thread runs under cProfile (or pyinstrument, when chosen)."""

    use_pyinstrument = False
    profiler: cProfile.Profile
    report = ""

    def _run(self) -> None:
        if self.use_pyinstrument:
            from pyinstrument import Profiler  # noqa: PLC0415 (optional dependency)

            sampler = Profiler(interval=0.0005)
            sampler.start()
            try:
                super()._run()
            finally:
                sampler.stop()
                self.report = sampler.output_text(unicode=False, color=False)
            return
        self.profiler = cProfile.Profile()
        self.profiler.runcall(super()._run)
        self.report = _profile_text(self.profiler)


class _Thread:
    """A helper thread whose result or exception `join` hands back."""

    def __init__(self, fn: Callable[[], float]) -> None:
        self._fn = fn
        self.result: float | None = None
        self.error: BaseException | None = None
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        try:
            self.result = self._fn()
        except BaseException as exc:  # re-raised by join
            self.error = exc

    def join(self) -> float:
        self._t.join(TIMEOUT)
        if self.error is not None:
            raise self.error
        if self.result is None:
            raise TimeoutError("helper thread did not finish")
        return self.result


def _wait(drv: Driver, pred: Callable[[], bool], what: str) -> None:
    if not drv.wait_for(pred, TIMEOUT):
        raise TimeoutError(f"timed out waiting for {what}")


def _usnet_recv_all(drv: Driver, sock: TcpSocket) -> int:
    buf = bytearray(MIB)
    total = 0

    def pull() -> int:
        try:
            return sock.recv_into(buf)
        except errors.WouldBlock:
            return -1

    while True:
        _wait(drv, lambda: sock.readable, "readable")
        n = drv.call(pull)
        if n == 0:
            return total
        if n > 0:
            total += n


def _usnet_send(drv: Driver, sock: TcpSocket, size: int) -> None:
    view = memoryview(CHUNK)
    left = size
    while left:
        chunk = view[: min(left, MIB)]
        off = 0
        while off < len(chunk):

            def push(off: int = off, chunk: memoryview = chunk) -> int:
                try:
                    return sock.send(chunk[off:])
                except errors.WouldBlock:
                    return 0

            _wait(drv, lambda: sock.writable, "writable")
            off += drv.call(push)
        left -= len(chunk)


def kernel_to_usnet(peer: KernelPeer, size: int, profile: bool = False) -> tuple[float, str]:
    """Seconds for `size` bytes kernel -> usnet; the profile text when asked."""
    iface = _iface(peer)
    drv: Driver = (ProfiledDriver if profile else Driver)(iface, peer.device)
    try:
        lst = drv.call(lambda: iface.tcp.listen((0, PORT), 4))
        client = peer.socket()
        client.settimeout(TIMEOUT)

        def send() -> float:
            client.connect((peer.usnet_ip, PORT))
            left = size
            while left:
                n = min(left, MIB)
                client.sendall(CHUNK[:n])
                left -= n
            client.shutdown(socket.SHUT_WR)
            return 0.0

        helper = _Thread(send)
        _wait(drv, lambda: lst.readable, "accept")
        sock = drv.call(lst.accept)
        start = time.perf_counter()
        got = _usnet_recv_all(drv, sock)
        elapsed = time.perf_counter() - start
        helper.join()
        if got != size:
            raise RuntimeError(f"received {got} of {size} bytes")
        drv.call(sock.close)
        client.close()
    finally:
        drv.close()
    text = drv.report if isinstance(drv, ProfiledDriver) else ""
    return elapsed, text


def usnet_to_kernel(peer: KernelPeer, size: int) -> float:
    """Seconds for `size` bytes usnet -> kernel (until the kernel read the last byte)."""
    iface = _iface(peer)
    drv = Driver(iface, peer.device)
    try:
        server = peer.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((peer.host_ip, PORT))
        server.listen(1)
        server.settimeout(TIMEOUT)

        def receive() -> float:
            conn, _ = server.accept()
            conn.settimeout(TIMEOUT)
            buf = bytearray(MIB)
            total = 0
            while n := conn.recv_into(buf):
                total += n
            if total != size:
                raise RuntimeError(f"kernel received {total} of {size} bytes")
            conn.close()
            return time.perf_counter()

        helper = _Thread(receive)
        sock = drv.call(
            lambda: iface.tcp.connect((addr_from_str(peer.host_ip), PORT), time.monotonic())
        )
        _wait(drv, lambda: sock.state is not State.SYN_SENT, "connect")
        start = time.perf_counter()
        _usnet_send(drv, sock, size)
        drv.call(lambda: sock.shutdown("write"))
        end = helper.join()
        drv.call(sock.close)
        server.close()
    finally:
        drv.close()
    return end - start


def kernel_to_kernel(size: int) -> float:
    """Seconds for `size` bytes between two namespaces over a veth pair (MTU 1500)."""
    with NetnsScope() as scope:
        ns_a, ns_b = scope.netns(), scope.netns()
        scope.veth_pair(ns_a, ns_b, ip_a="10.98.0.1", ip_b="10.98.0.2", mtu=1500)
        server = run_in_netns(ns_b, socket.socket, socket.AF_INET, socket.SOCK_STREAM)
        client = run_in_netns(ns_a, socket.socket, socket.AF_INET, socket.SOCK_STREAM)
        scope.callback(server.close)
        scope.callback(client.close)
        server.bind(("10.98.0.2", PORT))
        server.listen(1)
        server.settimeout(TIMEOUT)
        client.settimeout(TIMEOUT)

        def receive() -> float:
            conn, _ = server.accept()
            conn.settimeout(TIMEOUT)
            buf = bytearray(MIB)
            total = 0
            while n := conn.recv_into(buf):
                total += n
            conn.close()
            if total != size:
                raise RuntimeError(f"received {total} of {size} bytes")
            return time.perf_counter()

        helper = _Thread(receive)
        client.connect(("10.98.0.2", PORT))
        start = time.perf_counter()
        left = size
        while left:
            n = min(left, MIB)
            client.sendall(CHUNK[:n])
            left -= n
        client.shutdown(socket.SHUT_WR)
        end = helper.join()
    return end - start


def _profile_text(profiler: cProfile.Profile, top: int = 15) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs()
    out.write("--- by own time (tottime)\n")
    stats.sort_stats("tottime").print_stats(top)
    out.write("--- by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=64, help="MiB per transfer (64)")
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (3)")
    parser.add_argument("--cpu", type=int, default=0, help="pin to this CPU; -1: do not pin")
    parser.add_argument("--profile", action="store_true", help="cProfile kernel->usnet")
    parser.add_argument(
        "--pyinstrument", action="store_true", help="profile with pyinstrument instead"
    )
    parser.add_argument("--skip-bench", action="store_true", help="only the profile")
    parser.add_argument("--json", type=pathlib.Path, help="write the results here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root: creates network namespaces, a TAP and a veth pair", file=sys.stderr)
        return 2
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})
    size = args.mib * MIB
    times: dict[str, list[float]] = {"kernel->usnet": [], "usnet->kernel": [], "kernel->kernel": []}
    for _ in range(0 if args.skip_bench else args.runs):
        with kernel_peer_session() as peer:
            times["kernel->usnet"].append(kernel_to_usnet(peer, size)[0])
        with kernel_peer_session() as peer:
            times["usnet->kernel"].append(usnet_to_kernel(peer, size))
        times["kernel->kernel"].append(kernel_to_kernel(size))
    result: dict[str, object] = {
        "mib": args.mib,
        "runs": args.runs,
        "cpu": args.cpu,
        "python": sys.version.split()[0],
    }
    if not args.skip_bench:
        _table(args, size, times, result)
    if args.profile or args.pyinstrument:
        ProfiledDriver.use_pyinstrument = args.pyinstrument
        with kernel_peer_session() as peer:
            elapsed, text = kernel_to_usnet(peer, size, profile=True)
        tool = "pyinstrument" if args.pyinstrument else "cProfile"
        print(f"\nkernel->usnet under {tool}: {size / MIB / elapsed:.1f} MiB/s (driver thread)")
        print(text)
        result["profile_kernel_to_usnet"] = text
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _table(
    args: argparse.Namespace,
    size: int,
    times: dict[str, list[float]],
    result: dict[str, object],
) -> None:
    ceiling = size / MIB / statistics.median(times["kernel->kernel"])
    print(f"TCP bulk, MTU 1500, {args.mib} MiB per run, median of {args.runs}, cpu {args.cpu}")
    print(f"{'scenario':<16}{'MiB/s':>10}{'runs (MiB/s)':>34}{'vs kernel':>12}")
    for name, secs in times.items():
        rates = [size / MIB / s for s in secs]
        median = statistics.median(rates)
        result[name] = {"median_mib_s": median, "runs_mib_s": rates}
        runs = ", ".join(f"{r:.1f}" for r in rates)
        print(f"{name:<16}{median:>10.1f}{runs:>34}{median / ceiling:>11.1%}")


if __name__ == "__main__":
    sys.exit(main())
