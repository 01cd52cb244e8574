"""usnet TCP against the Linux kernel over TAP (issue 3, "Proof": the kernel as peer).

Every test runs in a private namespace (the `kernel_peer` fixture): the kernel at 10.99.0.1
on a TAP, usnet at 10.99.0.2 driven by the background-thread `stack_driver`. Kernel sockets
live in that namespace and run on helper threads (`Task`), always with a socket
timeout; every test also runs under a watchdog (`TEST_BUDGET` seconds) that fails it
instead of letting a bug hang the suite.

- bulk: SHA-256-checked transfers in each direction with either side opening, also with
  a seeded FaultInjector dropping 1% and reordering 1% of frames;
- close interplay: who closes first, simultaneous close, half-close both ways, RST both
  ways, refused connections both ways, TIME-WAIT on the side that closed first (for the
  kernel read from /proc/net/tcp inside the namespace);
- options: the SYN/SYN-ACK exchange recorded with a PcapWriter and parsed here with an
  independent parser; usnet must honour the kernel's MSS, window scale, SACK-permitted and
  timestamps (and their absence), and the kernel's TCP_INFO must agree;
- loss recovery seen from the wire: deterministic drops (`DropSeq`) and random ones,
  checked against RFC 6675 (fast retransmit on SACKed duplicate ACKs, no resending of
  SACKed data);
- flow control and the rest: zero windows both ways, keep-alive both ways, ping-pong
  latency, short connections, a full backlog, urgent data.

Bugs these tests found are in docs/tcp-kernel-findings.md; while a bug is open its test
is a strict xfail naming the section (none is open right now).

Sizes: `USNET_TCP_BULK_MIB` (default 8) for the ordinary bulk tests; the `long` variants
move 100 MiB (times `USNET_LONG_SCALE`, default 1) each way.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import random
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Generic, TypeVar

import pytest
from netns_harness import KernelPeer
from stack_driver import Driver, driving
from usnet_backends.device import Device, DeviceWrapper, Frame
from usnet_backends.fault import FaultInjector
from usnet_backends.pcap import PcapWriter, read_pcap
from usnet_core import errors
from usnet_core.iface import Interface, InterfaceConfig
from usnet_core.tcp import State, TcpListener, TcpSocket
from usnet_core.wire.ipv4 import addr_from_str

pytestmark = pytest.mark.root

T = TypeVar("T")

MIB = 1 << 20
TEST_BUDGET = 55.0  # seconds per test, enforced by `watchdog`
LONG_BUDGET = 58.0  # the 100 MiB variants take 4-30 s here
KTIMEOUT = 10.0  # kernel socket timeout
BULK_MIB = float(os.environ.get("USNET_TCP_BULK_MIB", "8"))
LONG_MIB = 100 * float(os.environ.get("USNET_LONG_SCALE", "1"))
FAULT_MIB = BULK_MIB
LOSSY = {"drop": 0.01, "reorder": 0.01}

PORT = 5001
CLOSED_PORT = 5999

# /proc/net/tcp "st" column (include/net/tcp_states.h)
K_ESTABLISHED, K_FIN_WAIT2, K_TIME_WAIT, K_CLOSE_WAIT, K_LAST_ACK, K_CLOSING = (
    1,
    5,
    6,
    8,
    9,
    11,
)

# TCP flags and option kinds for the independent trace parser.
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
TCPI_OPT_TIMESTAMPS, TCPI_OPT_SACK, TCPI_OPT_WSCALE = 1, 2, 4


# --------------------------------------------------------------------------- watchdog


class TestTimeout(Exception):
    """The test ran past its budget (raised in the main thread by SIGALRM)."""

    __test__ = False


@contextlib.contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    """Raise TestTimeout in the main thread after `seconds`; interrupts blocking waits."""

    def fire(signum: int, frame: FrameType | None) -> None:
        raise TestTimeout(f"test exceeded its {seconds:.0f} s budget")

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------- kernel side


class Task(Generic[T]):
    """Run `fn` (kernel socket work, or usnet work through the driver) on a daemon thread;
    `result()` joins and re-raises."""

    def __init__(self, fn: Callable[[], T], name: str = "test-task") -> None:
        self._fn = fn
        self._box: list[T] = []
        self._err: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._box.append(self._fn())
        except BaseException as exc:  # re-raised by result()
            self._err.append(exc)

    def done(self) -> bool:
        """Whether the function returned or raised."""
        return not self._thread.is_alive()

    def result(self, timeout: float = 30.0) -> T:
        """The function's return value; its exception re-raised; TimeoutError if still running."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("kernel-side task did not finish")
        if self._err:
            raise self._err[0]
        return self._box[0]


def pattern(seed: int, size: int, chunk: int = MIB) -> Iterator[bytes]:
    """`size` pseudo-random bytes from `seed`, in chunks (cheap: random.randbytes is C)."""
    rng = random.Random(seed)
    left = size
    while left > 0:
        n = min(chunk, left)
        yield rng.randbytes(n)
        left -= n


def kernel_send(sock: socket.socket, seed: int, size: int) -> bytes:
    """Send the pattern on a kernel socket; return its SHA-256."""
    h = hashlib.sha256()
    for chunk in pattern(seed, size):
        sock.sendall(chunk)
        h.update(chunk)
    return h.digest()


def kernel_send_close(sock: socket.socket, seed: int, size: int) -> bytes:
    """kernel_send, then close the socket (FIN after the data)."""
    digest = kernel_send(sock, seed, size)
    sock.close()
    return digest


def kernel_recv(sock: socket.socket) -> tuple[int, bytes]:
    """Read a kernel socket to EOF; return (byte count, SHA-256)."""
    h = hashlib.sha256()
    buf = bytearray(MIB)
    view = memoryview(buf)
    total = 0
    while True:
        n = sock.recv_into(buf)
        if n == 0:
            return total, h.digest()
        h.update(view[:n])
        total += n


def kernel_tcp_table(peer: KernelPeer) -> list[tuple[tuple[str, int], tuple[str, int], int]]:
    """The namespace's /proc/net/tcp: [((local ip, port), (remote ip, port), state)]."""

    def read() -> str:
        # /proc/self/net would show the main thread's namespace; this thread is in the peer's.
        with open("/proc/thread-self/net/tcp") as f:
            return f.read()

    def addr(text: str) -> tuple[str, int]:
        ip, port = text.split(":")
        return socket.inet_ntoa(struct.pack("<I", int(ip, 16))), int(port, 16)

    rows = []
    for line in _in_netns(peer, read).splitlines()[1:]:
        cols = line.split()
        rows.append((addr(cols[1]), addr(cols[2]), int(cols[3], 16)))
    return rows


def _in_netns(peer: KernelPeer, fn: Callable[[], T]) -> T:
    box: list[T] = []

    def runner() -> None:
        with peer.enter():
            box.append(fn())

    thread = threading.Thread(target=runner, daemon=True)
    thread.start()
    thread.join(5)
    return box[0]


def kernel_state(peer: KernelPeer, kernel_port: int, usnet_port: int) -> int | None:
    """The kernel's state of the connection kernel_port <-> usnet_port, None if gone."""
    for local, remote, st in kernel_tcp_table(peer):
        if local == (peer.host_ip, kernel_port) and remote == (peer.usnet_ip, usnet_port):
            return st
    return None


def tcp_info(sock: socket.socket) -> dict[str, int]:
    """The fields of struct tcp_info (linux/tcp.h) these tests need."""
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    state, _ca, _retr, _probes, _backoff, options, wscale, _flags = struct.unpack_from("8B", raw)
    _rto, _ato, snd_mss, rcv_mss = struct.unpack_from("4I", raw, 8)
    return {
        "state": state,
        "options": options,
        "snd_wscale": wscale & 0x0F,
        "rcv_wscale": wscale >> 4,
        "snd_mss": snd_mss,
        "rcv_mss": rcv_mss,
    }


# --------------------------------------------------------------------------- usnet side


def _iface(peer: KernelPeer) -> Interface:
    cfg = InterfaceConfig(
        mac=peer.usnet_mac,
        ipv4=addr_from_str(peer.usnet_ip),
        prefix_len=peer.prefix_len,
        gateway=addr_from_str(peer.host_ip),
        mtu=1500,
    )
    return Interface(cfg, entropy=os.urandom, strict=True)


