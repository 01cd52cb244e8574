"""patch_socket(): run unported code on usnet by swapping the socket module's names.

    import usnet_sync
    usnet_sync.patch_socket()        # before importing or starting the program's networking
    import http.server               # ...now serves on the userspace stack

This is what `usnet run` and `python -m usnet_sync.run` do before running a program.
"""

from __future__ import annotations

import socket as _std
import threading
from typing import Any

# The names swapped in the standard socket module, and where the replacement lives in
# usnet_sync.socket.
PATCHED_NAMES = (
    "socket",
    "SocketType",
    "create_connection",
    "create_server",
    "getaddrinfo",
    "gethostbyname",
    "getfqdn",
)

_lock = threading.Lock()
_saved: dict[str, Any] | None = None
_saved_wrap_socket: Any = None


def patch_socket() -> None:
    """Make the standard `socket` module create usnet sockets (idempotent).

    Swapped: socket.socket and socket.SocketType (AF_INET TCP/UDP on the default stack;
    any other family, type or an existing descriptor still gets a kernel socket),
    create_connection, create_server, getaddrinfo, gethostbyname and getfqdn (names are
    resolved in the stack, never by the kernel's resolver). So socketserver, http.server,
    http.client, urllib.request and h11-based code run on usnet unchanged.

    Limits:
    - AF_UNIX, AF_INET6, AF_PACKET, raw sockets, socketpair() and fromfd() stay on the
      kernel; so does anything bound to or connecting to 127.0.0.0/8 (loopback integration).
    - Modules that did `from socket import socket` (or create_connection, ...) before the
      patch keep the kernel versions: patch first, then import the program.
    - TLS is not supported over usnet yet: ssl needs a kernel descriptor, so
      SSLContext.wrap_socket refuses a usnet socket with a clear OSError.
    - select/selectors/epoll work on fileno(); in single-thread mode (USNET_MODE=single)
      nothing drives the stack while a program sleeps in select(), so use the default
      multi-thread mode for event-loop style programs.
    - gethostbyname_ex, gethostbyaddr and getnameinfo are not swapped (they would still
      ask the kernel's resolver); getfqdn is swapped for one that does no reverse lookup.
    - USNET_MODE=host: the swapped names hand back the kernel's sockets and functions.
    """
    global _saved, _saved_wrap_socket
    import usnet_sync.socket as facade  # noqa: PLC0415 (captures the originals first)

    with _lock:
        if _saved is not None:
            return
        saved = {name: getattr(_std, name) for name in PATCHED_NAMES}
        for name in PATCHED_NAMES:
            setattr(_std, name, getattr(facade, name))
        _saved = saved
        _saved_wrap_socket = _patch_ssl()


def unpatch_socket() -> None:
    """Restore the standard socket module (a no-op when not patched)."""
    global _saved, _saved_wrap_socket
    with _lock:
        if _saved is None:
            return
        for name, value in _saved.items():
            setattr(_std, name, value)
        _saved = None
        if _saved_wrap_socket is not None:
            import ssl  # noqa: PLC0415

            ssl.SSLContext.wrap_socket = _saved_wrap_socket  # type: ignore[method-assign]
            _saved_wrap_socket = None


def is_patched() -> bool:
    """Whether patch_socket() is in effect."""
    return _saved is not None


def _patch_ssl() -> Any:
    try:
        import ssl  # noqa: PLC0415
    except ImportError:  # Python built without ssl
        return None
    from usnet_sync.socket import refuse_tls  # noqa: PLC0415

    original = ssl.SSLContext.wrap_socket

    def wrap_socket(self: ssl.SSLContext, sock: Any, *args: Any, **kwargs: Any) -> Any:
        refuse_tls(sock)
        return original(self, sock, *args, **kwargs)

    wrap_socket.__doc__ = original.__doc__
    ssl.SSLContext.wrap_socket = wrap_socket  # type: ignore[method-assign]
    return original
