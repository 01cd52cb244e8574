"""Configuration of the TCP layer: one dataclass, shared by every connection it makes."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TcpConfig"]


@dataclass(slots=True)
class TcpConfig:
    """Tunables of a TcpLayer; each socket copies what it may change (nodelay, keepalive).

    Times are seconds. Defaults follow Linux where the RFCs leave a choice.
    """

    mss: int = 1460  # our MSS option: MTU - 40
    max_segment: int = 0  # largest TCP payload+options we emit; 0 = mss (> mss with TSO)
    rx_buffer: int = 500_000  # SOCKET_BUFFER: receive buffer = max receive window
    tx_buffer: int = 500_000
    backlog: int = 32  # SOCKET_BACKLOG: established connections waiting for accept
    syn_queue: int = 1024  # half-open connections per listener (drop-oldest beyond)
    congestion: str = "newreno"  # or "cubic"
    initial_window: int = 10  # segments (RFC 6928)
    nodelay: bool = False
    keepalive: float | None = None  # idle seconds before the first probe; None = off
    keepalive_interval: float = 75.0
    keepalive_count: int = 9
    ack_batching: bool = True  # one ACK per dispatch for in-order data; False: per 2 segments
    delayed_ack: float = 0.04  # RFC 1122 4.2.3.2 allows 0.5 s; we cap at 0.2 s
    min_rto: float = 0.2
    max_rto: float = 60.0
    initial_rto: float = 1.0
    syn_retries: int = 6  # SYN retransmissions before ConnectionTimedOut (Linux)
    synack_retries: int = 5
    max_retries: int = 15  # data retransmissions before ConnectionTimedOut (Linux tcp_retries2)
    msl: float = 30.0  # TIME-WAIT lasts 2 * msl
    fin_timeout: float = 60.0  # orphaned FIN-WAIT-2 lifetime (Linux tcp_fin_timeout)
    challenge_ack_limit: int = 1000  # per second, over the whole layer (RFC 5961 7)
    window_scaling: bool = True  # RFC 7323
    timestamps: bool = True  # RFC 7323
    sack: bool = True  # RFC 2018
    dsack: bool = False  # RFC 2883 duplicate-SACK reports (Linux: on); see docs/tcp.md
    max_ooo_ranges: int = 32  # out-of-order islands kept per connection
    ttl: int = 64

    def __post_init__(self) -> None:
        if self.mss < 64 or self.mss > 65495:
            raise ValueError("TcpConfig.mss must be within 64..65495")
        if self.max_segment == 0:
            self.max_segment = self.mss
        if self.max_segment < self.mss or self.max_segment > 65495:
            raise ValueError("TcpConfig.max_segment must be within mss..65495")
        if self.rx_buffer < 1 or self.tx_buffer < 1:
            raise ValueError("TcpConfig buffers must be positive")
        if self.backlog < 0 or self.syn_queue < 1:
            raise ValueError("TcpConfig.backlog must be >= 0 and syn_queue >= 1")
        if self.congestion not in ("newreno", "cubic"):
            raise ValueError("TcpConfig.congestion must be 'newreno' or 'cubic'")
        if not 0 < self.delayed_ack <= 0.2:
            raise ValueError("TcpConfig.delayed_ack must be within (0, 0.2]")
