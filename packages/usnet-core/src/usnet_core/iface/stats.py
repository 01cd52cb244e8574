"""Interface counters: what came in, what went out, and every drop by its reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Stats:
    """Counters of one Interface; `dropped` maps a short reason to a count."""

    rx_frames: int = 0
    rx_bytes: int = 0
    tx_frames: int = 0
    tx_bytes: int = 0
    arp_requests_sent: int = 0
    arp_replies_sent: int = 0
    icmp_echo_replies: int = 0
    icmp_errors_sent: int = 0
    icmp_errors_received: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def drop(self, reason: str, count: int = 1) -> None:
        """Count `count` frames or packets dropped for `reason`."""
        self.dropped[reason] += count

    @property
    def total_dropped(self) -> int:
        """All drops together."""
        return sum(self.dropped.values())

    def as_dict(self) -> dict[str, object]:
        """A plain dict snapshot (for logs, JSON, the `usnet` command)."""
        return {
            "rx_frames": self.rx_frames,
            "rx_bytes": self.rx_bytes,
            "tx_frames": self.tx_frames,
            "tx_bytes": self.tx_bytes,
            "arp_requests_sent": self.arp_requests_sent,
            "arp_replies_sent": self.arp_replies_sent,
            "icmp_echo_replies": self.icmp_echo_replies,
            "icmp_errors_sent": self.icmp_errors_sent,
            "icmp_errors_received": self.icmp_errors_received,
            "dropped": dict(self.dropped),
        }
