"""Two TcpLayers over a faulty in-memory IP link, driven by random application scripts.

Invariants: no exception escapes receive/dispatch; each direction delivers a prefix of what
was sent, exactly once and in order, and all of it unless an error or abort was reported;
both ends reach CLOSED/TIME-WAIT once the link heals; afterwards no connection, half-open
entry or timer is left.
"""

from __future__ import annotations

import contextlib
import heapq
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies_tcp_machine import Action, FaultModel, actions, fault_models
from tcp_harness import seeded_entropy
from usnet_core import errors
from usnet_core.tcp import State, TcpConfig, TcpLayer, TcpListener, TcpSocket

A, B = 0x0A00_0001, 0x0A00_0002
PORT = 8080
_PATTERN = bytes(range(251)) * 400


def _pattern(offset: int, n: int) -> bytes:
    out = bytearray()
    while n:
        start = offset % 251
        take = min(n, len(_PATTERN) - start)
        out += _PATTERN[start : start + take]
        offset += take
        n -= take
    return bytes(out)


class Link:
    """Delivers (src, dst, segment) after a delay, with seeded faults."""

    def __init__(self, faults: FaultModel) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.queue: list[tuple[float, int, int, int, bytes]] = []
        self.seq = 0
        self.sent = 0

    def put(self, now: float, src: int, dst: int, seg: bytes | bytearray) -> None:
        f, rng = self.faults, self.rng
        self.sent += 1
        if rng.random() < f.drop:
            return
        copies = 2 if rng.random() < f.duplicate else 1
        for _ in range(copies):
            data = bytearray(seg)
            if rng.random() < f.corrupt and data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            at = now + f.delay + rng.random() * f.jitter
            if rng.random() < f.reorder:
                at += 3 * f.delay + 0.01
            self.seq += 1
            heapq.heappush(self.queue, (at, self.seq, src, dst, bytes(data)))

    def next_at(self) -> float | None:
        return self.queue[0][0] if self.queue else None


