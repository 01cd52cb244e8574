"""Arbitrary segments never raise out of the layer and never break its bookkeeping."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies_tcp_machine import wild_segments
from tcp_harness import LOCAL, LPORT, REMOTE, REMOTE_ISS, RPORT, Harness
from usnet_core import errors
from usnet_core.tcp import State

R = REMOTE_ISS + 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.booleans())
def test_wild_segments_into_established_connection(data: Any, options: bool) -> None:
    h = Harness(timestamps=options, sack=options, window_scaling=options, min_rto=0.2)
    sock, synack = h.open_passive(
        **({"timestamp": (1, 0), "sack_permitted": True, "window_scale": 2} if options else {})
    )
    L = synack.seq + 1
    sock.send(b"q" * 5000)
    h.recv()
    segs = data.draw(st.lists(wild_segments(R, L, (RPORT, LPORT)), max_size=20))
    for kw in segs:
        h.send(**kw)
        h.now += 0.01
        h.recv()
        with contextlib.suppress(errors.UsnetError):
            sock.recv(100_000)
    # Whatever happened, the connection is in a sane state and timers are finite.
    assert sock.state in State
    if sock.state is State.CLOSED:
        assert h.layer.connections == 0
    h.run_timers(h.now + 10_000.0)
    assert h.layer.half_open == 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_bytes_are_dropped(raw: bytes) -> None:
    h = Harness()
    h.listen()
    h.layer.receive(REMOTE, LOCAL, memoryview(raw), 0.0)
    h.layer.dispatch(0.0)


def test_icmp_with_garbage_inner_is_ignored() -> None:
    h = Harness()
    h.open_passive()
    for inner in (b"", b"\x45" * 10, b"\x4f" + b"\x00" * 27, bytes(28)):
        for kind in ("port_unreachable", "frag_needed", "host_unreachable"):
            h.layer.on_icmp_error(kind, REMOTE, LOCAL, memoryview(inner))
    assert next(iter(h.layer.iter_connections())).state is State.ESTABLISHED