@dataclass
class Rig:
    """One usnet Interface driven over the (possibly wrapped) TAP of a kernel peer."""

    peer: KernelPeer
    iface: Interface
    drv: Driver
    device: Device
    fault: FaultInjector | None = None
    pcap: io.BytesIO | None = None
    deadline: float = field(default_factory=lambda: time.monotonic() + TEST_BUDGET)

    @property
    def host(self) -> int:
        """The kernel's address as usnet's int."""
        return addr_from_str(self.peer.host_ip)

    def ksock(self) -> socket.socket:
        """A kernel TCP socket in the peer namespace, with a timeout."""
        sock = self.peer.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(KTIMEOUT)
        return sock

    def klisten(self, port: int = PORT) -> socket.socket:
        """A kernel listener on the kernel's address."""
        sock = self.ksock()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.peer.host_ip, port))
        sock.listen(8)
        return sock

    def _left(self, timeout: float) -> float:
        left = min(timeout, self.deadline - time.monotonic())
        if left <= 0:
            raise TimeoutError("out of time")
        return left

    def wait(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        """Wait (under the stack lock) until `predicate()`; fail with `what` on timeout."""
        if not self.drv.wait_for(predicate, self._left(timeout)):
            if self.drv.error is not None:
                raise AssertionError("driver died") from self.drv.error
            raise AssertionError(f"timed out waiting for {what or predicate}")

    def ulisten(self, port: int = PORT, backlog: int = 8) -> TcpListener:
        """A usnet listener on every local address."""
        return self.drv.call(lambda: self.iface.tcp.listen((0, port), backlog))

    def uaccept(self, lst: TcpListener, timeout: float = 10.0) -> TcpSocket:
        """The next established connection from `lst`."""
        self.wait(lambda: lst.readable, timeout, "accept")
        return self.drv.call(lst.accept)

    def uconnect(self, port: int = PORT, timeout: float = 10.0) -> TcpSocket:
        """A usnet connection to the kernel, once established (its error raised otherwise)."""
        sock = self.drv.call(lambda: self.iface.tcp.connect((self.host, port), time.monotonic()))
        self.wait(lambda: sock.state is not State.SYN_SENT, timeout, "connect")
        if sock.error is not None:
            raise sock.error
        return sock

    def usend(self, sock: TcpSocket, data: bytes | memoryview, timeout: float = 30.0) -> None:
        """Send every byte of `data` (waiting for buffer room)."""
        view = memoryview(data)
        off = 0

        def push() -> int:
            try:
                return sock.send(view[off:])
            except errors.WouldBlock:
                return 0

        while off < len(view):
            self.wait(lambda: sock.writable, timeout, "writable")
            off += self.drv.call(push)

    def usend_pattern(self, sock: TcpSocket, seed: int, size: int) -> bytes:
        """Send the pattern from usnet; return its SHA-256."""
        h = hashlib.sha256()
        for chunk in pattern(seed, size):
            self.usend(sock, chunk)
            h.update(chunk)
        return h.digest()

    def urecv_some(self, sock: TcpSocket, buf: bytearray, timeout: float = 10.0) -> int:
        """One recv_into once readable (0 = EOF); errors (reset...) raised."""

        def pull() -> int:
            try:
                return sock.recv_into(buf)
            except errors.WouldBlock:
                return -1

        while True:
            self.wait(lambda: sock.readable, timeout, "readable")
            n = self.drv.call(pull)
            if n >= 0:
                return n

    def urecv_all(self, sock: TcpSocket, timeout: float = 10.0) -> tuple[int, bytes]:
        """Read to EOF; return (byte count, SHA-256)."""
        h = hashlib.sha256()
        buf = bytearray(MIB)
        view = memoryview(buf)
        total = 0
        while True:
            n = self.urecv_some(sock, buf, timeout)
            if n == 0:
                return total, h.digest()
            h.update(view[:n])
            total += n

    def urecv_exact(self, sock: TcpSocket, n: int, timeout: float = 10.0) -> bytes:
        """Exactly n bytes (AssertionError on an early EOF)."""
        out = bytearray(n)
        view = memoryview(out)
        got = 0
        while got < n:
            step = self.urecv_some(sock, view[got:], timeout)  # type: ignore[arg-type]
            assert step, f"EOF after {got} of {n} bytes"
            got += step
        return bytes(out)

    def state(self, sock: TcpSocket) -> State:
        """The socket's state, read under the stack lock."""
        return self.drv.call(lambda: sock.state)

    def trace(self) -> list[Seg]:
        """The TCP segments recorded so far (needs `pcap=True`)."""
        assert self.pcap is not None, "rig made without pcap"
        data = self.pcap.getvalue()
        return [
            seg
            for t, frame in read_pcap(io.BytesIO(data))
            if (seg := parse_segment(t, frame, self.peer.usnet_ip)) is not None
        ]


@contextlib.contextmanager
def rig_session(
    peer: KernelPeer,
    *,
    fault: dict[str, float] | None = None,
    seed: int | str = 1,
    pcap: bool = False,
    wrap: Callable[[Device], Device] | None = None,
    budget: float = TEST_BUDGET,
) -> Iterator[Rig]:
    """A Rig for the `with` block, under a watchdog; wrappers: Pcap(Fault(wrap(TAP)))."""
    with watchdog(budget):
        device: Device = peer.device
        if wrap is not None:
            device = wrap(device)
        injector = None
        if fault is not None:
            injector = FaultInjector(
                device,
                seed,
                drop=fault.get("drop", 0.0),
                reorder=fault.get("reorder", 0.0),
                duplicate=fault.get("duplicate", 0.0),
                corrupt=fault.get("corrupt", 0.0),
            )
            device = injector
        record = None
        if pcap:
            record = io.BytesIO()
            device = PcapWriter(device, record, snaplen=128)
        iface = _iface(peer)
        with driving(iface, device) as drv:
            yield Rig(peer, iface, drv, device, injector, record, time.monotonic() + budget - 3)
        # Not closing the wrappers: they would close the TAP, which the fixture owns.


@pytest.fixture
def rig(kernel_peer: KernelPeer) -> Iterator[Rig]:
    """A plain Rig (no faults, no capture)."""
    with rig_session(kernel_peer) as r:
        yield r


def _in_state(sock: TcpSocket, state: State) -> bool:
    return sock.state is state


def connect_pair(rig: Rig, opener: str, port: int = PORT) -> tuple[TcpSocket, socket.socket]:
    """An established (usnet socket, kernel socket) pair; `opener` is who connects."""
    if opener == "kernel":
        lst = rig.ulisten(port)
        ks = rig.ksock()
        task = Task(lambda: ks.connect((rig.peer.usnet_ip, port)))
        us = rig.uaccept(lst)
        task.result(KTIMEOUT)
        return us, ks
    kl = rig.klisten(port)
    accept = Task(kl.accept)
    us = rig.uconnect(port)
    conn, _ = accept.result(KTIMEOUT)
    conn.settimeout(KTIMEOUT)
    return us, conn


# --------------------------------------------------------------------------- trace parser


@dataclass(frozen=True, slots=True)
class Seg:
    """One TCP segment of a trace, from usnet's point of view (`out`: sent by usnet)."""

    t: float
    out: bool
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    plen: int
    mss: int | None = None
    ws: int | None = None
    sack_perm: bool = False
    sack: tuple[tuple[int, int], ...] = ()
    ts: tuple[int, int] | None = None
    kinds: tuple[int, ...] = ()  # every option kind present, in order

    @property
    def seg_len(self) -> int:
        """Sequence space used: payload plus SYN and FIN."""
        return self.plen + (1 if self.flags & SYN else 0) + (1 if self.flags & FIN else 0)


def parse_segment(t: float, frame: bytes, usnet_ip: str) -> Seg | None:
    """Parse an Ethernet/IPv4/TCP frame (headers only are needed), else None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[9] != 6:
        return None
    total = struct.unpack_from("!H", ip, 2)[0]
    src = socket.inet_ntoa(ip[12:16])
    tcp = ip[ihl:]
    sport, dport, seq, ack, off, flags, window = struct.unpack_from("!HHIIBBH", tcp)
    hlen = (off >> 4) * 4
    opts = tcp[20:hlen]
    mss = ws = None
    sack_perm = False
    sack: list[tuple[int, int]] = []
    ts = None
    kinds = []
    i = 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        kinds.append(kind)
        length = opts[i + 1]
        body = opts[i + 2 : i + length]
        if kind == 2:
            mss = struct.unpack("!H", body)[0]
        elif kind == 3:
            ws = body[0]
        elif kind == 4:
            sack_perm = True
        elif kind == 5:
            sack = [struct.unpack_from("!II", body, j) for j in range(0, len(body), 8)]
        elif kind == 8:
            ts = struct.unpack("!II", body)
        i += max(length, 2)
    return Seg(
        t,
        src == usnet_ip,
        sport,
        dport,
        seq,
        ack,
        flags,
        window,
        total - ihl - hlen,
        mss,
        ws,
        sack_perm,
        tuple(sack),
        ts,
        tuple(kinds),
    )


def _d(a: int, b: int) -> int:
    return ((a - b + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000


def fmt(seg: Seg) -> str:
    """tcpdump-like one-liner (relative sequence numbers are not used: keep it raw)."""
    names = "".join(
        n for bit, n in ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P")) if seg.flags & bit
    )
    names += "." if seg.flags & ACK else ""
    opts = []
    if seg.mss is not None:
        opts.append(f"mss {seg.mss}")
    if seg.ws is not None:
        opts.append(f"wscale {seg.ws}")
    if seg.sack_perm:
        opts.append("sackOK")
    if seg.ts is not None:
        opts.append(f"TS val {seg.ts[0]} ecr {seg.ts[1]}")
    if seg.sack:
        opts.append("sack " + " ".join(f"{a}:{b}" for a, b in seg.sack))
    arrow = "usnet > kernel" if seg.out else "kernel > usnet"
    return f"{arrow} [{names}] seq {seg.seq} ack {seg.ack} win {seg.window} len {seg.plen}" + (
        f" [{', '.join(opts)}]" if opts else ""
    )


def handshake(trace: list[Seg]) -> tuple[Seg, Seg]:
    """The first SYN and the SYN-ACK answering it."""
    syn = next(s for s in trace if s.flags & (SYN | ACK) == SYN)
    synack = next(s for s in trace if s.flags & (SYN | ACK) == SYN | ACK and s.out != syn.out)
    return syn, synack


class DropSeq(DeviceWrapper):
    """Wraps a Device; for each `offset: times` in `drops`, drops the first `times`
    outgoing usnet data segments that carry byte `offset` of the stream (counted from
    usnet's SYN): deterministic losses, also of retransmissions."""

    def __init__(self, inner: Device, usnet_ip: str, drops: dict[int, int]) -> None:
        self.inner = inner
        self.usnet_ip = usnet_ip
        self.left = dict(drops)
        self.dropped = 0
        self._isn: int | None = None

    def recv_batch(self, limit: int = 64) -> list[bytes]:
        """Frames from the wrapped device, untouched."""
        return self.inner.recv_batch(limit)

    def _drop(self, frame: Frame) -> bool:
        seg = parse_segment(0.0, bytes(frame[:128]), self.usnet_ip)
        if seg is None or not seg.out:
            return False
        if seg.flags & SYN:
            self._isn = seg.seq
            return False
        if self._isn is None or not seg.plen:
            return False
        start = (seg.seq - self._isn - 1) & 0xFFFF_FFFF
        for offset, times in self.left.items():
            if times and start <= offset < start + seg.plen:
                self.left[offset] = times - 1
                self.dropped += 1
                return True
        return False

    def send_batch(self, frames: Iterable[Frame]) -> None:
        """Send every frame but the ones to drop."""
        self.inner.send_batch([f for f in frames if not self._drop(f)])


class DropZeroWindowAck(DropSeq):
    """Drops usnet's first outgoing segment advertising a zero window (and nothing else)."""

    def __init__(self, inner: Device, usnet_ip: str) -> None:
        super().__init__(inner, usnet_ip, {})

    def _drop(self, frame: Frame) -> bool:
        seg = parse_segment(0.0, bytes(frame[:128]), self.usnet_ip)
        if seg is None or not seg.out or seg.flags & SYN or self.dropped:
            return False
        if seg.window == 0 and not seg.plen:
            self.dropped += 1
            return True
        return False


# =========================================================================== 1./2. bulk, lossy bulk


def _bulk(rig: Rig, opener: str, direction: str, size: int) -> None:
    """Move `size` bytes per requested direction at once; compare SHA-256 on both ends.

    Four flows run concurrently: the kernel sends (then SHUT_WR) and reads to EOF on
    helper threads, usnet sends (then shutdown("write")) on a helper thread and reads to
    EOF on this one."""
    us, ks = connect_pair(rig, opener)
    k2u = size if direction in ("to_usnet", "both") else 0
    u2k = size if direction in ("to_kernel", "both") else 0

    def kernel_sender() -> bytes:
        digest = kernel_send(ks, 11, k2u)
        ks.shutdown(socket.SHUT_WR)
        return digest

    def usnet_sender() -> bytes:
        digest = rig.usend_pattern(us, 22, u2k)
        rig.drv.call(lambda: us.shutdown("write"))
        return digest

    ksend = Task(kernel_sender, "kernel-send")
    krecv = Task(lambda: kernel_recv(ks), "kernel-recv")
    usend = Task(usnet_sender, "usnet-send")
    got, digest = rig.urecv_all(us, timeout=20.0)
    assert (got, digest) == (k2u, ksend.result(TEST_BUDGET))
    sent_digest = usend.result(TEST_BUDGET)
    assert krecv.result(TEST_BUDGET) == (u2k, sent_digest)
    # Both sides shut down writing and read EOF: the connection winds down cleanly.
    rig.drv.call(us.close)
    ks.close()
    rig.wait(lambda: us.closed, 5.0, "usnet socket closed")
    assert us.error is None


OPENERS = ["kernel", "usnet"]
DIRECTIONS = ["to_usnet", "to_kernel", "both"]


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("opener", OPENERS)
def test_bulk(rig: Rig, opener: str, direction: str) -> None:
    """BULK_MIB each requested way, checked by SHA-256; `opener` connects."""
    _bulk(rig, opener, direction, int(BULK_MIB * MIB))


@pytest.mark.long
@pytest.mark.parametrize("direction", ["to_usnet", "to_kernel"])
@pytest.mark.parametrize("opener", OPENERS)
def test_bulk_100mib(kernel_peer: KernelPeer, opener: str, direction: str) -> None:
    """The issue's 100 MiB each way (USNET_LONG_SCALE scales it)."""
    with rig_session(kernel_peer, budget=LONG_BUDGET) as r:
        _bulk(r, opener, direction, int(LONG_MIB * MIB))


@pytest.mark.long
@pytest.mark.parametrize("direction", ["to_usnet", "to_kernel"])
@pytest.mark.parametrize("opener", OPENERS)
def test_bulk_lossy_100mib(kernel_peer: KernelPeer, opener: str, direction: str) -> None:
    """The issue's 100 MiB each way through 1% drop and 1% reorder."""
    with rig_session(kernel_peer, fault=LOSSY, seed=100, budget=LONG_BUDGET) as r:
        _bulk(r, opener, direction, int(LONG_MIB * MIB))


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("opener", OPENERS)
def test_bulk_lossy(kernel_peer: KernelPeer, opener: str, direction: str) -> None:
    """1% drop and 1% reorder (seeded) on usnet's device, both directions: still exact."""
    with rig_session(kernel_peer, fault=LOSSY, seed=f"{opener}-{direction}") as r:
        _bulk(r, opener, direction, int(FAULT_MIB * MIB))
        assert r.fault is not None
        rx, tx = r.fault.rx_counters, r.fault.tx_counters
        # The fault model really bit in the direction(s) carrying data.
        data_dir = rx if direction == "to_usnet" else tx
        assert data_dir.dropped > 0
        assert data_dir.reordered > 0
        if direction != "to_usnet":
            assert r.iface.tcp.stats.retransmits > 0


# =========================================================================== 3. closing


def test_data_after_kernel_close_draws_reset(rig: Rig) -> None:
    """The kernel close()s (FIN) and is gone for reading: usnet, in CLOSE-WAIT, still
    sends; Linux answers data to a closed socket with RST, which usnet reports as
    ConnectionReset on its next call; the kernel's socket is gone."""
    us, ks = connect_pair(rig, "kernel")
    kport = ks.getsockname()[1]
    ks.sendall(b"last words")
    ks.close()
    assert rig.urecv_exact(us, 10) == b"last words"
    assert rig.urecv_some(us, bytearray(16)) == 0
    assert rig.state(us) is State.CLOSE_WAIT
    rig.usend(us, b"reply after FIN")  # allowed in CLOSE-WAIT
    rig.wait(lambda: us.state is State.CLOSED, 5.0, "the kernel's RST")
    assert isinstance(us.error, errors.ConnectionReset)
    with pytest.raises(ConnectionResetError):
        rig.drv.call(lambda: us.send(b"more"))
    assert rig.iface.tcp.stats.resets_received == 1
    assert kernel_state(rig.peer, kport, PORT) is None


def test_kernel_closes_first_graceful(rig: Rig) -> None:
    """Kernel shutdown+close with nothing in flight: usnet LAST-ACK -> CLOSED, the kernel
    in TIME-WAIT, usnet's table empty."""
    us, ks = connect_pair(rig, "kernel")
    kport = ks.getsockname()[1]
    ks.sendall(b"bye")
    ks.close()
    assert rig.urecv_exact(us, 3) == b"bye"
    assert rig.urecv_some(us, bytearray(16)) == 0
    assert rig.state(us) is State.CLOSE_WAIT
    rig.drv.call(us.close)
    rig.wait(lambda: us.state is State.CLOSED, 5.0, "LAST-ACK -> CLOSED")
    assert us.error is None
    assert rig.drv.call(lambda: rig.iface.tcp.connections) == 0
    assert kernel_state(rig.peer, kport, PORT) == K_TIME_WAIT


@pytest.mark.parametrize("opener", OPENERS)
def test_usnet_closes_first(rig: Rig, opener: str) -> None:
    """usnet FIN first: FIN-WAIT-1/2, the kernel reads EOF (CLOSE-WAIT), closes; usnet holds
    TIME-WAIT and the kernel's socket is gone."""
    us, ks = connect_pair(rig, opener)
    kport = ks.getsockname()[1]
    uport = us.local[1]
    rig.usend(us, b"goodbye")
    rig.drv.call(us.close)
    assert ks.recv(100) == b"goodbye"
    assert ks.recv(100) == b""
    rig.wait(lambda: us.state is State.FIN_WAIT_2, 5.0, "FIN-WAIT-2")
    assert kernel_state(rig.peer, kport, uport) == K_CLOSE_WAIT
    ks.close()
    rig.wait(lambda: us.state is State.TIME_WAIT, 5.0, "TIME-WAIT")
    assert us.error is None
    # TIME-WAIT keeps the 4-tuple (2 MSL); the kernel's LAST-ACK ended in CLOSED.
    assert rig.drv.call(lambda: rig.iface.tcp.connections) == 1
    deadline = time.monotonic() + 3
    while kernel_state(rig.peer, kport, uport) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert kernel_state(rig.peer, kport, uport) is None


@pytest.mark.parametrize("opener", OPENERS)
def test_simultaneous_close(kernel_peer: KernelPeer, opener: str) -> None:
    """Both FINs cross on the wire (neither acknowledges the other's): both sides pass
    CLOSING and both end in TIME-WAIT."""
    with rig_session(kernel_peer, pcap=True) as rig:
        us, ks = connect_pair(rig, opener)
        kport, uport = ks.getsockname()[1], us.local[1]

        # Under the stack lock the driver cannot read the kernel's FIN before ours is out.
        def both_close() -> None:
            ks.close()  # the kernel's FIN is now queued on the TAP, unread
            us.close()
            rig.device.send_batch(rig.iface.transmit(time.monotonic()))

        rig.drv.call(both_close)
        rig.wait(lambda: us.state is State.TIME_WAIT, 5.0, "usnet TIME-WAIT")
        assert us.error is None
        deadline = time.monotonic() + 3
        while kernel_state(rig.peer, kport, uport) != K_TIME_WAIT and time.monotonic() < deadline:
            time.sleep(0.02)
        assert kernel_state(rig.peer, kport, uport) == K_TIME_WAIT
        fins = [s for s in rig.trace() if s.flags & FIN]
        ufin = next(s for s in fins if s.out)
        kfin = next(s for s in fins if not s.out)
        # The FINs crossed: neither acknowledges the other.
        assert _d(ufin.ack, kfin.seq) <= 0, fmt(ufin)
        assert _d(kfin.ack, ufin.seq) <= 0, fmt(kfin)


def test_half_close_usnet_shuts_write(rig: Rig) -> None:
    """usnet shutdown(write) after a request, then reads the kernel's whole reply."""
    us, ks = connect_pair(rig, "usnet")
    request = os.urandom(100_000)
    reply_size = 3 * MIB

    def kernel_side() -> bytes:
        got = bytearray()
        while chunk := ks.recv(65536):
            got += chunk
        assert bytes(got) == request
        digest = kernel_send(ks, 5, reply_size)
        ks.close()
        return digest

    task = Task(kernel_side)
    rig.usend(us, request)
    rig.drv.call(lambda: us.shutdown("write"))
    assert rig.state(us) in (State.FIN_WAIT_1, State.FIN_WAIT_2)
    count, digest = rig.urecv_all(us)
    assert (count, digest) == (reply_size, task.result())
    rig.wait(lambda: us.state is State.TIME_WAIT, 5.0, "TIME-WAIT")
    with pytest.raises(BrokenPipeError):
        rig.drv.call(lambda: us.send(b"x"))


def test_half_close_kernel_shuts_write(rig: Rig) -> None:
    """Kernel SHUT_WR after a request; usnet reads EOF (CLOSE-WAIT), then sends its reply,
    which the kernel reads in full before usnet's FIN."""
    us, ks = connect_pair(rig, "kernel")
    request = os.urandom(50_000)
    ks.sendall(request)
    ks.shutdown(socket.SHUT_WR)
    assert rig.urecv_exact(us, len(request)) == request
    assert rig.urecv_some(us, bytearray(16)) == 0
    assert rig.state(us) is State.CLOSE_WAIT
    reader = Task(lambda: kernel_recv(ks))
    digest = rig.usend_pattern(us, 9, 3 * MIB)
    rig.drv.call(us.close)
    assert reader.result() == (3 * MIB, digest)
    rig.wait(lambda: us.state is State.CLOSED, 5.0, "LAST-ACK -> CLOSED")
    assert us.error is None


@pytest.mark.parametrize("opener", OPENERS)
def test_kernel_rst_reports_connection_reset(rig: Rig, opener: str) -> None:
    """SO_LINGER 0 close on the kernel side: usnet's recv raises ConnectionReset."""
    us, ks = connect_pair(rig, opener)
    ks.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ks.close()
    rig.wait(lambda: us.readable, 5.0, "reset noticed")
    with pytest.raises(ConnectionResetError):
        rig.drv.call(lambda: us.recv_into(bytearray(10)))
    assert rig.state(us) is State.CLOSED
    assert rig.iface.tcp.stats.resets_received >= 1
    assert rig.drv.call(lambda: rig.iface.tcp.connections) == 0


def test_kernel_rst_while_usnet_sends(rig: Rig) -> None:
    """A reset arriving while usnet has data queued: send raises ConnectionReset (once),
    then BrokenPipe."""
    us, ks = connect_pair(rig, "usnet")
    ks.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    blob = os.urandom(256 * 1024)
    rig.drv.call(lambda: us.send(blob))
    ks.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ks.close()
    rig.wait(lambda: us.state is State.CLOSED, 5.0, "reset noticed")
    with pytest.raises(ConnectionResetError):
        rig.drv.call(lambda: us.send(b"more"))
    with pytest.raises(BrokenPipeError):
        rig.drv.call(lambda: us.send(b"more"))


@pytest.mark.parametrize("opener", OPENERS)
def test_usnet_abort_resets_kernel(rig: Rig, opener: str) -> None:
    """usnet abort(): the kernel's recv fails with ECONNRESET."""
    us, ks = connect_pair(rig, opener)
    reader = Task(lambda: ks.recv(100))
    time.sleep(0.05)  # let the kernel block in recv
    rig.drv.call(us.abort)
    with pytest.raises(ConnectionResetError):
        reader.result(KTIMEOUT)
    assert rig.state(us) is State.CLOSED


def test_usnet_close_with_unread_data_resets(rig: Rig) -> None:
    """close() with unread received data resets the connection (RFC 2525 2.17, as Linux)."""
    us, ks = connect_pair(rig, "kernel")
    ks.sendall(b"never read")
    rig.wait(lambda: us.readable, 5.0, "data arrived")
    rig.drv.call(us.close)
    with pytest.raises(ConnectionResetError):
        ks.recv(100)


def test_connect_to_closed_kernel_port_refused(rig: Rig) -> None:
    """The kernel answers our SYN with RST: ConnectionRefused, quickly."""
    start = time.monotonic()
    sock = rig.drv.call(lambda: rig.iface.tcp.connect((rig.host, CLOSED_PORT), time.monotonic()))
    rig.wait(lambda: sock.state is State.CLOSED, 2.0, "refusal")
    assert time.monotonic() - start < 1.0
    assert isinstance(sock.error, errors.ConnectionRefused)
    with pytest.raises(ConnectionRefusedError):
        rig.drv.call(lambda: sock.recv_into(bytearray(1)))


def test_kernel_connect_to_closed_usnet_port_refused(rig: Rig) -> None:
    """usnet answers the kernel's SYN to a closed port with RST: ECONNREFUSED, quickly."""
    ks = rig.ksock()
    start = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        ks.connect((rig.peer.usnet_ip, CLOSED_PORT))
    assert time.monotonic() - start < 1.0
    assert rig.iface.tcp.stats.rsts_sent >= 1


def test_kernel_reconnects_over_usnet_time_wait(rig: Rig) -> None:
    """usnet (server) closed first and holds TIME-WAIT; the kernel reconnects from the same
    port with a higher ISN: accepted as a new incarnation (RFC 9293 3.10.7.4)."""
    lst = rig.ulisten()
    for round_ in range(2):
        ks = rig.ksock()
        ks.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ks.bind((rig.peer.host_ip, 40_000))
        task = Task(functools.partial(ks.connect, (rig.peer.usnet_ip, PORT)))
        us = rig.uaccept(lst)
        task.result(KTIMEOUT)
        rig.usend(us, b"round %d" % round_)
        rig.drv.call(us.close)
        assert ks.recv(100) == b"round %d" % round_
        assert ks.recv(100) == b""
        ks.close()
        rig.wait(functools.partial(_in_state, us, State.TIME_WAIT), 5.0, "TIME-WAIT")


# =========================================================================== 4. options


def _check_honours(trace: list[Seg], kernel_syn: Seg, usnet_syn: Seg) -> None:
    """usnet's segments after the handshake obey what the kernel's SYN(-ACK) offered."""
    ts_on = kernel_syn.ts is not None and usnet_syn.ts is not None
    sack_on = kernel_syn.sack_perm and usnet_syn.sack_perm
    ws_on = kernel_syn.ws is not None and usnet_syn.ws is not None
    kshift = kernel_syn.ws if ws_on and kernel_syn.ws is not None else 0
    kmss = kernel_syn.mss if kernel_syn.mss is not None else 536
    max_payload = kmss - (12 if ts_on else 0)
    right_edge: int | None = None
    kernel_tsvals: set[int] = set()
    if kernel_syn.ts is not None:
        kernel_tsvals.add(kernel_syn.ts[0])
    max_flight = 0
    highest_ack = 0
    for seg in trace:
        if seg.flags & SYN:
            continue
        if not seg.out:
            if seg.ts is not None:
                kernel_tsvals.add(seg.ts[0])
            if seg.flags & ACK:
                edge = (seg.ack + (seg.window << kshift)) & 0xFFFF_FFFF
                if right_edge is None or _d(edge, right_edge) > 0:
                    right_edge = edge
                if highest_ack == 0 or _d(seg.ack, highest_ack) > 0:
                    highest_ack = seg.ack
            continue
        if seg.flags & RST:
            continue
        assert seg.plen <= max_payload, f"segment above the kernel's MSS: {fmt(seg)}"
        if ts_on:
            assert seg.ts is not None, f"timestamps negotiated but missing: {fmt(seg)}"
            assert seg.ts[1] in kernel_tsvals, f"TSecr echoes no kernel TSval: {fmt(seg)}"
        else:
            assert seg.ts is None, f"timestamp option not negotiated: {fmt(seg)}"
        if not sack_on:
            assert not seg.sack, f"SACK blocks without SACK-permitted: {fmt(seg)}"
        if not ws_on:
            assert seg.window <= 0xFFFF
        if seg.plen and right_edge is not None:
            end = (seg.seq + seg.plen) & 0xFFFF_FFFF
            assert _d(end, right_edge) <= 0, f"beyond the kernel's window: {fmt(seg)}"
            max_flight = max(max_flight, _d(end, highest_ack))
    if ws_on:
        # The kernel's scaled window let usnet have more than 64 KiB in flight.
        assert max_flight > 0xFFFF, f"never more than 64 KiB in flight ({max_flight})"


def _option_transfer(rig: Rig, us: TcpSocket, ks: socket.socket) -> None:
    """Some data both ways, enough for the kernel's window to grow past 64 KiB."""
    reader = Task(lambda: kernel_recv(ks))
    digest = rig.usend_pattern(us, 3, 2 * MIB)
    rig.drv.call(lambda: us.shutdown("write"))
    assert reader.result() == (2 * MIB, digest)
    kd = kernel_send(ks, 4, 256 * 1024)
    ks.close()
    assert rig.urecv_all(us) == (256 * 1024, kd)


@pytest.mark.parametrize("opener", OPENERS)
def test_options_negotiated_with_kernel(kernel_peer: KernelPeer, opener: str) -> None:
    """Default Linux options (MSS 1460, wscale, SACK, timestamps) both ways; TCP_INFO agrees."""
    with rig_session(kernel_peer, pcap=True) as rig:
        us, ks = connect_pair(rig, opener)
        info = tcp_info(ks)
        syn, synack = handshake(rig.trace())
        kernel_syn, usnet_syn = (syn, synack) if opener == "kernel" else (synack, syn)
        assert kernel_syn.mss == 1460 and usnet_syn.mss == 1460
        assert kernel_syn.ws is not None and usnet_syn.ws is not None
        assert kernel_syn.sack_perm and usnet_syn.sack_perm
        assert kernel_syn.ts is not None and usnet_syn.ts is not None
        if opener == "kernel":
            assert usnet_syn.ts[1] == kernel_syn.ts[0]  # the SYN-ACK echoes the SYN's TSval
        assert usnet_syn.window <= 0xFFFF
        # The kernel's view of what was negotiated.
        assert info["options"] & TCPI_OPT_TIMESTAMPS
        assert info["options"] & TCPI_OPT_SACK
        assert info["options"] & TCPI_OPT_WSCALE
        assert info["snd_wscale"] == usnet_syn.ws
        assert info["rcv_wscale"] == kernel_syn.ws
        assert info["snd_mss"] == 1448
        assert rig.drv.call(lambda: us.mss) == 1448
        _option_transfer(rig, us, ks)
        _check_honours(rig.trace(), kernel_syn, usnet_syn)


@pytest.mark.parametrize("opener", OPENERS)
def test_kernel_small_mss_honoured(kernel_peer: KernelPeer, opener: str) -> None:
    """The kernel advertises MSS 1000 (TCP_MAXSEG): usnet's segments carry <= 988 bytes."""
    with rig_session(kernel_peer, pcap=True) as rig:
        if opener == "kernel":
            lst = rig.ulisten()
            ks = rig.ksock()
            ks.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1000)
            task = Task(lambda: ks.connect((rig.peer.usnet_ip, PORT)))
            us = rig.uaccept(lst)
            task.result()
        else:
            kl = rig.ksock()
            kl.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            kl.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1000)
            kl.bind((rig.peer.host_ip, PORT))
            kl.listen(1)
            accept = Task(kl.accept)
            us = rig.uconnect()
            ks, _ = accept.result()
            ks.settimeout(KTIMEOUT)
        syn, synack = handshake(rig.trace())
        kernel_syn, usnet_syn = (syn, synack) if opener == "kernel" else (synack, syn)
        assert kernel_syn.mss == 1000
        assert rig.drv.call(lambda: us.mss) == 988
        _option_transfer(rig, us, ks)
        trace = rig.trace()
        _check_honours(trace, kernel_syn, usnet_syn)
        assert max(s.plen for s in trace if s.out) == 988


