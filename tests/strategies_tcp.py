"""Hypothesis strategies for TCP segments (wire.tcp); tests/strategies.py holds the rest."""

from __future__ import annotations

from hypothesis import strategies as st
from usnet_core.wire.tcp import RST, SYN, TcpRepr

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
ports = st.integers(1, 0xFFFF)
ipv4_addrs = u32

# Any flag byte except SYN together with RST, which parse rejects.
tcp_flags = st.integers(0, 0xFF).filter(lambda f: f & (SYN | RST) != SYN | RST)

sack_blocks = st.lists(st.tuples(u32, u32), max_size=6).map(tuple)


@st.composite
def tcp_reprs(draw: st.DrawFn, max_payload: int = 64) -> TcpRepr:
    """Any emittable TcpRepr, every option independently present or absent."""
    return TcpRepr(
        src_port=draw(ports),
        dst_port=draw(ports),
        seq=draw(u32),
        ack=draw(u32),
        flags=draw(tcp_flags),
        window=draw(u16),
        urgent=draw(u16),
        mss=draw(st.none() | u16),
        window_scale=draw(st.none() | st.integers(0, 14)),
        sack_permitted=draw(st.booleans()),
        sack_blocks=draw(sack_blocks),
        timestamp=draw(st.none() | st.tuples(u32, u32)),
        payload=draw(st.binary(max_size=max_payload)),
    )
