"""usnet_sync: blocking sockets on the usnet userspace TCP/IP stack.

    from usnet_sync import TcpListener, TcpStream, UdpSocket   # usnet_sockets' names
    from usnet_sync import socket, create_connection, create_server  # socket's names
    import usnet_sync; usnet_sync.patch_socket()                 # unported code

Names resolve inside the stack (`usnet_sync.resolve.resolve`, `usnet_to_socket_addrs`).
The stack comes from `USNET_SOCKETS` (see `usnet config --help`), or pass `stack=` built
with `open_stack(config)`.
"""

from __future__ import annotations

from usnet_sync import socket
from usnet_sync.default import default_stack, mode_from_env, open_stack, set_default_stack
from usnet_sync.patch import is_patched, patch_socket, unpatch_socket
from usnet_sync.resolve import Resolver, usnet_to_socket_addrs
from usnet_sync.socket import create_connection, create_server, getaddrinfo, gethostbyname
from usnet_sync.stack import Mode, Stack, StackClosedError
from usnet_sync.tcp import TcpListener, TcpStream
from usnet_sync.udp import UdpSocket

__all__ = [
    "create_connection",
    "create_server",
    "getaddrinfo",
    "gethostbyname",
    "is_patched",
    "patch_socket",
    "socket",
    "unpatch_socket",
    "Mode",
    "Resolver",
    "Stack",
    "StackClosedError",
    "TcpListener",
    "TcpStream",
    "UdpSocket",
    "default_stack",
    "mode_from_env",
    "open_stack",
    "set_default_stack",
    "usnet_to_socket_addrs",
]