@pytest.mark.parametrize("opener", OPENERS)
def test_kernel_without_options(kernel_peer: KernelPeer, opener: str) -> None:
    """Timestamps, SACK and window scaling off in the kernel: usnet uses none of them
    (a SYN-ACK only echoes what the SYN offered) and the transfer stays exact."""
    for key in ("tcp_timestamps", "tcp_sack", "tcp_window_scaling"):
        kernel_peer.sysctl(f"net.ipv4.{key}", 0)
    with rig_session(kernel_peer, pcap=True) as rig:
        us, ks = connect_pair(rig, opener)
        syn, synack = handshake(rig.trace())
        kernel_syn, usnet_syn = (syn, synack) if opener == "kernel" else (synack, syn)
        assert kernel_syn.ts is None and kernel_syn.ws is None and not kernel_syn.sack_perm
        if opener == "kernel":
            assert usnet_syn.ts is None and usnet_syn.ws is None and not usnet_syn.sack_perm
        info = tcp_info(ks)
        assert info["options"] & (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE) == 0
        assert rig.drv.call(lambda: us.mss) == 1460
        reader = Task(lambda: kernel_recv(ks))
        digest = rig.usend_pattern(us, 3, MIB)
        rig.drv.call(lambda: us.shutdown("write"))
        assert reader.result() == (MIB, digest)
        kd = kernel_send(ks, 4, 256 * 1024)
        ks.close()
        assert rig.urecv_all(us) == (256 * 1024, kd)
        _check_honours(rig.trace(), kernel_syn, usnet_syn)


