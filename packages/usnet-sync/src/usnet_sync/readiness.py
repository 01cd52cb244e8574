"""A real file descriptor whose poll state mirrors a usnet socket's readiness.

`select`, `selectors`, epoll and asyncio only understand file descriptors, but a usnet
socket lives in Python memory. Each socket that is asked for `fileno()` gets one end of an
AF_UNIX stream socketpair, and the stack steers its poll state:

- readable: the other end has written one byte into it (drained again when not readable);
- writable: its own send buffer has room. To make it *not* writable the stack fills that
  buffer (writes until EAGAIN, nobody reads the other end); to make it writable again the
  other end drains what was written.

Why not an eventfd or a pipe: an eventfd is writable until its counter is about to
overflow, so it cannot say "not writable"; a pipe needs two fds for one direction each and
still only one end is pollable per direction. A socketpair end can be made readable and
unwritable independently, with one fd handed out.
"""

from __future__ import annotations

import socket

_FILL = bytes(65536)


class ReadinessFd:
    """One pollable fd; `set(readable, writable)` makes its poll state match."""

    __slots__ = ("_inner", "_outer", "_readable", "_writable")

    def __init__(self) -> None:
        self._outer, self._inner = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for end in (self._outer, self._inner):
            end.setblocking(False)
        # Small buffers: filling takes one or two writes and little kernel memory.
        self._outer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        self._inner.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self._readable = False
        self._writable = True

    def fileno(self) -> int:
        """The fd to hand to select/poll/epoll (never read or write it yourself)."""
        return self._outer.fileno()

    def set(self, readable: bool, writable: bool) -> None:
        """Make the fd readable/writable exactly as given (no syscalls when unchanged)."""
        if readable != self._readable:
            if readable:
                self._inner.send(b"r")
            else:
                self._drain(self._outer)
            self._readable = readable
        if writable != self._writable:
            if writable:
                self._drain(self._inner)
            else:
                try:
                    while True:
                        self._outer.send(_FILL)
                except BlockingIOError:
                    pass
            self._writable = writable

    @staticmethod
    def _drain(end: socket.socket) -> None:
        try:
            while end.recv(65536):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Close both ends."""
        self._outer.close()
        self._inner.close()
