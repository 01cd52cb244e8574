"""Retransmission timeout estimation, RFC 6298.

Karn's rule (RFC 6298 3, Karn & Partridge 1987) is the connection's job: it must not call
`sample` with the round trip of a segment that was retransmitted, because the ACK cannot
tell which transmission it answers; the exception is an RTT measured from a timestamp echo
(RFC 7323 4), which identifies the transmission and may be sampled even then. The backed-off
RTO is kept until a fresh sample arrives (RFC 6298 5.7).
"""

from __future__ import annotations

__all__ = ["RttEstimator"]

_ALPHA = 1 / 8  # RFC 6298 2.3
_BETA = 1 / 4
_K = 4


class RttEstimator:
    """SRTT/RTTVAR and the RTO derived from them, with exponential backoff (RFC 6298).

    The default minimum RTO is 200 ms, Linux's TCP_RTO_MIN, not the 1 s RFC 6298 2.4
    asks for: peers and middleboxes are tuned to Linux's behaviour, and a 1 s floor makes
    every loss on a LAN cost a second. `initial_rto` is the RFC 6298 2.1 value of 1 s.
    """

    __slots__ = (
        "_backoff",
        "_base_rto",
        "granularity",
        "initial_rto",
        "max_rto",
        "min_rto",
        "rttvar",
        "srtt",
    )

    def __init__(
        self,
        min_rto: float = 0.2,
        max_rto: float = 60.0,
        initial_rto: float = 1.0,
        granularity: float = 0.001,
    ) -> None:
        if not 0 < min_rto <= max_rto:
            raise ValueError("RttEstimator needs 0 < min_rto <= max_rto")
        self.min_rto = min_rto
        self.max_rto = max_rto
        self.initial_rto = initial_rto
        self.granularity = granularity
        self.srtt: float | None = None
        self.rttvar: float | None = None
        self._base_rto = min(max(initial_rto, min_rto), max_rto)  # RFC 6298 2.1
        self._backoff = 0

    def __repr__(self) -> str:
        return (
            f"RttEstimator(srtt={self.srtt!r}, rttvar={self.rttvar!r}, rto={self.rto!r}, "
            f"backoff={self._backoff})"
        )

    def sample(self, rtt: float) -> None:
        """Feed one round-trip measurement (seconds); recompute the RTO, ending backoff."""
        if rtt < 0:
            raise ValueError("RTT sample must be >= 0")
        if self.srtt is None or self.rttvar is None:
            # RFC 6298 2.2
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            # RFC 6298 2.3: RTTVAR first, with the old SRTT.
            self.rttvar = (1 - _BETA) * self.rttvar + _BETA * abs(self.srtt - rtt)
            self.srtt = (1 - _ALPHA) * self.srtt + _ALPHA * rtt
        rto = self.srtt + max(self.granularity, _K * self.rttvar)
        self._base_rto = min(max(rto, self.min_rto), self.max_rto)  # RFC 6298 2.4, 2.5
        self._backoff = 0

    @property
    def rto(self) -> float:
        """The current retransmission timeout in seconds, backoff included."""
        # The exponent cap only keeps the float finite; max_rto caps far earlier.
        return min(self._base_rto * 2.0 ** min(self._backoff, 1000), self.max_rto)

    @property
    def backoff_count(self) -> int:
        """How many backoffs since the last sample or reset (counts on past the cap)."""
        return self._backoff

    def backoff(self) -> None:
        """Double the RTO after a retransmission timeout, capped at max_rto (RFC 6298 5.5)."""
        self._backoff += 1

    def reset_backoff(self) -> None:
        """Return to the un-backed-off RTO (e.g. when new data is acknowledged)."""
        self._backoff = 0
