"""FaultInjector: a wrapper that drops, duplicates, reorders, corrupts and delays frames.

Every decision comes from a per-direction `random.Random` seeded from `seed`, and every frame
draws the same number of values whatever the probabilities are, so the fate of the n-th frame
in a direction depends only on the seed and n (and the frame's length, for which bit flips).
Only the moment a held frame is released depends on the clock.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .device import Device, DeviceWrapper, Frame

__all__ = ["FaultCounters", "FaultInjector"]

_ETH_HEADER = 14


@dataclass(slots=True)
class FaultCounters:
    """What the injector did to the frames of one direction."""

    seen: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    corrupted: int = 0
    delayed: int = 0
    rate_limited: int = 0  # tail-dropped because the rate limiter's queue was full


class _Direction:
    """The fault model of one direction: decides, holds and releases frames."""

    def __init__(self, owner: FaultInjector, seed: str) -> None:
        self.owner = owner
        self.rng = random.Random(seed)
        self.counters = FaultCounters()
        self.held: tuple[bytes, float] | None = None  # reordered frame, release deadline
        self.timed: list[tuple[float, int, bytes]] = []  # (due, seq, frame) heap
        self.ready: collections.deque[bytes] = collections.deque()
        self._seq = itertools.count()
        self.link_free = 0.0  # when the rate-limited link finishes its last frame

    def _shape(self, size: int, due: float, now: float) -> float | None:
        """The due time after rate limiting (a serialising link with a bounded queue),
        or None when the queue is full and the frame is tail-dropped."""
        rate = self.owner.rate
        if rate <= 0:
            return due
        start = max(now, self.link_free)
        if start - now > self.owner.rate_queue:
            self.counters.rate_limited += 1
            return None
        self.link_free = start + size / rate
        return max(due, self.link_free)

    def _emit(self, frame: bytes, due: float, now: float) -> None:
        if due > now:
            heapq.heappush(self.timed, (due, next(self._seq), frame))
        else:
            self.ready.append(frame)

    def feed(self, frame: Frame, now: float) -> None:
        o, c = self.owner, self.counters
        c.seen += 1
        r_drop, r_dup, r_reorder, r_corrupt, r_pos, r_jitter = (self.rng.random() for _ in range(6))
        if r_drop < o.drop:
            c.dropped += 1
            return
        data = bytes(frame)
        if r_corrupt < o.corrupt and data:
            # Flip one bit past the Ethernet header, so checksums (not MAC filters) meet it.
            start = _ETH_HEADER if len(data) > _ETH_HEADER else 0
            bit = int(r_pos * (len(data) - start) * 8)
            buf = bytearray(data)
            buf[start + bit // 8] ^= 1 << (bit % 8)
            data = bytes(buf)
            c.corrupted += 1
        copies = 2 if r_dup < o.duplicate else 1
        c.duplicated += copies - 1
        extra = o.delay + r_jitter * o.jitter
        if extra > 0:
            c.delayed += copies
        due = now + extra
        if r_reorder < o.reorder and self.held is None:
            c.reordered += 1
            self.held = (data, now + o.reorder_timeout)
            if copies == 2:
                self._emit(data, due, now)
            return
        for _ in range(copies):
            shaped = self._shape(len(data), due, now)
            if shaped is not None:
                self._emit(data, shaped, now)
        if self.held is not None:
            held, _ = self.held
            self.held = None
            self._emit(held, due, now)

    def release_due(self, now: float) -> None:
        if self.held is not None and self.held[1] <= now:
            self.ready.append(self.held[0])
            self.held = None
        while self.timed and self.timed[0][0] <= now:
            self.ready.append(heapq.heappop(self.timed)[2])

    def poll_at(self) -> float | None:
        times = [self.timed[0][0]] if self.timed else []
        if self.held is not None:
            times.append(self.held[1])
        return min(times, default=None)


class FaultInjector(DeviceWrapper):
    """Wraps any Device and applies a seeded fault model to frames in both directions.

    Probabilities are per frame in [0, 1]. `reorder` holds a frame back and releases it
    right after the next frame in the same direction (or after `reorder_timeout` seconds if
    none comes). `delay` + uniform [0, `jitter`) seconds delays each frame; `corrupt` flips
    one bit after the Ethernet header. `rate` (bytes per second, 0 = unlimited) serialises
    frames like a slow link whose queue holds at most `rate_queue` seconds of data; frames
    beyond that are tail-dropped (counted as `rate_limited`). Held frames leave on the next
    `recv_batch`, `send_batch` or `flush` once due; `poll_at()` says when that is, so an
    adapter should wake by min(core deadline, `poll_at()`).
    """

    def __init__(
        self,
        device: Device,
        seed: int | str,
        *,
        drop: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        corrupt: float = 0.0,
        delay: float = 0.0,
        jitter: float = 0.0,
        reorder_timeout: float = 0.05,
        rate: float = 0.0,
        rate_queue: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Wrap `device`; see the class docstring for the fault model."""
        for label, p in (
            ("drop", drop),
            ("duplicate", duplicate),
            ("reorder", reorder),
            ("corrupt", corrupt),
        ):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{label} must be a probability in [0, 1], not {p!r}")
        if delay < 0 or jitter < 0 or reorder_timeout < 0 or rate < 0 or rate_queue < 0:
            raise ValueError(
                "delay, jitter, reorder_timeout, rate and rate_queue must not be negative"
            )
        self.inner = device
        self.seed = seed
        self.drop = drop
        self.duplicate = duplicate
        self.reorder = reorder
        self.corrupt = corrupt
        self.delay = delay
        self.jitter = jitter
        self.reorder_timeout = reorder_timeout
        self.rate = rate
        self.rate_queue = rate_queue
        self.clock = clock
        self._rx = _Direction(self, f"{seed}/rx")
        self._tx = _Direction(self, f"{seed}/tx")

    @property
    def rx_counters(self) -> FaultCounters:
        """What was done to received frames."""
        return self._rx.counters

    @property
    def tx_counters(self) -> FaultCounters:
        """What was done to sent frames."""
        return self._tx.counters

    def poll_at(self) -> float | None:
        """When held frames become due (-inf if some are ready now); None if nothing is held."""
        if self._rx.ready:
            return float("-inf")
        times = [t for t in (self._rx.poll_at(), self._tx.poll_at()) if t is not None]
        return min(times, default=None)

    def flush(self) -> None:
        """Send the held outgoing frames that are due."""
        now = self.clock()
        self._tx.release_due(now)
        if self._tx.ready:
            out = list(self._tx.ready)
            self._tx.ready.clear()
            self.inner.send_batch(out)

    def recv_batch(self, limit: int = 64) -> list[bytes]:
        """Frames from the wrapped device after the fault model, at most `limit`."""
        rx = self._rx
        room = limit - len(rx.ready)
        incoming = self.inner.recv_batch(room) if room > 0 else []
        now = self.clock()
        rx.release_due(now)
        for frame in incoming:
            rx.feed(frame, now)
        self.flush()
        n = min(limit, len(rx.ready))
        return [rx.ready.popleft() for _ in range(n)]

    def send_batch(self, frames: Iterable[Frame]) -> None:
        """Apply the fault model, then hand what survives (and is due) to the wrapped device."""
        now = self.clock()
        self._tx.release_due(now)
        for frame in frames:
            self._tx.feed(frame, now)
        self.flush()

    def close(self) -> None:
        """Close the wrapped device; held frames are discarded."""
        self.inner.close()