# =========================================================================== 4b. loss recovery


def test_sack_honoured_under_loss(kernel_peer: KernelPeer) -> None:
    """usnet -> kernel with usnet's outgoing frames dropped: the kernel SACKs; usnet never
    retransmits a range the kernel has already SACKed (RFC 6675 NextSeg), and usnet's own
    SACK blocks (kernel -> usnet with loss) are well formed (RFC 2018)."""
    with rig_session(kernel_peer, fault={"drop": 0.02}, seed=7, pcap=True) as rig:
        us, ks = connect_pair(rig, "usnet")
        reader = Task(lambda: kernel_recv(ks))
        digest = rig.usend_pattern(us, 3, 2 * MIB)
        rig.drv.call(lambda: us.shutdown("write"))
        assert reader.result() == (2 * MIB, digest)
        sender = Task(lambda: kernel_send_close(ks, 4, 2 * MIB))
        assert rig.urecv_all(us) == (2 * MIB, sender.result())
        trace = rig.trace()
    kernel_sacks = [s for s in trace if not s.out and s.sack]
    assert kernel_sacks, "the kernel never SACKed: the loss did not bite"
    assert _retransmits_of_sacked(trace) == []
    # usnet's SACK blocks: above its cumulative ACK, non-empty, at most 3 with timestamps.
    usacks = [s for s in trace if s.out and s.sack]
    assert usacks, "usnet never sent a SACK block while receiving with loss"
    for seg in usacks:
        assert len(seg.sack) <= 3, fmt(seg)
        for a, b in seg.sack:
            assert _d(b, a) > 0, fmt(seg)
            assert _d(a, seg.ack) > 0, fmt(seg)


