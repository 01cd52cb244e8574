"""The Stack: one usnet_core Interface driven over one Device, for blocking sockets.

Two ways to drive it (chosen by configuration, not code):

- multi-thread (default): a background thread waits on the device fd, a wake-up eventfd and
  the Interface's next timer, and feeds the core. Application threads take the stack lock,
  act on their socket, transmit what that produced right away, and wait on a per-socket
  condition that the stack notifies when the core reports the socket changed.
- single-thread: no background thread and no locking; a blocking call drives the stack
  itself (select on the device fd until the socket is ready or the call times out).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import select
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from usnet_backends.device import Device
from usnet_core.errors import WouldBlock
from usnet_core.iface import Interface

from usnet_sync.options import Closing
from usnet_sync.readiness import ReadinessFd

T = TypeVar("T")

# Frames read per device call, and calls per wake-up before transmitting once (so one ACK
# answers a whole batch, DESIGN.md performance plan 2).
RX_BATCH = 256
RX_ROUNDS = 8


class Mode(enum.Enum):
    """How a Stack is driven (see the module docstring); HOST means kernel sockets."""

    MULTI = "multi"
    SINGLE = "single"
    HOST = "host"


class CoreSocket(Protocol):
    """What the stack needs of a core socket to mirror its readiness (listeners have
    no `writable`; their Waiter is made with listening=True)."""

    @property
    def readable(self) -> bool: ...


class StackClosedError(OSError):
    """The stack was closed or its driver stopped; the socket can no longer be used."""


class Waiter:
    """The blocking-side companion of one core socket: its condition and readiness fd."""

    __slots__ = ("_readiness", "closed", "cond", "core", "listening")

    def __init__(self, stack: Stack, core: CoreSocket, *, listening: bool = False) -> None:
        self.core = core
        self.cond = threading.Condition(stack.lock)
        self.listening = listening
        self.closed = False
        self._readiness: ReadinessFd | None = None

    def fileno(self) -> int:
        """A pollable fd mirroring the core socket (created on first use)."""
        if self.closed:
            raise OSError(errno.EBADF, "socket is closed")
        if self._readiness is None:
            self._readiness = ReadinessFd()
            self.refresh()
        return self._readiness.fileno()

    def refresh(self) -> None:
        """Wake blocked threads and bring the readiness fd up to date."""
        self.cond.notify_all()
        self.sync()

    def sync(self) -> None:
        """Bring the readiness fd up to date (after the owner acted on the socket)."""
        if self._readiness is not None:
            core = self.core
            # A listening socket is never writable (like the kernel's listen poll).
            writable = not self.listening and bool(getattr(core, "writable", False))
            self._readiness.set(core.readable, writable)

    def close(self) -> None:
        """Wake whoever waits (the fd polls readable first) and release the readiness fd."""
        self.closed = True
        self.cond.notify_all()
        if self._readiness is not None:
            self._readiness.set(True, True)
            self._readiness.close()
            self._readiness = None


class Stack(Closing):
    """An Interface over a Device, driven for blocking sockets (thread-safe in MULTI mode)."""

    def __init__(
        self,
        iface: Interface,
        device: Device,
        *,
        mode: Mode = Mode.MULTI,
        pin_cpu: int = -1,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        if mode is Mode.HOST:
            raise ValueError("host mode uses kernel sockets and has no Stack")
        self.iface = iface
        self.device = device
        self.mode = mode
        self.lock: threading.RLock | threading.Lock = threading.RLock()
        self._waiters: dict[object, Waiter] = {}
        self._closed = False
        self._failure: BaseException | None = None
        self._on_close = on_close
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._bg_deadline: float | None = None
        self._bg: threading.Thread | None = None
        if mode is Mode.MULTI:
            self._bg = threading.Thread(
                target=self._run, args=(pin_cpu,), name="usnet-stack", daemon=True
            )
            self._bg.start()

    # -- registration ----------------------------------------------------------------

    def register(self, core: CoreSocket, *, listening: bool = False) -> Waiter:
        """Track `core` so blocked callers wake when it changes."""
        waiter = Waiter(self, core, listening=listening)
        with self.lock:
            self._waiters[core] = waiter
        return waiter

    def unregister(self, core: object) -> None:
        """Stop tracking `core` and release its readiness fd."""
        with self.lock:
            waiter = self._waiters.pop(core, None)
            if waiter is not None:
                waiter.close()

    # -- calls from application threads ------------------------------------------------

    def call(self, waiter: Waiter | None, op: Callable[[], T], timeout: float | None) -> T:
        """Run `op` under the lock, waiting while it raises WouldBlock.

        timeout None blocks forever, 0 raises BlockingIOError at once, otherwise
        TimeoutError after `timeout` seconds. Whatever `op` produced is transmitted
        before returning.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            while True:
                self._check()
                try:
                    result = op()
                except WouldBlock:
                    self._flush()
                    if waiter is None or timeout == 0:
                        raise
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError("timed out") from None
                    self._wait(waiter, remaining)
                    continue
                except BaseException:
                    self._flush()
                    if waiter is not None:
                        waiter.sync()
                    raise
                self._flush()
                if waiter is not None:
                    waiter.sync()
                return result

    def run(self, op: Callable[[], T]) -> T:
        """Run a non-blocking `op` under the lock and transmit what it produced."""
        with self.lock:
            self._check()
            try:
                return op()
            finally:
                self._flush()

    def _check(self) -> None:
        if self._failure is not None:
            raise StackClosedError(f"usnet stack stopped: {self._failure!r}") from self._failure
        if self._closed:
            raise StackClosedError("usnet stack is closed")

    def _wait(self, waiter: Waiter, remaining: float | None) -> None:
        if self.mode is Mode.MULTI:
            waiter.cond.wait(remaining)
        else:
            self.poll(remaining)

    def poll(self, limit: float | None, extra_fds: Sequence[int] = ()) -> None:
        """Single-thread mode: wait for frames, the next timer or `extra_fds` (at most
        `limit` seconds), then drive the stack once. Call with the lock held."""
        deadline = self._deadline()
        timeout = limit
        if deadline is not None:
            until_timer = max(0.0, deadline - time.monotonic())
            timeout = until_timer if timeout is None else min(timeout, until_timer)
        select.select([self.device.fileno(), *extra_fds], [], [], timeout)
        self._pump(time.monotonic())

    def _deadline(self) -> float | None:
        """The earliest of the core's timer and the device's own (a FaultInjector's)."""
        deadline = self.iface.poll_at()
        device_poll_at = getattr(self.device, "poll_at", None)
        if device_poll_at is not None:
            other = device_poll_at()
            if other is not None and (deadline is None or other < deadline):
                deadline = other
        return deadline

    # -- the driver ---------------------------------------------------------------------

    def _flush(self) -> None:
        """Transmit what the core has now and wake sockets it reported changed."""
        now = time.monotonic()
        frames = self.iface.transmit(now)
        if frames:
            self.device.send_batch(frames)
        self._notify_changed()
        if self._bg is not None:
            deadline = self._deadline()
            bg = self._bg_deadline
            if deadline is not None and (bg is None or deadline < bg - 0.0005):
                os.eventfd_write(self._wake_fd, 1)

    def _notify_changed(self) -> None:
        changed = self.iface.take_changed()
        if not changed:
            return
        waiters = self._waiters
        for core in changed:
            waiter = waiters.get(core)
            if waiter is not None:
                waiter.refresh()

    def _pump(self, now: float) -> None:
        device, receive = self.device, self.iface.receive
        for _ in range(RX_ROUNDS):
            frames = device.recv_batch(RX_BATCH)
            for frame in frames:
                receive(frame, now)
            if len(frames) < RX_BATCH:
                break
        self._flush()

    def _run(self, pin_cpu: int) -> None:
        if pin_cpu >= 0:
            os.sched_setaffinity(0, {pin_cpu})  # 0 = the calling thread on Linux
        poller = select.epoll()
        try:
            poller.register(self.device.fileno(), select.EPOLLIN)
            poller.register(self._wake_fd, select.EPOLLIN)
            while True:
                with self.lock:
                    if self._closed:
                        return
                    deadline = self._bg_deadline = self._deadline()
                timeout = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
                poller.poll(timeout)
                with self.lock:
                    if self.closed:  # close() ran while we waited
                        return
                    with contextlib.suppress(BlockingIOError):
                        os.eventfd_read(self._wake_fd)
                    self._pump(time.monotonic())
        except BaseException as exc:
            with self.lock:
                self._failure = exc
                for waiter in self._waiters.values():
                    waiter.cond.notify_all()
        finally:
            poller.close()

    # -- lifetime ------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once close() ran."""
        return self._closed

    def close(self) -> None:
        """Stop the driver, release every readiness fd and close the device."""
        with self.lock:
            if self._closed:
                return
            self._closed = True
            for waiter in self._waiters.values():
                waiter.cond.notify_all()
                waiter.close()
            self._waiters.clear()
        os.eventfd_write(self._wake_fd, 1)
        if self._bg is not None and self._bg is not threading.current_thread():
            self._bg.join(5.0)
        os.close(self._wake_fd)
        try:
            self.device.close()
        finally:
            if self._on_close is not None:
                self._on_close()
