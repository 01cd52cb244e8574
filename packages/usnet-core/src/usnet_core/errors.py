"""Error types of usnet_core.

Two kinds, as in h11: the peer's bad packet (`Malformed`) is counted and dropped by the
Interface and never reaches the caller; the caller's misuse or a connection's fate raises
a subclass of `UsnetError`, each mapping to the standard exception an adapter re-raises.
"""

from __future__ import annotations

import errno


class Malformed(Exception):
    """A packet from the wire failed validation (length, checksum or semantics)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UsnetError(OSError):
    """Base of the errors a socket operation raises; an OSError with a real errno."""

    default_errno: int = errno.EIO

    def __init__(self, message: str = "", err: int | None = None) -> None:
        code = self.default_errno if err is None else err
        super().__init__(code, message or _strerror(code))


# glibc's strerror() texts, so messages read like the kernel socket's (the core may not
# import os for os.strerror).
_MESSAGES = {
    errno.ECONNREFUSED: "Connection refused",
    errno.ECONNRESET: "Connection reset by peer",
    errno.ECONNABORTED: "Software caused connection abort",
    errno.ETIMEDOUT: "Connection timed out",
    errno.EPIPE: "Broken pipe",
    errno.EHOSTUNREACH: "No route to host",
    errno.ENETUNREACH: "Network is unreachable",
    errno.EADDRINUSE: "Address already in use",
    errno.EADDRNOTAVAIL: "Cannot assign requested address",
    errno.ENOTCONN: "Transport endpoint is not connected",
    errno.EINVAL: "Invalid argument",
    errno.EAGAIN: "Resource temporarily unavailable",
    errno.EMSGSIZE: "Message too long",
    errno.EBADF: "Bad file descriptor",
    errno.EACCES: "Permission denied",
    errno.EIO: "Input/output error",
}


def _strerror(code: int) -> str:
    return _MESSAGES.get(code) or errno.errorcode.get(code, "Unknown error")


class ConnectionRefused(UsnetError, ConnectionRefusedError):
    """The peer answered with RST (or ICMP port unreachable) to a connection attempt."""

    default_errno = errno.ECONNREFUSED


class ConnectionReset(UsnetError, ConnectionResetError):
    """The peer reset an established connection."""

    default_errno = errno.ECONNRESET


class ConnectionAborted(UsnetError, ConnectionAbortedError):
    """The connection was aborted locally (abort() or a protocol failure)."""

    default_errno = errno.ECONNABORTED


class ConnectionTimedOut(UsnetError, TimeoutError):
    """Retransmissions, keep-alives or ARP resolution gave up."""

    default_errno = errno.ETIMEDOUT


class BrokenPipe(UsnetError, BrokenPipeError):
    """Sending after shutdown(write), close, or a reset."""

    default_errno = errno.EPIPE


class HostUnreachable(UsnetError):
    """No route or no ARP answer for the destination."""

    default_errno = errno.EHOSTUNREACH


class NetworkUnreachable(UsnetError):
    """ICMP network unreachable, or no route at all."""

    default_errno = errno.ENETUNREACH


class AddressInUse(UsnetError):
    """The local address/port is already bound."""

    default_errno = errno.EADDRINUSE


class AddressNotAvailable(UsnetError):
    """The local address is not one of the Interface's, or no ephemeral port is free."""

    default_errno = errno.EADDRNOTAVAIL


class NotConnected(UsnetError):
    """The socket is not connected (yet, or any more)."""

    default_errno = errno.ENOTCONN


class InvalidState(UsnetError):
    """The operation does not fit the socket's state (e.g. listen on a connected socket)."""

    default_errno = errno.EINVAL


class WouldBlock(UsnetError, BlockingIOError):
    """The operation cannot proceed now; buffers are full or empty."""

    default_errno = errno.EAGAIN


class MessageTooLong(UsnetError):
    """A datagram is larger than what fits in one IPv4 packet on this interface."""

    default_errno = errno.EMSGSIZE