def _retransmits_of_sacked(trace: list[Seg], forget_on_rto: bool = True) -> list[str]:
    """usnet data retransmissions that only resend bytes the kernel had already SACKed.

    SACK information received before a retransmission timeout is forgotten (RFC 6675 5.1
    allows, and RFC 2018 8 asks, a sender to discard it then); an RTO shows in the trace
    as a retransmission after at least min_rto (0.2 s) without any segment from the kernel.
    """
    sacked: list[tuple[int, int]] = []
    highest: int | None = None
    last_in = 0.0
    bad = []
    for seg in trace:
        if seg.flags & SYN:
            continue
        if not seg.out:
            last_in = seg.t
            if seg.sack:
                sacked.extend(seg.sack)
            sacked = [(a, b) for a, b in sacked if _d(b, seg.ack) > 0]
            continue
        if seg.flags & RST or not seg.plen:
            continue
        start, end = seg.seq, (seg.seq + seg.plen) & 0xFFFF_FFFF
        if highest is not None and _d(end, highest) <= 0:
            if forget_on_rto and seg.t - last_in >= 0.19:
                sacked = []
            for a, b in sacked:
                if _d(start, a) >= 0 and _d(end, b) <= 0:
                    bad.append(f"{fmt(seg)} (SACKed {a}:{b})")
                    break
        if highest is None or _d(end, highest) > 0:
            highest = end
    return bad


