"""UDP sockets (RFC 768): a port table, bounded receive queues, ICMP error delivery."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from usnet_core.errors import (
    AddressInUse,
    AddressNotAvailable,
    ConnectionRefused,
    HostUnreachable,
    InvalidState,
    Malformed,
    MessageTooLong,
    NetworkUnreachable,
    NotConnected,
    UsnetError,
    WouldBlock,
)
from usnet_core.wire.udp import UdpPacket, UdpRepr

# Ephemeral ports come from the IANA dynamic range (RFC 6335 6). The kernel's own
# ephemeral range (Linux 32768-60999) overlaps; usnetd clients avoid it by asking the
# switch, and the adapter may pass another range.
EPHEMERAL_PORTS = (49152, 65535)
UDP_HEADER = 8
IPV4_HEADER = 20

Endpoint = tuple[int, int]  # (IPv4 address as int, port)


@dataclass(slots=True)
class _Datagram:
    data: bytes
    source: Endpoint


class UdpSocket:
    """One UDP endpoint: bind, connect, send_to/recv_from and their peek variants.

    Sends never block on the wire: datagrams are queued (bounded by `send_buffer`
    bytes) until the Interface transmits them. Received datagrams queue up to
    `recv_buffer` bytes; more are dropped and counted, as the kernel does.
    """

    def __init__(self, layer: UdpLayer, *, send_buffer: int, recv_buffer: int) -> None:
        self._layer = layer
        self.local: Endpoint | None = None
        self.remote: Endpoint | None = None
        self.ttl = layer.default_ttl
        self.broadcast = False
        self.send_buffer = send_buffer
        self.recv_buffer = recv_buffer
        self._rx: deque[_Datagram] = deque()
        self._rx_bytes = 0
        self._tx_bytes = 0
        self._error: UsnetError | None = None
        self.closed = False
        self.rx_dropped = 0

    # -- setup ---------------------------------------------------------------------

    def bind(self, local: Endpoint) -> None:
        """Bind to (addr, port); addr 0 means every local address, port 0 an ephemeral one."""
        self._check_open()
        if self.local is not None:
            raise InvalidState("socket is already bound")
        self.local = self._layer._bind(self, local)

    def connect(self, remote: Endpoint) -> None:
        """Set the default destination and only accept datagrams from it."""
        self._check_open()
        addr, port = remote
        if port == 0 or addr == 0:
            raise AddressNotAvailable("cannot connect to address 0 or port 0")
        if self.local is None:
            self.local = self._layer._bind(self, (0, 0))
        self.remote = (addr, port)
        self._error = None

    # -- sending -------------------------------------------------------------------

    def send_to(self, data: bytes | bytearray | memoryview, remote: Endpoint) -> int:
        """Queue one datagram for `remote`; returns its length."""
        self._check_open()
        self._raise_error()
        addr, port = remote
        if port == 0 or addr == 0:
            raise AddressNotAvailable("cannot send to address 0 or port 0")
        size = len(data)
        if size > self._layer.max_payload:
            raise MessageTooLong(f"datagram of {size} bytes exceeds {self._layer.max_payload}")
        if self._layer.is_broadcast(addr) and not self.broadcast:
            raise UsnetError("broadcast needs the broadcast option (SO_BROADCAST)", 13)
        if self._tx_bytes and self._tx_bytes + size > self.send_buffer:
            raise WouldBlock("send queue full")
        if self.local is None:
            self.local = self._layer._bind(self, (0, 0))
        self._tx_bytes += size
        self._layer._queue(self, bytes(data), remote)
        return size

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """Send to the connected peer."""
        if self.remote is None:
            raise NotConnected("socket is not connected")
        return self.send_to(data, self.remote)

    # -- receiving -----------------------------------------------------------------

    def recv_from(self, bufsize: int = 65535) -> tuple[bytes, Endpoint]:
        """Dequeue one datagram (truncated to `bufsize`, the rest discarded)."""
        dgram = self._next(consume=True)
        return dgram.data[:bufsize], dgram.source

    def recv_from_into(self, buf: bytearray | memoryview) -> tuple[int, Endpoint]:
        """Dequeue one datagram into `buf`; returns (bytes written, source)."""
        dgram = self._next(consume=True)
        n = min(len(buf), len(dgram.data))
        memoryview(buf)[:n] = dgram.data[:n]
        return n, dgram.source

    def peek_from(self, bufsize: int = 65535) -> tuple[bytes, Endpoint]:
        """Like recv_from, but leaves the datagram queued."""
        dgram = self._next(consume=False)
        return dgram.data[:bufsize], dgram.source

    def recv(self, bufsize: int = 65535) -> bytes:
        """Receive one datagram's data (from the connected peer, if connected)."""
        return self.recv_from(bufsize)[0]

    def peek(self, bufsize: int = 65535) -> bytes:
        """Peek at the next datagram's data."""
        return self.peek_from(bufsize)[0]

    def _next(self, *, consume: bool) -> _Datagram:
        self._check_open()
        if not self._rx:
            self._raise_error()
            raise WouldBlock("no datagram queued")
        dgram = self._rx[0]
        if consume:
            self._rx.popleft()
            self._rx_bytes -= len(dgram.data)
        return dgram

    # -- state ---------------------------------------------------------------------

    @property
    def readable(self) -> bool:
        """recv would not block: a datagram is queued, an error is pending, or closed."""
        return bool(self._rx) or self._error is not None or self.closed

    @property
    def writable(self) -> bool:
        """send would not block (for a datagram that fits the free send buffer)."""
        return self._tx_bytes < self.send_buffer or self._error is not None or self.closed

    @property
    def error(self) -> UsnetError | None:
        """The pending error, if any (raised by the next send or recv)."""
        return self._error

    def take_error(self) -> UsnetError | None:
        """Return and clear the pending error (SO_ERROR)."""
        err, self._error = self._error, None
        return err

    @property
    def pending(self) -> int:
        """Number of datagrams waiting to be received."""
        return len(self._rx)

    def close(self) -> None:
        """Unbind and drop everything queued; further use raises."""
        if self.closed:
            return
        self.closed = True
        self._layer._unbind(self)
        self._rx.clear()
        self._rx_bytes = 0

    def _check_open(self) -> None:
        if self.closed:
            raise UsnetError("socket is closed", 9)  # EBADF, like a closed fd

    def _raise_error(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    # -- called by the layer -------------------------------------------------------

    def _deliver(self, data: bytes, source: Endpoint) -> None:
        if self._rx_bytes + len(data) > self.recv_buffer:
            self.rx_dropped += 1
            self._layer.rx_queue_drops += 1
            return
        self._rx.append(_Datagram(data, source))
        self._rx_bytes += len(data)
        self._layer.changed.add(self)

    def _sent(self, size: int) -> None:
        self._tx_bytes -= size
        self._layer.changed.add(self)

    def _fail(self, error: UsnetError) -> None:
        self._error = error
        self._layer.changed.add(self)


class UdpLayer:
    """All UDP sockets of one Interface; the Interface calls receive/dispatch."""

    def __init__(
        self,
        *,
        primary: int,
        is_local: Callable[[int], bool],
        is_broadcast: Callable[[int], bool],
        entropy: Callable[[int], bytes],
        mtu: int,
        default_ttl: int = 64,
        send_buffer: int = 212_992,
        recv_buffer: int = 212_992,
        ephemeral_ports: tuple[int, int] = EPHEMERAL_PORTS,
    ) -> None:
        self.primary = primary
        self.is_local = is_local
        self.is_broadcast = is_broadcast
        self._entropy = entropy
        self.max_payload = mtu - IPV4_HEADER - UDP_HEADER
        self.default_ttl = default_ttl
        self._send_buffer = send_buffer
        self._recv_buffer = recv_buffer
        self._ephemeral = ephemeral_ports
        self._bound: dict[int, dict[int, UdpSocket]] = {}  # port -> addr -> socket
        self._tx: deque[tuple[UdpSocket, bytes, Endpoint]] = deque()
        self.changed: set[UdpSocket] = set()
        self.rx_queue_drops = 0
        self.checksum_drops = 0
        self.no_socket = 0

    def socket(self) -> UdpSocket:
        """A new unbound UDP socket."""
        return UdpSocket(self, send_buffer=self._send_buffer, recv_buffer=self._recv_buffer)

    def take_changed(self) -> set[UdpSocket]:
        """Sockets whose readiness may have changed since the last call."""
        changed, self.changed = self.changed, set()
        return changed

    # -- port table ----------------------------------------------------------------

    def _bind(self, sock: UdpSocket, local: Endpoint) -> Endpoint:
        addr, port = local
        if addr != 0 and not self.is_local(addr):
            raise AddressNotAvailable("address is not local to this interface")
        if port == 0:
            port = self._ephemeral_port(addr)
        elif not 0 < port < 65536:
            raise ValueError(f"port must be 0..65535, got {port}")
        owners = self._bound.setdefault(port, {})
        # Like Linux without SO_REUSEADDR: a wildcard and a specific bind on the same
        # port conflict.
        if addr in owners or (owners and (addr == 0 or 0 in owners)):
            raise AddressInUse(f"UDP port {port} is in use")
        owners[addr] = sock
        return (addr, port)

    def _ephemeral_port(self, addr: int) -> int:
        low, high = self._ephemeral
        span = high - low + 1
        start = int.from_bytes(self._entropy(2), "big") % span
        for i in range(span):
            port = low + (start + i) % span
            owners = self._bound.get(port)
            if not owners:
                return port
        raise AddressNotAvailable("no free ephemeral UDP port")

    def _unbind(self, sock: UdpSocket) -> None:
        if sock.local is None:
            return
        addr, port = sock.local
        owners = self._bound.get(port)
        if owners is not None and owners.get(addr) is sock:
            del owners[addr]
            if not owners:
                del self._bound[port]

    def _lookup(self, dst: int, port: int) -> UdpSocket | None:
        owners = self._bound.get(port)
        if not owners:
            return None
        sock = owners.get(dst)
        if sock is None:
            sock = owners.get(0)
        return sock

    # -- the Interface's seam ------------------------------------------------------

    def _queue(self, sock: UdpSocket, data: bytes, remote: Endpoint) -> None:
        self._tx.append((sock, data, remote))

    def receive(self, src: int, dst: int, payload: memoryview, now: float) -> bool:
        """Deliver one UDP datagram; False when no socket wants it (port unreachable)."""
        try:
            packet = UdpPacket(payload)
            header = UdpRepr.parse(packet, src, dst)
        except Malformed:
            self.checksum_drops += 1
            return True  # dropped, but no ICMP error for a bad datagram
        sock = self._lookup(dst, header.dst_port)
        if sock is None:
            self.no_socket += 1
            return False
        remote = sock.remote
        if remote is not None and remote != (src, header.src_port):
            self.no_socket += 1
            return True  # a connected socket filters; Linux answers nothing here either
        sock._deliver(bytes(packet.payload), (src, header.src_port))
        return True

    def dispatch(self, now: float) -> Iterator[tuple[int, int, bytearray, int]]:
        """Yield (src, dst, UDP datagram, ttl) for everything queued to send."""
        tx = self._tx
        while tx:
            sock, data, (dst, dport) = tx.popleft()
            sock._sent(len(data))
            if sock.closed or sock.local is None:
                continue
            saddr, sport = sock.local
            src = saddr if saddr != 0 else self.primary
            buf = bytearray(UDP_HEADER + len(data))
            UdpRepr(sport, dport).emit(buf, 0, src, dst, data)
            yield src, dst, buf, sock.ttl

    def poll_at(self) -> float | None:
        """0.0 while datagrams wait to be sent, else None (UDP has no timers)."""
        return 0.0 if self._tx else None

    def on_icmp_error(self, kind: str, src: int, dst: int, inner: memoryview) -> None:
        """Deliver an ICMP error about a datagram we sent from `src` to `dst`.

        `inner` is the quoted original IP datagram (its header and at least 8 bytes).

        Like Linux without IP_RECVERR, only connected sockets hear about it (RFC 1122
        4.1.3.3 leaves it to the application layer).
        """
        ihl = (inner[0] & 0x0F) * 4 if inner else 0
        if ihl < IPV4_HEADER or len(inner) < ihl + UDP_HEADER:
            return
        sport = int.from_bytes(inner[ihl : ihl + 2], "big")
        dport = int.from_bytes(inner[ihl + 2 : ihl + 4], "big")
        sock = self._lookup(src, sport)
        if sock is None or sock.remote != (dst, dport):
            return
        error: UsnetError
        if kind in ("port_unreachable", "proto_unreachable"):
            error = ConnectionRefused()
        elif kind == "net_unreachable":
            error = NetworkUnreachable()
        else:
            error = HostUnreachable()
        sock._fail(error)
