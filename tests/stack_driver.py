"""A minimal test driver: one thread moves frames between a Device and an Interface.

The real adapters (usnet_sync, usnet_trio) do this with readiness fds and per-socket
waiting; tests of the core against the kernel only need the loop itself.

The loop sleeps until the device fd is readable, the wake-up pipe is written (`call`), or
the earliest deadline passes: the Interface's `poll_at()` and, for devices that hold frames
back (FaultInjector delays and reorders), the device's own `poll_at()` if it has one.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from usnet_backends.device import Device
from usnet_core.iface import Interface

T = TypeVar("T")

_IDLE = 0.5  # longest sleep when nothing is due (also bounds how late `close` is seen)


def _device_deadline(device: Device) -> float | None:
    """The device's `poll_at()` (held frames become due), when it has one."""
    poll_at: Callable[[], float | None] | None = getattr(device, "poll_at", None)
    return poll_at() if poll_at is not None else None


class Driver:
    """Drive `iface` over `device` in a background thread until closed.

    `batch` bounds the frames read per wake-up. Counters (`wakeups`, `frames_in`,
    `frames_out`) are for benchmarks and for tests that check the loop was not idle.
    """

    def __init__(self, iface: Interface, device: Device, *, batch: int = 256) -> None:
        self.iface = iface
        self.device = device
        self.batch = batch
        self.cond = threading.Condition()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stop = False
        self.error: BaseException | None = None
        self.wakeups = 0
        self.frames_in = 0
        self.frames_out = 0
        self._thread = threading.Thread(target=self._run, name="usnet-test-driver", daemon=True)
        self._thread.start()

    def _timeout(self) -> float:
        with self.cond:
            deadlines = [
                t for t in (self.iface.poll_at(), _device_deadline(self.device)) if t is not None
            ]
        if not deadlines:
            return _IDLE
        return min(_IDLE, max(0.0, min(deadlines) - time.monotonic()))

    def _run(self) -> None:
        fd = self.device.fileno()
        try:
            while not self._stop:
                readable, _, _ = select.select([fd, self._wake_r], [], [], self._timeout())
                if self._wake_r in readable:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                with self.cond:
                    self.wakeups += 1
                    now = time.monotonic()
                    frames = self.device.recv_batch(self.batch)
                    self.frames_in += len(frames)
                    receive = self.iface.receive
                    for frame in frames:
                        receive(frame, now)
                    out = self.iface.transmit(now)
                    self.frames_out += len(out)
                    # Also with nothing to send: a wrapper releases its due frames here.
                    self.device.send_batch(out)
                    self.cond.notify_all()
        except BaseException as exc:  # surfaced by close() so a test cannot miss it
            self.error = exc
            with self.cond:
                self.cond.notify_all()

    def wake(self) -> None:
        """Make the loop run an iteration soon (e.g. after changing a socket)."""
        with contextlib.suppress(BlockingIOError):  # a full pipe already wakes it
            os.write(self._wake_w, b"x")

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` under the stack lock, then wake the loop to transmit."""
        try:
            with self.cond:
                return fn()
        finally:
            self.wake()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until `predicate()` (evaluated under the lock) holds; False on timeout.

        Returns early (False unless the predicate holds) when the loop died; `close`
        re-raises what it died of."""
        with self.cond:
            self.cond.wait_for(lambda: predicate() or self.error is not None, timeout)
            return predicate()

    def close(self) -> None:
        """Stop the loop and re-raise anything it died of."""
        self._stop = True
        self.wake()
        self._thread.join(5)
        os.close(self._wake_r)
        os.close(self._wake_w)
        if self.error is not None:
            raise self.error


@contextmanager
def driving(iface: Interface, device: Device, *, batch: int = 256) -> Iterator[Driver]:
    """A Driver for the `with` block."""
    driver = Driver(iface, device, batch=batch)
    try:
        yield driver
    finally:
        driver.close()