def _one_loss_transfer(rig: Rig, size: int = 2 * MIB) -> list[Seg]:
    us, ks = connect_pair(rig, "usnet")
    reader = Task(lambda: kernel_recv(ks))
    digest = rig.usend_pattern(us, 3, size)
    rig.drv.call(lambda: us.shutdown("write"))
    assert reader.result() == (size, digest)
    return rig.trace()


def test_single_loss_recovered_by_fast_retransmit(kernel_peer: KernelPeer) -> None:
    """One data segment lost 256 KiB into the stream: the kernel's SACKed duplicate ACKs
    trigger a fast retransmit, no retransmission timeout, no resending of SACKed data."""
    drop = None

    def wrap(dev: Device) -> Device:
        nonlocal drop
        drop = DropSeq(dev, kernel_peer.usnet_ip, {256 * 1024: 1})
        return drop

    with rig_session(kernel_peer, wrap=wrap, pcap=True) as rig:
        trace = _one_loss_transfer(rig)
        stats = rig.iface.tcp.stats
    assert drop is not None and drop.dropped == 1
    assert stats.fast_retransmits >= 1, stats
    assert stats.timeouts_rto == 0, stats
    assert _retransmits_of_sacked(trace) == []


def test_no_resend_of_sacked_data_after_rto(kernel_peer: KernelPeer) -> None:
    """Two segments 20 apart are lost, and so are their first retransmissions, so only
    the retransmission timer recovers. SACK information arriving after the timeout must
    still steer the retransmissions: nothing the kernel has SACKed is resent (the kernel
    would answer with D-SACKs)."""
    first = 256 * 1024
    with rig_session(
        kernel_peer,
        wrap=lambda dev: DropSeq(dev, kernel_peer.usnet_ip, {first: 2, first + 20 * 1448: 2}),
        pcap=True,
    ) as rig:
        trace = _one_loss_transfer(rig)
        stats = rig.iface.tcp.stats
    assert stats.timeouts_rto >= 1, stats
    assert _retransmits_of_sacked(trace) == []


def _slow_repairs(trace: list[Seg]) -> list[str]:
    """Losses repaired by a timeout although fast retransmit was due.

    RFC 6675 2 and 5: an ACK that does not advance SND.UNA but carries new SACK
    information is a duplicate ACK, whatever its window field says; at the third one (or
    when DupThresh segments are SACKed above SND.UNA) loss recovery starts and SND.UNA is
    retransmitted. Flagged: the first retransmission of SND.UNA leaving more than 0.19 s
    (min RTO 0.2 s) after the third such ACK, i.e. sent by the retransmission timer. Not
    flagged: a timeout after a fast retransmission (the retransmission itself was lost),
    and a hole at or below the previous episode's recovery point (RFC 6582 3.2 step 1, the
    "careful variant" usnet also applies with SACK: no new fast retransmit until the
    cumulative ACK covers more than `recover`)."""
    bad = []
    una: int | None = None
    dups = 0
    third_at: float | None = None
    resent = False
    seen: set[tuple[int, int]] = set()
    highest: int | None = None  # SND.MAX as seen on the wire
    recover: int | None = None
    for seg in trace:
        if seg.flags & SYN:
            continue
        if not seg.out:
            if una is None or _d(seg.ack, una) > 0:
                una, dups, third_at, resent, seen = seg.ack, 0, None, False, set(seg.sack)
                continue
            new_info = bool(set(seg.sack) - seen)
            seen.update(seg.sack)
            if seg.ack == una and not seg.plen and new_info:
                dups += 1
                if dups == 3:
                    third_at = seg.t
            continue
        if seg.plen and una is not None and seg.seq == una:
            careful = recover is not None and _d(una, recover) <= 0
            if third_at is not None and not resent and seg.t - third_at > 0.19 and not careful:
                bad.append(f"{fmt(seg)} {seg.t - third_at:.3f} s after the 3rd SACK dupack")
            if not resent and highest is not None:
                recover = highest  # a recovery episode (fast or timeout) starts here
            resent = True
        end = (seg.seq + seg.plen) & 0xFFFF_FFFF
        if highest is None or _d(end, highest) > 0:
            highest = end
    return bad