class Sim:
    """Two endpoints and their applications."""

    def __init__(self, faults: FaultModel, cfg: TcpConfig) -> None:
        self.link = Link(faults)
        self.now = 0.0
        self.layers = [
            TcpLayer({A}, seeded_entropy(1), cfg),
            TcpLayer({B}, seeded_entropy(2), cfg),
        ]
        self.addrs = [A, B]
        self.listener: TcpListener = self.layers[1].listen((B, PORT))
        self.socks: list[TcpSocket | None] = [self.layers[0].connect((B, PORT), 0.0), None]
        self.sent = [0, 0]  # bytes accepted by send() per side
        self.want = [0, 0]  # bytes a sendall() still wants to send
        self.received = [bytearray(), bytearray()]  # bytes read per side (from the other)
        self.eof = [False, False]
        self.errored = [False, False]
        self.aborted = [False, False]
        self.wr_shut = [False, False]
        self.closed_app = [False, False]
        self.closed_early = [False, False]
        self.flush()

    def flush(self) -> None:
        for layer in self.layers:
            for src, dst, seg, ttl in layer.dispatch(self.now):
                assert ttl == 64
                self.link.put(self.now, src, dst, seg)

    def step_until(self, end: float) -> None:
        stuck = 0
        while stuck < 5000:
            cands = [
                t
                for t in (self.link.next_at(), *(la.poll_at() for la in self.layers))
                if t is not None
            ]
            t = min(cands) if cands else None
            if t is None or t > end:
                break
            stuck = stuck + 1 if t <= self.now else 0
            self.now = max(self.now, t)
            q = self.link.queue
            while q and q[0][0] <= self.now:
                _, _, src, dst, seg = heapq.heappop(q)
                self.layers[0 if dst == A else 1].receive(src, dst, memoryview(seg), self.now)
            self._accept()
            self._push()
            self.flush()
        else:
            raise AssertionError("livelock: timers do not advance")
        self.now = max(self.now, end)

    def _push(self) -> None:
        # Applications blocked in sendall(): feed their sockets whenever there is room.
        for side in (0, 1):
            sock = self.socks[side]
            while self.want[side] > 0 and sock is not None and not self.closed_app[side]:
                try:
                    n = sock.send(_pattern(self.sent[side], min(self.want[side], 20_000)))
                except errors.WouldBlock:
                    break
                except errors.UsnetError:
                    self.want[side] = 0
                    self.note_error(side)
                    break
                self.sent[side] += n
                self.want[side] -= n

    def _accept(self) -> None:
        if self.socks[1] is None and not self.listener.closed:
            with contextlib.suppress(errors.WouldBlock):
                self.socks[1] = self.listener.accept()

    def note_error(self, side: int) -> None:
        self.errored[side] = True

    def act(self, action: Action) -> None:
        verb, side, amount = action
        self._accept()
        sock = self.socks[side]
        if verb == "advance":
            self.step_until(self.now + amount / 1000)
            return
        if verb == "sendall":
            if not self.wr_shut[side] and not self.closed_app[side]:
                self.want[side] += amount  # fed by _push once the socket exists
                self._push()
                self.flush()
            return
        if sock is None or self.closed_app[side]:
            return
        try:
            if verb == "send":
                n = sock.send(_pattern(self.sent[side], amount))
                self.sent[side] += n
            elif verb == "recv":
                self.read(side, amount)
            elif verb == "shutdown":
                self.want[side] = 0  # the sendall() was interrupted
                sock.shutdown("write")
                self.wr_shut[side] = True
            elif verb == "close":
                self.want[side] = 0
                self.read(side, 1 << 30)
                # Closing before EOF gives up what the peer still sends (RST, RFC 2525).
                self.closed_early[side] = not self.eof[side]
                sock.close()
                self.closed_app[side] = True
                self.wr_shut[side] = True
            elif verb == "abort":
                self.want[side] = 0
                sock.abort()
                self.aborted[side] = True
                self.closed_app[side] = True
        except (errors.WouldBlock, errors.BrokenPipe):
            pass
        except errors.UsnetError:
            self.note_error(side)
        self.flush()

    def read(self, side: int, limit: int) -> None:
        sock = self.socks[side]
        assert sock is not None
        while limit > 0:
            try:
                data = sock.recv(limit)
            except errors.WouldBlock:
                return
            except errors.UsnetError:
                self.note_error(side)
                return
            if not data:
                self.eof[side] = True
                return
            self.received[side] += data
            limit -= len(data)

    def check_prefix(self) -> None:
        for side in (0, 1):
            got = self.received[side]
            assert got == _pattern(0, len(got)), f"side {side} got corrupt data"
            assert len(got) <= self.sent[1 - side]

    def finish(self) -> None:
        """Heal the link, let the apps drain and close, and run to quiescence."""
        self.link.faults = FaultModel(delay=0.001)
        self.flush()
        for _ in range(4000):
            self._accept()
            self._push()
            for side in (0, 1):
                sock = self.socks[side]
                if sock is not None and not self.closed_app[side]:
                    if self.want[side] == 0 and not self.wr_shut[side]:
                        self.wr_shut[side] = True
                        with contextlib.suppress(errors.UsnetError):
                            sock.shutdown("write")
                    self.read(side, 1 << 30)
                    done_sending = self.want[side] == 0 or self.errored[side] or sock.closed
                    if done_sending and (self.eof[side] or self.errored[side] or sock.closed):
                        sock.close()
                        self.closed_app[side] = True
            self.flush()
            if all(la.poll_at() is None for la in self.layers) and not self.link.queue:
                break
            self.step_until(self.now + 0.5)
        # An application whose peer vanished (its RST lost on the faulty link) would wait
        # forever, as on Linux; it gives up and closes, and the orphan timers end the rest.
        for side in (0, 1):
            sock = self.socks[side]
            if sock is not None and not self.closed_app[side]:
                sock.close()
                self.closed_app[side] = True
        self.listener.close()
        self.flush()
        self.step_until(self.now + 120.0)


CFG = TcpConfig(
    rx_buffer=30_000,
    tx_buffer=30_000,
    msl=1.0,
    max_rto=4.0,
    max_retries=30,
    syn_retries=30,
    delayed_ack=0.02,
    fin_timeout=10.0,
    mss=1000,
)


