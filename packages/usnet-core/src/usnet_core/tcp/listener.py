"""Listening sockets: the SYN queue (half-open connections) and the accept queue.

A SYN does not create a TcpSocket (with its two buffers): it creates a small `_SynEntry`
holding what the SYN said, and a SYN-ACK goes out. Only the handshake-completing ACK makes a
TcpSocket, and only if the accept queue has room (SOCKET_BACKLOG). The SYN queue is bounded
per listener and drops its *oldest* entry when a new SYN arrives at the bound: under a flood
of spoofed SYNs memory stays at `syn_queue` small entries, and a real client whose entry
was evicted retransmits its SYN (Linux instead switches to SYN cookies, which lose the
SACK/window-scale options unless timestamps carry them; drop-oldest keeps every option).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import TYPE_CHECKING

from usnet_core import errors

if TYPE_CHECKING:
    from usnet_core.tcp.connection import TcpSocket
    from usnet_core.tcp.layer import TcpLayer
    from usnet_core.wire.tcp import TcpRepr

__all__ = ["TcpListener"]

Key = tuple[int, int, int, int]  # local addr, local port, remote addr, remote port


class _SynEntry:
    """A half-open passive connection: we sent SYN-ACK and wait for the ACK."""

    __slots__ = (
        "_scheduled",
        "deadline",
        "iss",
        "key",
        "listener",
        "retries",
        "sent_at",
        "syn",
        "window",
    )

    def __init__(
        self, listener: TcpListener, key: Key, syn: TcpRepr, iss: int, window: int, now: float
    ) -> None:
        self.listener = listener
        self.key = key
        self.syn = syn  # header fields and options only (payload dropped)
        self.iss = iss
        self.window = window  # the window field of our SYN-ACK
        self.retries = 0
        self.sent_at = now
        self.deadline = now
        self._scheduled: float | None = None


class TcpListener:
    """A listening TCP socket: accept() hands out established connections."""

    def __init__(self, layer: TcpLayer, local: tuple[int, int], backlog: int, syn_queue: int):
        self._layer = layer
        self.local = local
        self.backlog = backlog
        self._syn_queue = syn_queue
        self._ready: deque[TcpSocket] = deque()
        self._half: OrderedDict[Key, _SynEntry] = OrderedDict()
        self.closed = False

    def __repr__(self) -> str:
        return f"TcpListener({self.local}, pending={len(self._ready)})"

    @property
    def pending(self) -> int:
        """Established connections waiting for accept()."""
        return len(self._ready)

    @property
    def half_open(self) -> int:
        """Connections in SYN-RECEIVED (SYN queue length)."""
        return len(self._half)

    @property
    def readable(self) -> bool:
        """Whether accept() would not block."""
        return bool(self._ready) or self.closed

    def accept(self) -> TcpSocket:
        """Return the next established connection; WouldBlock if there is none."""
        if self.closed:
            raise errors.InvalidState("listener is closed")
        while self._ready:
            sock = self._ready.popleft()
            if sock._error is None or len(sock._rx):
                return sock
            # Reset before it was accepted: Linux hands it out anyway; we drop it.
        raise errors.WouldBlock()

    def close(self) -> None:
        """Stop listening: reset half-open and not-yet-accepted connections."""
        if self.closed:
            return
        self.closed = True
        layer = self._layer
        for entry in list(self._half.values()):
            layer._rst_syn_entry(entry)
            layer._drop_syn_entry(entry)
        while self._ready:
            self._ready.popleft().abort()
        layer._remove_listener(self)
        layer._mark_changed(self)
