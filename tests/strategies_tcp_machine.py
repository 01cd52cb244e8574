"""Hypothesis strategies for the TCP machine tests: link fault models and app scripts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

Action = tuple[str, int, int]  # (verb, side 0/1, amount)


@dataclass(frozen=True)
class FaultModel:
    """Per-packet probabilities and delays of the fake IP link."""

    drop: float = 0.0
    duplicate: float = 0.0
    corrupt: float = 0.0
    reorder: float = 0.0  # chance of extra delay that lets later packets overtake
    delay: float = 0.001  # base one-way delay in seconds
    jitter: float = 0.0
    seed: int = 0


def fault_models(max_loss: float = 0.2) -> st.SearchStrategy[FaultModel]:
    """Fault models from a perfect link to a quite bad one."""
    p = st.floats(0.0, max_loss)
    return st.builds(
        FaultModel,
        drop=p,
        duplicate=st.floats(0.0, 0.1),
        corrupt=st.floats(0.0, 0.05),
        reorder=st.floats(0.0, 0.2),
        delay=st.sampled_from([0.0005, 0.005, 0.05]),
        jitter=st.sampled_from([0.0, 0.001, 0.02]),
        seed=st.integers(0, 2**32 - 1),
    )


_VERBS = [
    "send",
    "send",
    "send",
    "recv",
    "recv",
    "advance",
    "advance",
    "shutdown",
    "close",
    "abort",
]


def actions(max_size: int = 40) -> st.SearchStrategy[list[Action]]:
    """Application scripts: send (what fits now, up to 20 KB), sendall (up to 200 KB, fed
    as room appears), reads, clock steps, shutdown, close, abort, on either side."""
    verb = st.sampled_from(_VERBS)

    def amount(v: str) -> st.SearchStrategy[int]:
        if v == "send":
            return st.integers(1, 20_000)
        if v == "sendall":
            return st.integers(1, 200_000)
        if v == "advance":
            return st.integers(1, 500)  # milliseconds
        if v == "recv":
            return st.integers(1, 50_000)
        return st.just(0)

    one = verb.flatmap(lambda v: st.tuples(st.just(v), st.integers(0, 1), amount(v)))
    return st.lists(one, max_size=max_size)


def wild_segments(
    base_seq: int, base_ack: int, ports: tuple[int, int]
) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for Harness.seg: any flags, sequence numbers near the connection's
    or anywhere, random options and payloads (a blind attacker or a confused peer)."""
    near = st.one_of(
        st.integers(-70_000, 70_000).map(lambda d: (base_seq + d) & 0xFFFF_FFFF),
        st.integers(0, 0xFFFF_FFFF),
    )
    near_ack = st.one_of(
        st.integers(-70_000, 70_000).map(lambda d: (base_ack + d) & 0xFFFF_FFFF),
        st.integers(0, 0xFFFF_FFFF),
    )
    return st.fixed_dictionaries(
        {
            "seq": near,
            "ack": near_ack,
            "flags": st.integers(0, 0x3F).filter(lambda f: f & 0x06 != 0x06),
            "window": st.integers(0, 0xFFFF),
            "payload": st.binary(max_size=3000),
            "src_port": st.sampled_from([ports[0], ports[0], 1234]),
            "dst_port": st.sampled_from([ports[1], ports[1], 4321]),
        },
        optional={
            "mss": st.integers(0, 0xFFFF),
            "window_scale": st.integers(0, 14),
            "sack_permitted": st.booleans(),
            "sack_blocks": st.lists(st.tuples(near_ack, near_ack), max_size=3).map(tuple),
            "timestamp": st.tuples(st.integers(0, 0xFFFF_FFFF), st.integers(0, 0xFFFF_FFFF)),
        },
    )
