"""The ARP neighbour cache with expiry and a bounded queue of frames awaiting resolution."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Pending:
    frames: deque[bytearray] = field(default_factory=deque)
    tries: int = 0
    next_try: float = 0.0


@dataclass(slots=True)
class _Entry:
    mac: bytes
    expires: float
    refreshing: bool = False


class NeighborCache:
    """IPv4 -> MAC with expiry (RFC 1122 2.3.2.1) and per-host pending frames (2.3.2.2).

    Memory is bounded: at most `size` entries (oldest evicted), at most `pending_hosts`
    unresolved hosts and `pending_per_host` frames each (the oldest frame is dropped, as
    RFC 1122 2.3.2.2 suggests keeping the latest).
    """

    def __init__(
        self,
        *,
        ttl: float,
        size: int,
        retry_interval: float,
        retries: int,
        pending_per_host: int,
        pending_hosts: int,
    ) -> None:
        self._ttl = ttl
        self._size = size
        self._retry_interval = retry_interval
        self._retries = retries
        self._pending_per_host = pending_per_host
        self._pending_hosts = pending_hosts
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._pending: dict[int, _Pending] = {}
        self._refresh: set[int] = set()
        self.overflow_drops = 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, ip: int, now: float) -> bytes | None:
        """The MAC for `ip`, or None when unknown or expired.

        An entry close to its expiry is still used, but a refresh request is scheduled so
        a busy flow never stalls waiting for a fresh answer.
        """
        entry = self._entries.get(ip)
        if entry is None:
            return None
        if now >= entry.expires:
            del self._entries[ip]
            return None
        if not entry.refreshing and entry.expires - now < 2 * self._retry_interval:
            entry.refreshing = True
            self._refresh.add(ip)
        return entry.mac

    def contains(self, ip: int) -> bool:
        """True if `ip` has an entry (expired or not); used for ARP's merge rule."""
        return ip in self._entries

    def fill(self, ip: int, mac: bytes, now: float) -> list[bytearray]:
        """Record `ip` at `mac`; returns the frames that were waiting for it."""
        entry = self._entries.pop(ip, None)
        if entry is None and len(self._entries) >= self._size:
            self._entries.popitem(last=False)
        self._entries[ip] = _Entry(mac, now + self._ttl)
        self._refresh.discard(ip)
        pending = self._pending.pop(ip, None)
        return list(pending.frames) if pending is not None else []

    def enqueue(self, ip: int, frame: bytearray, now: float) -> bool:
        """Queue `frame` until `ip` resolves; False if no room for another host (dropped)."""
        pending = self._pending.get(ip)
        if pending is None:
            if len(self._pending) >= self._pending_hosts:
                self.overflow_drops += 1
                return False
            pending = self._pending[ip] = _Pending(next_try=now)
        if len(pending.frames) >= self._pending_per_host:
            pending.frames.popleft()
            self.overflow_drops += 1
        pending.frames.append(frame)
        return True

    def is_pending(self, ip: int) -> bool:
        """True while `ip` is being resolved."""
        return ip in self._pending

    def due(self, now: float) -> tuple[list[int], list[tuple[int, list[bytearray]]]]:
        """Hosts to send an ARP request for now, and hosts given up with their frames."""
        ask: list[int] = []
        failed: list[tuple[int, list[bytearray]]] = []
        for ip, pending in list(self._pending.items()):
            if now < pending.next_try:
                continue
            if pending.tries >= self._retries:
                del self._pending[ip]
                failed.append((ip, list(pending.frames)))
                continue
            pending.tries += 1
            pending.next_try = now + self._retry_interval
            ask.append(ip)
        if self._refresh:
            ask.extend(ip for ip in self._refresh if ip not in self._pending)
            self._refresh.clear()
        return ask, failed

    def poll_at(self) -> float | None:
        """When `due` has work next, or None."""
        if self._refresh:
            return 0.0
        if not self._pending:
            return None
        return min(p.next_try for p in self._pending.values())

    def flush(self) -> None:
        """Forget everything (e.g. after an address change)."""
        self._entries.clear()
        self._pending.clear()
        self._refresh.clear()