def test_sack_dupacks_trigger_fast_retransmit(kernel_peer: KernelPeer) -> None:
    """usnet -> kernel with 2% of usnet's frames dropped (seeded): every hole the kernel
    reports with three SACKed duplicate ACKs is retransmitted at once, not by the RTO."""
    with rig_session(kernel_peer, pcap=True, wrap=lambda d: FaultInjector(d, 7, drop=0.02)) as rig:
        trace = _one_loss_transfer(rig)
    assert _slow_repairs(trace) == []


# =========================================================================== 5. flow control,
# keep-alive, latency, short connections, backlog, urgent data


def test_zero_window_kernel_receiver(rig: Rig) -> None:
    """The kernel's application stops reading: its window closes, usnet probes it (persist
    timer) and resumes as soon as the kernel reads again."""
    kl = rig.ksock()
    kl.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    kl.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # inherited, no autotuning
    kl.bind((rig.peer.host_ip, PORT))
    kl.listen(1)
    accept = Task(kl.accept)
    us = rig.uconnect()
    ks, _ = accept.result()
    ks.settimeout(KTIMEOUT)
    size = MIB
    sender = Task(lambda: rig.usend_pattern(us, 8, size))
    time.sleep(1.5)  # the kernel reads nothing meanwhile
    assert not sender.done()
    assert rig.iface.tcp.stats.window_probes >= 1  # the kernel's window is shut
    start = time.monotonic()
    reader = Task(lambda: kernel_recv(ks))
    digest = sender.result()
    rig.drv.call(lambda: us.shutdown("write"))
    assert reader.result() == (size, digest)
    assert time.monotonic() - start < 1.5


def test_zero_window_usnet_receiver(kernel_peer: KernelPeer) -> None:
    """usnet's application stops reading: usnet advertises a zero window, answers the
    kernel's probes, and opens the window with an update as soon as it reads again (the
    kernel would otherwise wait for its next, backed-off probe)."""
    with rig_session(kernel_peer, pcap=True) as rig:
        us, ks = connect_pair(rig, "kernel")
        ks.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)  # keep the kernel waiting
        size = 2 * MIB
        sender = Task(lambda: kernel_send_close(ks, 9, size))
        time.sleep(1.5)  # usnet's application reads nothing meanwhile
        assert not sender.done()
        buffered = rig.drv.call(lambda: us.recv_buffer_size)
        assert len(rig.drv.call(lambda: us.peek(buffered))) >= buffered - 2000  # buffer full
        start = time.monotonic()
        assert rig.urecv_all(us) == (size, sender.result())
        assert time.monotonic() - start < 1.0
        trace = rig.trace()
    zero = [s for s in trace if s.out and s.window == 0 and not s.flags & SYN]
    assert zero, "usnet never advertised a zero window"
    # The kernel probed the zero window and usnet answered (not necessarily every probe:
    # like Linux, usnet answers out-of-window bare ACKs at most every 0.5 s).
    probes = [s for s in trace if not s.out and s.t > zero[0].t and s.t < zero[0].t + 1.4]
    assert probes, "the kernel never probed"
    assert any(any(r.out and p.t <= r.t <= p.t + 0.3 for r in trace) for p in probes)


def test_zero_window_probe_answered_after_retransmission(kernel_peer: KernelPeer) -> None:
    """usnet's first zero-window ACK is lost, so the kernel retransmits its last segment
    (old data for usnet, answered with a zero-window ACK) and then probes the window.
    Linux answers that probe: only bare out-of-window ACKs start its 0.5 s rate limit
    (tcp_oow_rate_limited), a duplicate data segment does not."""
    with rig_session(
        kernel_peer, pcap=True, wrap=lambda d: DropZeroWindowAck(d, kernel_peer.usnet_ip)
    ) as rig:
        us, ks = connect_pair(rig, "kernel")
        ks.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        sender = Task(lambda: kernel_send_close(ks, 9, 2 * MIB))
        time.sleep(1.5)  # usnet's application reads nothing meanwhile
        assert rig.urecv_all(us) == (2 * MIB, sender.result())
        trace = rig.trace()
    zero = [s for s in trace if s.out and s.window == 0 and not s.flags & SYN]
    assert zero, "usnet never advertised a zero window"
    rcv_nxt = zero[0].ack
    # Kernel probes: bare ACKs one below usnet's RCV.NXT, before usnet reads again.
    probes = [
        s
        for s in trace
        if not s.out and not s.plen and s.t > zero[0].t and s.seq == (rcv_nxt - 1) & 0xFFFF_FFFF
    ]
    assert probes, "the kernel never probed"
    first = probes[0]
    replies = [r for r in trace if r.out and first.t <= r.t <= first.t + 0.3]
    assert replies, f"the kernel's first window probe went unanswered: {fmt(first)}"


def test_kernel_keepalive_probes_answered(kernel_peer: KernelPeer) -> None:
    """The kernel probes an idle connection (idle 1 s, 1 s interval, 2 probes): usnet
    answers every probe, so the connection outlives the point where the kernel would
    have given up (3 s)."""
    with rig_session(kernel_peer, pcap=True) as rig:
        us, ks = connect_pair(rig, "kernel")
        ks.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        ks.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
        ks.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
        ks.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 2)
        time.sleep(3.6)
        ks.sendall(b"still there?")
        assert rig.urecv_exact(us, 12) == b"still there?"
        rig.usend(us, b"yes")
        assert ks.recv(10) == b"yes"
        trace = rig.trace()
    probes = [s for s in trace if not s.out and not s.plen and not s.flags & (SYN | FIN | RST)]
    # A keep-alive probe is SEG.SEQ = SND.NXT - 1 (RFC 1122 4.2.3.6): below usnet's RCV.NXT.
    answered = 0
    for probe in probes:
        replies = [s for s in trace if s.out and probe.t <= s.t <= probe.t + 0.5]
        if any(_d(probe.seq, r.ack) < 0 for r in replies):
            answered += 1
    assert answered >= 2, [fmt(p) for p in probes]


def test_usnet_keepalive_probe_answered_by_kernel(rig: Rig) -> None:
    """usnet's keep-alive (idle 0.5 s) probes the kernel, which answers; still connected."""
    us, ks = connect_pair(rig, "usnet")

    def arm() -> None:
        us.keepalive = 0.5

    rig.drv.call(arm)
    rig.usend(us, b"x")  # activity (re)starts the idle timer
    assert ks.recv(1) == b"x"
    rig.wait(lambda: rig.iface.tcp.stats.keepalives >= 2, 5.0, "two keep-alive probes")
    assert rig.state(us) is State.ESTABLISHED
    ks.sendall(b"alive")
    assert rig.urecv_exact(us, 5) == b"alive"


@pytest.mark.parametrize("opener", OPENERS)
def test_ping_pong_latency(rig: Rig, opener: str) -> None:
    """200 request/response round trips of 100 bytes (kernel echoes): no delayed-ACK or
    Nagle stalls (each would cost 40-200 ms)."""
    us, ks = connect_pair(rig, opener)

    def echo() -> int:
        n = 0
        while data := ks.recv(65536):
            ks.sendall(data)
            n += 1
        return n

    echoer = Task(echo)
    start = time.monotonic()
    for i in range(200):
        msg = b"%05d" % i + bytes(95)
        rig.usend(us, msg)
        assert rig.urecv_exact(us, 100) == msg
    elapsed = time.monotonic() - start
    rig.drv.call(lambda: us.shutdown("write"))
    echoer.result()
    assert elapsed < 2.0, f"200 round trips took {elapsed:.2f} s"


def test_short_connections_kernel_to_usnet(rig: Rig) -> None:
    """100 kernel clients connect, send and close at once (often before accept): usnet
    accepts each, reads the message and EOF, and closes."""
    lst = rig.ulisten(backlog=128)
    start = time.monotonic()

    def clients() -> int:
        for i in range(100):
            ks = rig.ksock()
            ks.connect((rig.peer.usnet_ip, PORT))
            ks.sendall(b"hello %03d" % i)
            ks.close()
        return 100

    task = Task(clients)
    for i in range(100):
        us = rig.uaccept(lst)
        assert rig.urecv_exact(us, 9) == b"hello %03d" % i
        assert rig.urecv_some(us, bytearray(4)) == 0
        rig.drv.call(us.close)
    assert task.result() == 100
    assert time.monotonic() - start < 10.0
    rig.wait(lambda: rig.iface.tcp.connections == 0, 5.0, "all connections closed")


