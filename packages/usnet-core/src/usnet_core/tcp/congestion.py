"""Congestion control in bytes: NewReno (RFC 5681/6582) and CUBIC (RFC 9438).

The connection decides *when* (new data acknowledged, fast retransmit, RTO) and the
controller decides *how much*: `cwnd` and `ssthresh`, both in bytes, so GSO/TSO segments of
64 KiB count for what they carry.
"""

from __future__ import annotations

__all__ = ["CongestionControl", "Cubic", "NewReno", "make_congestion"]

_INFINITE = 1 << 62


class CongestionControl:
    """Base: slow start and the RFC 5681 reactions; subclasses shape congestion avoidance."""

    name = "base"

    __slots__ = ("_acc", "cwnd", "mss", "ssthresh")

    def __init__(self, mss: int, initial_window: int = 10) -> None:
        self.mss = mss
        # RFC 6928: IW = min(10*MSS, max(2*MSS, 14600)) for initial_window=10.
        self.cwnd = (
            min(initial_window * mss, max(2 * mss, 14600))
            if initial_window > 2
            else (initial_window * mss)
        )
        self.ssthresh = _INFINITE
        self._acc = 0

    def set_mss(self, mss: int) -> None:
        """Change the segment size (after the handshake); keeps cwnd in whole segments."""
        if mss != self.mss:
            self.cwnd = max(mss, self.cwnd * mss // self.mss)
            self.mss = mss

    def on_ack(self, acked: int, now: float, rtt: float | None) -> None:
        """New data acknowledged outside loss recovery."""
        if self.cwnd < self.ssthresh:
            # Slow start, byte counting (RFC 3465) without the L limit, as Linux does.
            self.cwnd = min(self.cwnd + acked, max(self.ssthresh, self.cwnd))
            return
        self._avoid(acked, now, rtt)

    def _avoid(self, acked: int, now: float, rtt: float | None) -> None:
        # RFC 5681 3.1: one MSS per cwnd of data acknowledged.
        self._acc += acked
        if self._acc >= self.cwnd:
            self._acc -= self.cwnd
            self.cwnd += self.mss

    def on_loss(self, now: float, in_flight: int) -> None:
        """Entering fast recovery (RFC 5681 3.2 step 2 / RFC 6675 5)."""
        self.ssthresh = max(in_flight // 2, 2 * self.mss)
        self.cwnd = self.ssthresh
        self._acc = 0

    def on_recovery_exit(self, now: float) -> None:
        """Full acknowledgment ends fast recovery (RFC 6582 3.2 step 3)."""
        self.cwnd = max(min(self.cwnd, self.ssthresh), 2 * self.mss)

    def on_timeout(self, now: float, in_flight: int) -> None:
        """Retransmission timeout: RFC 5681 3.1 equation 4, loss window of one segment."""
        self.ssthresh = max(in_flight // 2, 2 * self.mss)
        self.cwnd = self.mss
        self._acc = 0


class NewReno(CongestionControl):
    """RFC 5681 slow start and congestion avoidance with RFC 6582 recovery."""

    name = "newreno"
    __slots__ = ()


_C = 0.4  # RFC 9438 4.1
_BETA = 0.7
_ALPHA = 3 * (1 - _BETA) / (1 + _BETA)  # RFC 9438 4.3


class Cubic(CongestionControl):
    """RFC 9438: window growth as a cubic function of time since the last reduction."""

    name = "cubic"
    __slots__ = ("_epoch", "_k", "_w_est", "_w_max")

    def __init__(self, mss: int, initial_window: int = 10) -> None:
        super().__init__(mss, initial_window)
        self._epoch: float | None = None
        self._k = 0.0
        self._w_max = 0.0  # segments
        self._w_est = 0.0  # segments

    def _avoid(self, acked: int, now: float, rtt: float | None) -> None:
        mss = self.mss
        cwnd = self.cwnd / mss
        if self._epoch is None:
            # RFC 9438 4.2: a new congestion-avoidance epoch.
            self._epoch = now
            if self._w_max < cwnd:
                self._w_max = cwnd
                self._k = 0.0
            else:
                self._k = ((self._w_max - cwnd) / _C) ** (1 / 3)
            self._w_est = cwnd
        t = now - self._epoch + (rtt or 0.0)
        target = _C * (t - self._k) ** 3 + self._w_max
        target = min(max(target, cwnd), 1.5 * cwnd)  # RFC 9438 4.2 bounds
        # RFC 9438 4.3: the Reno-friendly estimate.
        self._w_est += _ALPHA * (acked / mss) / cwnd
        target = max(target, self._w_est)
        grow = (target - cwnd) / cwnd * (acked / mss)
        self._acc += int(grow * mss)
        if self._acc >= 1:
            self.cwnd += self._acc
            self._acc = 0

    def _reduce(self, in_flight: int) -> None:
        cwnd = self.cwnd / self.mss
        # RFC 9438 4.7 fast convergence.
        self._w_max = cwnd * (1 + _BETA) / 2 if cwnd < self._w_max else cwnd
        self._epoch = None
        self.ssthresh = max(int(self.cwnd * _BETA), 2 * self.mss)

    def on_loss(self, now: float, in_flight: int) -> None:
        """Multiplicative decrease by beta = 0.7 (RFC 9438 4.6)."""
        self._reduce(in_flight)
        self.cwnd = self.ssthresh
        self._acc = 0

    def on_timeout(self, now: float, in_flight: int) -> None:
        """RFC 9438 4.8: reduce as on loss, then restart from one segment."""
        self._reduce(in_flight)
        self.cwnd = self.mss
        self._acc = 0


def make_congestion(name: str, mss: int, initial_window: int = 10) -> CongestionControl:
    """A controller by name: "newreno" or "cubic"."""
    if name == "newreno":
        return NewReno(mss, initial_window)
    if name == "cubic":
        return Cubic(mss, initial_window)
    raise ValueError(f"unknown congestion control {name!r}")
