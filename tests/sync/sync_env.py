"""Two Stacks over the in-memory link, for usnet_sync tests that need no root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from usnet_backends.memory import memory_pair
from usnet_core.iface import Interface, InterfaceConfig
from usnet_sync.stack import Mode, Stack

A_IP, B_IP = "10.5.0.1", "10.5.0.2"


@contextmanager
def stack_pair(mode: Mode = Mode.MULTI) -> Iterator[tuple[Stack, Stack]]:
    """Stacks A (10.5.0.1) and B (10.5.0.2) on one in-memory segment."""
    dev_a, dev_b = memory_pair(queue_limit=4096)
    ia = Interface(InterfaceConfig.build("02:00:00:00:05:01", A_IP + "/24"), entropy=os.urandom)
    ib = Interface(InterfaceConfig.build("02:00:00:00:05:02", B_IP + "/24"), entropy=os.urandom)
    a, b = Stack(ia, dev_a, mode=mode), Stack(ib, dev_b, mode=mode)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


@contextmanager
def driven(stack: Stack) -> Iterator[None]:
    """Drive a single-thread-mode stack from a helper thread (a stand-in for a peer
    process that keeps its own stack running) for the `with` block."""
    import threading

    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            with stack.lock:
                if stack.closed:
                    return
                stack.poll(0.02)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5.0)