def test_short_connections_usnet_to_kernel(rig: Rig) -> None:
    """100 usnet clients connect, send, read the reply and close first (TIME-WAIT on the
    usnet side, distinct ephemeral ports)."""
    kl = rig.klisten()

    def server() -> int:
        for _ in range(100):
            conn, _ = kl.accept()
            conn.settimeout(KTIMEOUT)
            data = conn.recv(100)
            conn.sendall(data.upper())
            assert conn.recv(100) == b""
            conn.close()
        return 100

    task = Task(server)
    start = time.monotonic()
    ports = set()
    for i in range(100):
        us = rig.uconnect()
        ports.add(us.local[1])
        rig.usend(us, b"hello %03d" % i)
        assert rig.urecv_exact(us, 9) == b"HELLO %03d" % i
        rig.drv.call(us.close)
    assert task.result() == 100
    assert len(ports) == 100
    assert time.monotonic() - start < 10.0
    rig.wait(
        lambda: all(c.state is State.TIME_WAIT for c in rig.iface.tcp.iter_connections()),
        5.0,
        "TIME-WAIT",
    )


def test_bulk_lossy_without_sack_and_timestamps(kernel_peer: KernelPeer) -> None:
    """The kernel with SACK, timestamps and window scaling off (NewReno recovery on both
    sides, RFC 6582) through 1% drop and 1% reorder: still byte-exact both ways."""
    for key in ("tcp_timestamps", "tcp_sack", "tcp_window_scaling"):
        kernel_peer.sysctl(f"net.ipv4.{key}", 0)
    with rig_session(kernel_peer, fault=LOSSY, seed="no-sack") as rig:
        _bulk(rig, "usnet", "both", int(min(BULK_MIB, 4.0) * MIB))


def test_backlog_full_kernel_clients_wait(rig: Rig) -> None:
    """Five kernel clients against a usnet listener with backlog 2 that nobody accepts for
    a while: SYNs beyond the backlog are dropped (as Linux does), the kernel retries them,
    and every client is accepted with its data once room appears."""
    lst = rig.ulisten(backlog=2)
    clients = [rig.ksock() for _ in range(5)]

    def client(i: int) -> None:
        clients[i].connect((rig.peer.usnet_ip, PORT))
        clients[i].sendall(b"client %d" % i)

    tasks = [Task(functools.partial(client, i)) for i in range(5)]
    time.sleep(0.5)
    assert rig.drv.call(lambda: lst.pending) == 2
    got = set()
    for _ in range(5):
        us = rig.uaccept(lst, timeout=15.0)
        got.add(rig.urecv_exact(us, 8))
        rig.drv.call(us.close)
    for task in tasks:
        task.result(5.0)
    assert got == {b"client %d" % i for i in range(5)}
    assert rig.iface.tcp.stats.listen_overflows >= 3
    for ks in clients:
        assert ks.recv(10) == b""


def test_kernel_urgent_data_stays_in_stream(rig: Rig) -> None:
    """MSG_OOB from the kernel (URG flag): usnet does not implement urgent mode and
    delivers the byte inline (RFC 6093 4), without losing or reordering the stream."""
    us, ks = connect_pair(rig, "kernel")
    ks.sendall(b"abc")
    ks.send(b"!", socket.MSG_OOB)
    ks.sendall(b"def")
    ks.close()
    count, digest = rig.urecv_all(us)
    assert (count, digest) == (7, hashlib.sha256(b"abc!def").digest())


def test_simultaneous_open(kernel_peer: KernelPeer) -> None:
    """Both ends connect to each other at once (RFC 9293 3.5, figure 7): the SYNs cross,
    both answer with SYN-ACK, both reach ESTABLISHED, and data flows both ways."""
    with rig_session(kernel_peer, pcap=True) as rig:
        kport, uport = 41_000, 42_000
        ks = rig.ksock()
        ks.bind((rig.peer.host_ip, kport))
        ks.setblocking(False)
        box: list[TcpSocket] = []

        # Under the stack lock: the kernel's SYN waits unread on the TAP while ours leaves.
        def both_connect() -> None:
            with contextlib.suppress(BlockingIOError):
                ks.connect((rig.peer.usnet_ip, uport))
            sock = rig.iface.tcp.connect((rig.host, kport), time.monotonic(), local=(0, uport))
            box.append(sock)
            rig.device.send_batch(rig.iface.transmit(time.monotonic()))

        rig.drv.call(both_connect)
        us = box[0]
        rig.wait(lambda: us.state is not State.SYN_SENT, 5.0, "leaving SYN-SENT")
        rig.wait(lambda: us.state is State.ESTABLISHED, 5.0, "ESTABLISHED")
        ks.settimeout(KTIMEOUT)
        assert ks.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        ks.sendall(b"from the kernel")
        assert rig.urecv_exact(us, 15) == b"from the kernel"
        rig.usend(us, b"from usnet")
        assert ks.recv(100) == b"from usnet"
        trace = rig.trace()
    syns = [s for s in trace if s.flags & (SYN | ACK) == SYN]
    assert {s.out for s in syns} == {True, False}, [fmt(s) for s in trace[:6]]


def test_kernel_ecn_setup_declined(kernel_peer: KernelPeer) -> None:
    """The kernel asks for ECN (SYN with ECE|CWR, tcp_ecn=1): usnet, not ECN-capable,
    answers with a plain SYN-ACK (RFC 3168 6.1.1), and the connection works."""
    kernel_peer.sysctl("net.ipv4.tcp_ecn", 1)
    with rig_session(kernel_peer, pcap=True) as rig:
        us, ks = connect_pair(rig, "kernel")
        ks.sendall(b"ecn?")
        assert rig.urecv_exact(us, 4) == b"ecn?"
        rig.usend(us, b"no")
        assert ks.recv(10) == b"no"
        syn, synack = handshake(rig.trace())
    assert syn.flags & 0xC0 == 0xC0, fmt(syn)  # ECE|CWR: the kernel really asked
    assert synack.flags & 0xC0 == 0, fmt(synack)


def test_kernel_fast_open_request_ignored(kernel_peer: KernelPeer) -> None:
    """A kernel client with TCP Fast Open sends a SYN with a cookie request (option 34):
    usnet ignores the unknown option, completes a normal handshake, gets the data."""
    kernel_peer.sysctl("net.ipv4.tcp_fastopen", 1)
    with rig_session(kernel_peer, pcap=True) as rig:
        lst = rig.ulisten()
        ks = rig.ksock()
        # MSG_FASTOPEN connects inside sendto; Python's timeout mode would make that
        # EINPROGRESS, so block with a kernel-side send timeout instead.
        ks.settimeout(None)
        ks.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", int(KTIMEOUT), 0))
        ks.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", int(KTIMEOUT), 0))
        msg_fastopen = getattr(socket, "MSG_FASTOPEN", 0x20000000)
        task = Task(lambda: ks.sendto(b"tfo data", msg_fastopen, (rig.peer.usnet_ip, PORT)))
        us = rig.uaccept(lst)
        assert task.result() == 8
        assert rig.urecv_exact(us, 8) == b"tfo data"
        rig.usend(us, b"ok")
        assert ks.recv(10) == b"ok"
        syn, synack = handshake(rig.trace())
    assert 34 in syn.kinds, fmt(syn)  # the kernel really asked for a Fast Open cookie
    assert 34 not in synack.kinds, fmt(synack)


def test_many_tiny_kernel_segments(rig: Rig) -> None:
    """5000 one-byte writes with TCP_NODELAY from the kernel: every byte, in order."""
    us, ks = connect_pair(rig, "kernel")
    ks.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = bytes(random.Random(5).randbytes(5000))

    def writer() -> None:
        for i in range(len(data)):
            ks.send(data[i : i + 1])
        ks.close()

    task = Task(writer)
    assert rig.urecv_all(us) == (len(data), hashlib.sha256(data).digest())
    task.result()