def _run(faults: FaultModel, script: list[Action], cfg: TcpConfig = CFG) -> Sim:
    sim = Sim(faults, cfg)
    for action in script:
        sim.act(action)
        sim.check_prefix()
    sim.finish()
    sim.check_prefix()
    for side in (0, 1):
        sock = sim.socks[side]
        if sock is not None:
            assert sock.state in (State.CLOSED, State.TIME_WAIT), (side, sock)
    clean = not any(sim.errored) and not any(sim.aborted)
    if clean and sim.socks[1] is not None:
        for side in (0, 1):
            if not any(sim.closed_early):
                assert len(sim.received[side]) == sim.sent[1 - side], ("lost bytes", side)
    for layer in sim.layers:
        assert layer.connections == 0
        assert layer.half_open == 0
        assert layer.poll_at() is None
        assert layer.timer_entries == 0  # poll_at() dropped every stale heap entry
    return sim


VOLUMES = st.sampled_from([0, 1_000, 50_000, 300_000])


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    fault_models(),
    actions(),
    st.sampled_from(["newreno", "cubic"]),
    st.booleans(),
    st.booleans(),
    st.tuples(VOLUMES, VOLUMES),
)
def test_random_scripts_over_faulty_link(
    faults: FaultModel,
    script: list[Action],
    cc: str,
    options: bool,
    batching: bool,
    volumes: tuple[int, int],
) -> None:
    # Both applications start with a sendall() of a size from tiny to many windows.
    script = [("sendall", 0, volumes[0]), ("sendall", 1, volumes[1]), *script]
    fields = {f: getattr(CFG, f) for f in CFG.__dataclass_fields__}
    fields.update(
        congestion=cc,
        timestamps=options,
        sack=options,
        window_scaling=options,
        ack_batching=batching,
    )
    _run(faults, script, TcpConfig(**fields))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fault_models(0.1), st.booleans())
def test_bulk_transfer_both_ways_with_options(faults: FaultModel, options: bool) -> None:
    cfg = TcpConfig(
        rx_buffer=64_000,
        tx_buffer=64_000,
        msl=1.0,
        max_rto=4.0,
        max_retries=30,
        syn_retries=30,
        timestamps=options,
        sack=options,
        window_scaling=options,
    )
    script: list[Action] = []
    for _ in range(10):
        script += [("send", 0, 20_000), ("send", 1, 20_000), ("advance", 0, 300)]
        script += [("recv", 0, 50_000), ("recv", 1, 50_000)]
    sim = _run(faults, script, cfg)
    assert not any(sim.errored)
    assert len(sim.received[1]) == sim.sent[0] and len(sim.received[0]) == sim.sent[1]


@pytest.mark.parametrize("cc", ["newreno", "cubic"])
@pytest.mark.parametrize("sack", [False, True])
def test_megabyte_over_lossy_reordering_link(cc: str, sack: bool) -> None:
    faults = FaultModel(drop=0.03, duplicate=0.01, corrupt=0.01, reorder=0.05, delay=0.01, seed=7)
    cfg = TcpConfig(
        rx_buffer=200_000, tx_buffer=200_000, msl=1.0, congestion=cc, sack=sack, timestamps=sack
    )
    sim = Sim(faults, cfg)
    for _ in range(10_000):
        if sim.sent[0] >= 1_000_000:
            break
        sim.act(("send", 0, min(50_000, 1_000_000 - sim.sent[0])))
        sim.act(("advance", 0, 50))
        sim.act(("recv", 1, 1 << 30))
        sim.check_prefix()
    assert sim.sent[0] == 1_000_000
    sim.finish()
    sim.check_prefix()
    assert all(layer.connections == 0 and layer.poll_at() is None for layer in sim.layers)
    assert len(sim.received[1]) == 1_000_000
    assert not any(sim.errored)


@pytest.mark.long
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fault_models(0.3), actions(80))
def test_random_scripts_long(faults: FaultModel, script: list[Action]) -> None:
    _run(faults, script)
