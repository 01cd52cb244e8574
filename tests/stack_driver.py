"""A minimal test driver: one thread moves frames between a Device and an Interface.

The real adapters (usnet_sync, usnet_trio) do this with readiness fds and per-socket
waiting; tests of the core against the kernel only need the loop itself.
"""

from __future__ import annotations

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


class Driver:
    """Drive `iface` over `device` in a background thread until closed."""

    def __init__(self, iface: Interface, device: Device) -> None:
        self.iface = iface
        self.device = device
        self.cond = threading.Condition()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stop = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="usnet-test-driver", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop:
                with self.cond:
                    deadline = self.iface.poll_at()
                timeout = 0.5 if deadline is None else max(0.0, deadline - time.monotonic())
                readable, _, _ = select.select(
                    [self.device.fileno(), self._wake_r], [], [], min(timeout, 0.5)
                )
                if self._wake_r in readable:
                    os.read(self._wake_r, 4096)
                with self.cond:
                    now = time.monotonic()
                    for frame in self.device.recv_batch(256):
                        self.iface.receive(frame, now)
                    self.device.send_batch(self.iface.transmit(now))
                    self.cond.notify_all()
        except BaseException as exc:  # surfaced by close() so a test cannot miss it
            self.error = exc
            with self.cond:
                self.cond.notify_all()

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` under the stack lock, then wake the loop to transmit."""
        with self.cond:
            result = fn()
        os.write(self._wake_w, b"x")
        return result

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until `predicate()` (evaluated under the lock) holds."""
        with self.cond:
            return self.cond.wait_for(lambda: predicate() or self.error is not None, timeout)

    def close(self) -> None:
        """Stop the loop and re-raise anything it died of."""
        self._stop = True
        os.write(self._wake_w, b"x")
        self._thread.join(5)
        os.close(self._wake_r)
        os.close(self._wake_w)
        if self.error is not None:
            raise self.error


@contextmanager
def driving(iface: Interface, device: Device) -> Iterator[Driver]:
    """A Driver for the `with` block."""
    driver = Driver(iface, device)
    try:
        yield driver
    finally:
        driver.close()
