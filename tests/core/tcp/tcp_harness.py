"""Segment-by-segment driver for one TcpLayer, in the shape of smoltcp's tcp.rs tests.

`h.send(seq=..., ack=..., flags=...)` feeds one segment from the remote end (REMOTE:RPORT
to LOCAL:LPORT) with the fake clock `h.now`; `h.recv()` dispatches and returns what the
layer sent, parsed back into TcpReprs (payload as bytes) for field-by-field comparison.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from usnet_core.tcp import TcpConfig, TcpLayer, TcpListener, TcpSocket
from usnet_core.wire.tcp import ACK, SYN, TcpRepr

LOCAL = 0x0A00_0001  # 10.0.0.1
REMOTE = 0x0A00_0002  # 10.0.0.2
LPORT = 80
RPORT = 49500
REMOTE_ISS = 10_000

# Plain segments unless a test asks for options: no timestamps, SACK or window scaling.
PLAIN = {"timestamps": False, "sack": False, "window_scaling": False}


def seeded_entropy(seed: int = 1) -> Any:
    """A deterministic entropy(n) function."""
    counter = [0]

    def entropy(n: int) -> bytes:
        out = b""
        while len(out) < n:
            counter[0] += 1
            out += hashlib.sha256(f"{seed}:{counter[0]}".encode()).digest()
        return out[:n]

    return entropy


def config(**overrides: Any) -> TcpConfig:
    """A test TcpConfig: PLAIN options, 64 KiB buffers, unless overridden."""
    base: dict[str, Any] = {**PLAIN, "rx_buffer": 65535, "tx_buffer": 65535}
    base.update(overrides)
    return TcpConfig(**base)


class Harness:
    """One TcpLayer at LOCAL and a scripted peer at REMOTE."""

    def __init__(self, cfg: TcpConfig | None = None, **overrides: Any) -> None:
        self.cfg = cfg if cfg is not None else config(**overrides)
        self.layer = TcpLayer({LOCAL}, seeded_entropy(), self.cfg)
        self.now = 0.0

    # --- the peer's side
    def seg(
        self,
        seq: int,
        ack: int = 0,
        flags: int = ACK,
        window: int = 65535,
        payload: bytes = b"",
        **options: Any,
    ) -> TcpRepr:
        """A segment from the peer (REMOTE:RPORT -> LOCAL:LPORT)."""
        sport = options.pop("src_port", RPORT)
        dport = options.pop("dst_port", LPORT)
        return TcpRepr(sport, dport, seq, ack, flags, window, payload=payload, **options)

    def send(self, seq: int, ack: int = 0, flags: int = ACK, **kw: Any) -> None:
        """Feed one segment from the peer to the layer at the current time."""
        self.send_repr(self.seg(seq, ack, flags, **kw))

    def send_repr(self, seg: TcpRepr, src: int = REMOTE, dst: int = LOCAL) -> None:
        """Feed a prepared segment."""
        self.layer.receive(src, dst, memoryview(seg.to_bytes(src, dst)), self.now)

    def recv(self) -> list[TcpRepr]:
        """Everything the layer sends now, parsed back (payload as bytes)."""
        out = []
        for src, dst, raw, ttl in self.layer.dispatch(self.now):
            assert ttl > 0
            seg = TcpRepr.parse(raw, src, dst)
            out.append(dataclasses.replace(seg, payload=bytes(seg.payload)))
        return out

    def recv_one(self) -> TcpRepr:
        """Exactly one segment must come out."""
        out = self.recv()
        assert len(out) == 1, out
        return out[0]

    def recv_nothing(self) -> None:
        """No segment must come out."""
        out = self.recv()
        assert out == [], out

    def advance(self, dt: float) -> None:
        """Move the fake clock forward."""
        self.now += dt

    def run_timers(self, until: float) -> list[TcpRepr]:
        """Step the clock from timer to timer up to `until`, collecting output."""
        out: list[TcpRepr] = []
        while True:
            at = self.layer.poll_at()
            if at is None or at > until:
                break
            self.now = max(self.now, at)
            out += self.recv()
        self.now = max(self.now, until)
        out += self.recv()
        return out

    # --- canned openings
    def listen(self, backlog: int | None = None) -> TcpListener:
        """Listen on LOCAL:LPORT."""
        return self.layer.listen((LOCAL, LPORT), backlog)

    def open_passive(self, window: int = 65535, **syn_options: Any) -> tuple[TcpSocket, TcpRepr]:
        """Listen, handshake from the peer, accept; returns (socket, our SYN-ACK)."""
        lst = self.listen()
        self.send(REMOTE_ISS, 0, SYN, window=window, mss=1460, **syn_options)
        synack = self.recv_one()
        assert synack.flags == SYN | ACK
        ts = syn_options.get("timestamp")
        ack_opts: dict[str, Any] = {}
        if ts is not None and synack.timestamp is not None:
            ack_opts["timestamp"] = (ts[0] + 1, synack.timestamp[0])
        self.send(REMOTE_ISS + 1, synack.seq + 1, ACK, window=window, **ack_opts)
        sock = lst.accept()
        self.recv_nothing()
        return sock, synack

    def open_active(self, window: int = 65535, **synack_options: Any) -> tuple[TcpSocket, TcpRepr]:
        """Connect to the peer and complete the handshake; returns (socket, our SYN)."""
        sock = self.layer.connect((REMOTE, RPORT), self.now, local=(LOCAL, LPORT))
        syn = self.recv_one()
        assert syn.flags == SYN
        self.send(REMOTE_ISS, syn.seq + 1, SYN | ACK, window=window, mss=1460, **synack_options)
        ack = self.recv_one()
        assert ack.flags == ACK
        return sock, syn
