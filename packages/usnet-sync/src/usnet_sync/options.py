"""Timeouts and blocking mode of a socket, shared by a handle and its try_clone() copies."""

from __future__ import annotations

import errno
from types import TracebackType
from typing import Self


class SocketOptions:
    """Per-socket (not per-handle) settings, like one file description's flags."""

    __slots__ = ("nonblocking", "read_timeout", "refs", "write_timeout")

    def __init__(self) -> None:
        self.read_timeout: float | None = None
        self.write_timeout: float | None = None
        self.nonblocking = False
        self.refs = 1

    def timeout(self, write: bool) -> float | None:
        """What a blocking call waits: 0.0 when non-blocking, else the direction's timeout."""
        if self.nonblocking:
            return 0.0
        return self.write_timeout if write else self.read_timeout


def check_timeout(timeout: float | None) -> float | None:
    """Refuse 0 and negative timeouts, as Rust's set_read_timeout does."""
    if timeout is not None and timeout <= 0:
        raise OSError(errno.EINVAL, "cannot set a 0 or negative timeout (use set_nonblocking)")
    return timeout


class TimeoutMethods:
    """The usnet_sockets timeout methods over a SocketOptions in `_options`."""

    _options: SocketOptions

    @property
    def _opts(self) -> SocketOptions:
        return self._options

    def set_read_timeout(self, timeout: float | None) -> None:
        """Block reads at most `timeout` seconds (None: forever)."""
        self._opts.read_timeout = check_timeout(timeout)

    def set_write_timeout(self, timeout: float | None) -> None:
        """Block writes at most `timeout` seconds (None: forever)."""
        self._opts.write_timeout = check_timeout(timeout)

    def read_timeout(self) -> float | None:
        """The read timeout (None: block forever)."""
        return self._opts.read_timeout

    def write_timeout(self) -> float | None:
        """The write timeout (None: block forever)."""
        return self._opts.write_timeout

    def set_nonblocking(self, nonblocking: bool) -> None:
        """Make calls raise BlockingIOError instead of waiting."""
        self._opts.nonblocking = nonblocking


class Closing:
    """`with` support for anything with a close() method."""

    def close(self) -> None:
        """Release the object."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
