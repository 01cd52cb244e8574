"""TcpLayer: demultiplexing, listeners, timers and the Interface seam for TCP.

The Interface hands every TCP segment to `receive(src, dst, segment, now)` and sends what
`dispatch(now)` returns; `poll_at()` is the earliest timer. Connections live in a dict by
4-tuple; timers in a heap with lazy deletion (each connection or half-open entry remembers
the one deadline it is scheduled at, and stale heap entries are skipped), so no work is
ever proportional to the number of idle connections.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from usnet_core import errors
from usnet_core.errors import Malformed
from usnet_core.tcp.config import TcpConfig
from usnet_core.tcp.connection import State, TcpSocket, window_shift
from usnet_core.tcp.isn import IsnGenerator
from usnet_core.tcp.listener import Key, TcpListener, _SynEntry
from usnet_core.wire.tcp import ACK, RST, SYN, TcpRepr

__all__ = ["EPHEMERAL_PORTS", "TcpLayer", "TcpStats"]

_MASK = 0xFFFF_FFFF
EPHEMERAL_PORTS = range(32768, 61000)  # Linux's ip_local_port_range default
_PORTS = struct.Struct("!HHI")
_PORT_PAIR = struct.Struct("!HH")

Outgoing = tuple[int, int, bytes | bytearray, int]  # src, dst, segment, ttl


@dataclass(slots=True)
class TcpStats:
    """Counters of the TCP layer."""

    segments_in: int = 0
    segments_out: int = 0
    retransmits: int = 0
    fast_retransmits: int = 0
    timeouts_rto: int = 0
    timeouts: int = 0  # connections given up
    dupacks: int = 0
    rsts_sent: int = 0
    resets_received: int = 0
    challenge_acks: int = 0
    syn_queue_overflows: int = 0
    listen_overflows: int = 0
    window_probes: int = 0
    keepalives: int = 0
    active_opens: int = 0
    passive_opens: int = 0
    established: int = 0
    connections_refused: int = 0
    drops: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        """Count one dropped segment by reason."""
        self.drops[reason] = self.drops.get(reason, 0) + 1


class TcpLayer:
    """All TCP state of one Interface: connections, listeners and their timers."""

    def __init__(
        self,
        local_addresses: set[int] | frozenset[int] | Callable[[int], bool],
        entropy: Callable[[int], bytes],
        config: TcpConfig | None = None,
        *,
        primary: int | None = None,
    ) -> None:
        self.config = config if config is not None else TcpConfig()
        if callable(local_addresses):
            self._is_local: Callable[[int], bool] = local_addresses
            self.primary_address = primary
        else:
            addrs = frozenset(local_addresses)
            self._is_local = addrs.__contains__
            self.primary_address = (
                primary if primary is not None else (min(addrs) if addrs else None)
            )
        self._isn = IsnGenerator(entropy(32))
        self._port_offset = int.from_bytes(entropy(2), "big")
        self.stats = TcpStats()
        self._conns: dict[Key, TcpSocket] = {}
        self._half: dict[Key, _SynEntry] = {}
        self._listeners: dict[tuple[int, int], TcpListener] = {}
        self._timers: list[tuple[float, int, TcpSocket | _SynEntry]] = []
        self._timer_seq = 0
        self._dirty: dict[TcpSocket | _SynEntry, None] = {}
        self._changed: set[TcpSocket | TcpListener] = set()
        self._out: list[Outgoing] = []
        self._now = 0.0
        self._ca_start = -1.0
        self._ca_count = 0
        self._our_shift = window_shift(self.config.rx_buffer) if self.config.window_scaling else 0

    # ------------------------------------------------------------ application API

    def connect(
        self, remote: tuple[int, int], now: float, *, local: tuple[int, int] | None = None
    ) -> TcpSocket:
        """Open a connection to remote (addr, port); the SYN goes out at the next dispatch.

        The local address defaults to the primary address; port 0 (or no `local`) picks an
        ephemeral port in EPHEMERAL_PORTS whose 4-tuple is unused (RFC 6056 algorithm 3)."""
        self._now = now
        addr = local[0] if local is not None and local[0] else self.primary_address
        if addr is None or not self._is_local(addr):
            raise errors.AddressNotAvailable()
        port = local[1] if local is not None else 0
        if port:
            if (addr, port, remote[0], remote[1]) in self._conns:
                raise errors.AddressInUse()
        else:
            port = self._pick_port(addr, remote)
        key = (addr, port, remote[0], remote[1])
        sock = TcpSocket(
            self, self.config, (addr, port), remote, self._isn.isn(now, (addr, port), remote), now
        )
        self._conns[key] = sock
        sock._open_active(now)
        self.stats.active_opens += 1
        return sock

    def _pick_port(self, addr: int, remote: tuple[int, int]) -> int:
        low, count = EPHEMERAL_PORTS.start, len(EPHEMERAL_PORTS)
        base = self._isn.port_hint(addr, remote) + self._port_offset
        conns, half, listeners = self._conns, self._half, self._listeners
        for i in range(count):
            port = low + (base + i) % count
            key = (addr, port, remote[0], remote[1])
            if key in conns or key in half or (addr, port) in listeners or (0, port) in listeners:
                continue
            self._port_offset += i + 1
            return port
        raise errors.AddressNotAvailable("no free ephemeral port")

    def listen(self, local: tuple[int, int], backlog: int | None = None) -> TcpListener:
        """Listen on local (addr, port); addr 0 means every local address."""
        addr, port = local
        if not 0 < port < 65536:
            raise ValueError("listen port must be within 1..65535")
        if addr and not self._is_local(addr):
            raise errors.AddressNotAvailable()
        if local in self._listeners or (0, port) in self._listeners:
            raise errors.AddressInUse()
        if addr == 0 and any(p == port for _, p in self._listeners):
            raise errors.AddressInUse()
        lst = TcpListener(
            self,
            local,
            self.config.backlog if backlog is None else max(backlog, 1),  # 0 acts as 1, like Linux
            self.config.syn_queue,
        )
        self._listeners[local] = lst
        return lst

    def take_changed(self) -> set[TcpSocket | TcpListener]:
        """Sockets and listeners whose readiness may have changed since the last call."""
        changed = self._changed
        self._changed = set()
        return changed

    @property
    def connections(self) -> int:
        """Number of connections in the demultiplexing table (incl. TIME-WAIT)."""
        return len(self._conns)

    @property
    def half_open(self) -> int:
        """Number of half-open (SYN-RECEIVED) entries over all listeners."""
        return len(self._half)

    @property
    def timer_entries(self) -> int:
        """Size of the timer heap (stale entries included), for leak tests."""
        return len(self._timers)

    # ------------------------------------------------------------ Interface seam

    def receive(
        self, src: int, dst: int, segment: memoryview | bytes | bytearray, now: float
    ) -> None:
        """Handle one TCP segment (the IP payload) from src to dst."""
        self._now = now
        stats = self.stats
        stats.segments_in += 1
        try:
            seg = TcpRepr.parse(segment, src, dst)
        except Malformed as exc:
            stats.drop(exc.reason)
            return
        if not self._is_local(dst):
            stats.drop("not_local")
            return
        key = (dst, seg.dst_port, src, seg.src_port)
        conn = self._conns.get(key)
        if conn is not None:
            if (
                conn.state is State.TIME_WAIT
                and seg.flags & (SYN | ACK | RST) == SYN
                and ((seg.seq - conn._rcv_nxt) & _MASK) - 1 < 0x7FFF_FFFF
                and self._find_listener(dst, seg.dst_port) is not None
            ):
                conn._enter_closed()  # RFC 9293 3.10.7.4 / RFC 6191: a new incarnation
            else:
                conn._receive(seg, now)
                self._dirty[conn] = None
                return
        entry = self._half.get(key)
        if entry is not None:
            self._syn_entry_receive(entry, seg, now)
            return
        lst = self._find_listener(dst, seg.dst_port)
        if lst is not None:
            self._listen_receive(lst, key, seg, now)
            return
        stats.drop("no_socket")
        self._reply_rst(src, dst, seg)

    def dispatch(self, now: float) -> list[Outgoing]:
        """Run due timers and return the segments to send: (src, dst, segment, ttl)."""
        self._now = now
        heap = self._timers
        dirty = self._dirty
        while heap and heap[0][0] <= now:
            due, _, obj = heapq.heappop(heap)
            if obj._scheduled == due:
                obj._scheduled = None
                dirty[obj] = None
        out = self._out
        self._out = []
        for _ in range(4):  # sockets can re-dirty themselves (e.g. enter recovery)
            if not dirty:
                break
            self._dirty = {}
            for obj in dirty:
                if isinstance(obj, _SynEntry):
                    self._poll_entry(obj, now, out)
                    deadline: float | None = (
                        obj.deadline if self._half.get(obj.key) is obj else None
                    )
                else:
                    src, dst, ttl = obj.local[0], obj.remote[0], obj.ttl
                    for seg in obj._poll(now):
                        out.append((src, dst, seg.to_bytes(src, dst), ttl))
                    deadline = obj._deadline() if obj.state is not State.CLOSED else None
                if deadline != obj._scheduled:
                    obj._scheduled = deadline  # any older heap entry is now stale
                    if deadline is not None:
                        self._timer_seq += 1
                        heapq.heappush(heap, (deadline, self._timer_seq, obj))
            dirty = self._dirty
            if self._out:
                out.extend(self._out)
                self._out = []
        if len(heap) > 64 + 4 * (len(self._conns) + len(self._half)):
            self._compact_timers()
        self.stats.segments_out += len(out)
        return out

    def segment_mss(self, src: int, dst: int, segment: bytes | bytearray | memoryview) -> int:
        """For TSO (`max_segment > mss`): the payload size the device must cut one of our
        outgoing segments into (the connection's effective MSS; options are replicated)."""
        sport, dport = _PORT_PAIR.unpack_from(segment, 0)
        sock = self._conns.get((src, sport, dst, dport))
        return sock.mss if sock is not None else self.config.mss

    def poll_at(self) -> float | None:
        """The earliest time dispatch() has work to do, or None."""
        if self._dirty or self._out:
            return self._now
        heap = self._timers
        while heap and heap[0][2]._scheduled != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def on_icmp_error(self, kind: str, src: int, dst: int, inner: memoryview | bytes) -> None:
        """An ICMP error about one of our segments; `inner` is the quoted IP datagram."""
        if len(inner) < 20:
            self.stats.drop("icmp_short")
            return
        ihl = (inner[0] & 0x0F) * 4
        if ihl < 20 or len(inner) < ihl + 8:
            self.stats.drop("icmp_short")
            return
        isrc = int.from_bytes(inner[12:16], "big")
        idst = int.from_bytes(inner[16:20], "big")
        sport, dport, seq = _PORTS.unpack_from(inner, ihl)
        conn = self._conns.get((isrc, sport, idst, dport))
        if conn is None:
            self.stats.drop("icmp_no_socket")
            return
        conn._on_icmp(kind, seq)
        self._changed.add(conn)
        self._dirty[conn] = None

    # ------------------------------------------------------------ internals for sockets

    def _mark_dirty(self, obj: TcpSocket | _SynEntry) -> None:
        self._dirty[obj] = None

    def _mark_changed(self, obj: TcpSocket | TcpListener) -> None:
        self._changed.add(obj)

    def _forget(self, sock: TcpSocket) -> None:
        key = (sock.local[0], sock.local[1], sock.remote[0], sock.remote[1])
        if self._conns.get(key) is sock:
            del self._conns[key]
        sock._scheduled = None

    def _remove_listener(self, lst: TcpListener) -> None:
        if self._listeners.get(lst.local) is lst:
            del self._listeners[lst.local]

    def _challenge_allowed(self, now: float) -> bool:
        if now - self._ca_start >= 1.0:
            self._ca_start = now
            self._ca_count = 0
        if self._ca_count >= self.config.challenge_ack_limit:
            self.stats.drop("challenge_ack_limit")
            return False
        self._ca_count += 1
        return True

    def _emit(self, src: int, dst: int, seg: TcpRepr, ttl: int | None = None) -> None:
        self._out.append(
            (src, dst, seg.to_bytes(src, dst), self.config.ttl if ttl is None else ttl)
        )

    def _emit_for(self, sock: TcpSocket, seg: TcpRepr) -> None:
        """Queue a segment of `sock` ahead of the next dispatch (immediate ACKs)."""
        self._emit(sock.local[0], sock.remote[0], seg, sock.ttl)

    def _send_rst_for(self, sock: TcpSocket, seq: int) -> None:
        """RST|ACK for an abort (as Linux's tcp_send_active_reset)."""
        self.stats.rsts_sent += 1
        seg = TcpRepr(sock.local[1], sock.remote[1], seq, sock._rcv_nxt, RST | ACK, 0)
        self._emit(sock.local[0], sock.remote[0], seg, sock.ttl)

    def _send_rst_reply(self, sock: TcpSocket, seg: TcpRepr) -> None:
        """RST to an unacceptable ACK in a non-synchronized state (RFC 9293 3.10.7.3)."""
        self._reply_rst(sock.remote[0], sock.local[0], seg)

    def _reply_rst(self, src: int, dst: int, seg: TcpRepr) -> None:
        """RFC 9293 3.10.7.1: the reset that answers a segment to no connection."""
        flags = seg.flags
        if flags & RST:
            return
        if flags & ACK:
            rst = TcpRepr(seg.dst_port, seg.src_port, seg.ack, 0, RST, 0)
        else:
            rst = TcpRepr(
                seg.dst_port, seg.src_port, 0, (seg.seq + seg.seg_len) & _MASK, RST | ACK, 0
            )
        self.stats.rsts_sent += 1
        self._emit(dst, src, rst)

    # ------------------------------------------------------------ listeners

    def _find_listener(self, addr: int, port: int) -> TcpListener | None:
        lst = self._listeners.get((addr, port))
        if lst is None:
            lst = self._listeners.get((0, port))
        return lst

    def _listen_receive(self, lst: TcpListener, key: Key, seg: TcpRepr, now: float) -> None:
        """RFC 9293 3.10.7.2: a segment for a listening socket."""
        flags = seg.flags
        if flags & RST:
            self.stats.drop("rst_to_listener")
            return
        if flags & ACK:
            self._reply_rst(key[2], key[0], seg)
            return
        if not flags & SYN:
            self.stats.drop("no_syn")
            return
        if len(lst._ready) >= lst.backlog:
            self.stats.listen_overflows += 1
            self.stats.drop("backlog_full")
            return
        if len(lst._half) >= lst._syn_queue:
            _, oldest = lst._half.popitem(last=False)
            self._half.pop(oldest.key, None)
            oldest._scheduled = None
            self.stats.syn_queue_overflows += 1
        cfg = self.config
        syn = replace(seg, payload=b"")  # do not keep the frame alive
        iss = self._isn.isn(now, (key[0], key[1]), (key[2], key[3]))
        entry = _SynEntry(lst, key, syn, iss, min(cfg.rx_buffer, 0xFFFF), now)
        lst._half[key] = entry
        self._half[key] = entry
        self._emit(key[0], key[2], self._synack(entry, now))
        entry.deadline = now + cfg.initial_rto
        self._dirty[entry] = None

    def _synack(self, entry: _SynEntry, now: float) -> TcpRepr:
        cfg = self.config
        syn = entry.syn
        ts = None
        if cfg.timestamps and syn.timestamp is not None:
            ts = ((int(now * 1000) + entry.iss) & _MASK, syn.timestamp[0])
        ws = self._our_shift if cfg.window_scaling and syn.window_scale is not None else None
        key = entry.key
        return TcpRepr(
            key[1],
            key[3],
            entry.iss,
            (syn.seq + 1) & _MASK,
            SYN | ACK,
            entry.window,
            mss=cfg.mss,
            window_scale=ws,
            sack_permitted=cfg.sack and syn.sack_permitted,
            timestamp=ts,
        )

    def _poll_entry(self, entry: _SynEntry, now: float, out: list[Outgoing]) -> None:
        if self._half.get(entry.key) is not entry or now < entry.deadline:
            return  # evicted (perhaps replaced by a new SYN from the same 4-tuple)
        entry.retries += 1
        if entry.retries > self.config.synack_retries:
            self._drop_syn_entry(entry)
            return
        key = entry.key
        out.append(
            (key[0], key[2], self._synack(entry, now).to_bytes(key[0], key[2]), self.config.ttl)
        )
        self.stats.retransmits += 1
        entry.deadline = now + self.config.initial_rto * 2.0**entry.retries

    def _drop_syn_entry(self, entry: _SynEntry) -> None:
        if self._half.get(entry.key) is entry:
            del self._half[entry.key]
        if entry.listener._half.get(entry.key) is entry:
            del entry.listener._half[entry.key]
        entry._scheduled = None

    def _rst_syn_entry(self, entry: _SynEntry) -> None:
        key = entry.key
        rst = TcpRepr(key[1], key[3], (entry.iss + 1) & _MASK, 0, RST, 0)
        self.stats.rsts_sent += 1
        self._emit(key[0], key[2], rst)

    def _syn_entry_receive(self, entry: _SynEntry, seg: TcpRepr, now: float) -> None:
        flags = seg.flags
        syn = entry.syn
        if flags & RST:
            if seg.seq == (syn.seq + 1) & _MASK:  # RFC 5961 3.2: exact match only
                self._drop_syn_entry(entry)
            else:
                self.stats.drop("rst_out_of_window")
            return
        if flags & SYN:
            if not flags & ACK and seg.seq == syn.seq:
                self._emit(entry.key[0], entry.key[2], self._synack(entry, now))
            else:
                self.stats.drop("syn_in_syn_received")
            return
        if not flags & ACK:
            self.stats.drop("no_ack")
            return
        if seg.ack != (entry.iss + 1) & _MASK:
            self._reply_rst(entry.key[2], entry.key[0], seg)
            return
        lst = entry.listener
        if len(lst._ready) >= lst.backlog:
            # Linux drops the ACK and lets the SYN-ACK timer retry later.
            self.stats.listen_overflows += 1
            self.stats.drop("backlog_full")
            return
        self._drop_syn_entry(entry)
        key = entry.key
        sock = TcpSocket(self, self.config, (key[0], key[1]), (key[2], key[3]), entry.iss, now)
        sock._init_passive(syn, entry.iss, self.config.timestamps, entry.window)
        if entry.retries == 0 and not sock._ts_ok:
            sock._rtt.sample(max(now - entry.sent_at, 0.0))  # Karn: only if not resent
        self._conns[key] = sock
        sock._receive(seg, now)
        if sock.state is not State.CLOSED and sock.state is not State.SYN_RECEIVED:
            lst._ready.append(sock)
            self.stats.passive_opens += 1
            self._changed.add(lst)
        self._dirty[sock] = None

    def _compact_timers(self) -> None:
        heap = [e for e in self._timers if e[2]._scheduled == e[0]]
        heapq.heapify(heap)
        self._timers = heap

    def iter_connections(self) -> Iterable[TcpSocket]:
        """All connections in the demultiplexing table (for diagnostics)."""
        return list(self._conns.values())
