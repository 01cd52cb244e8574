"""The Interface: Ethernet in, Ethernet out, and everything between (sans-I/O).

    iface.receive(frame, now)     # any bytes; never raises, drops are counted
    frames = iface.transmit(now)  # frames for the device
    iface.poll_at()               # call transmit(now) again by then (None: no timer)

Layers below the Interface (UDP, TCP) meet it through one seam: `receive(src, dst,
payload, now)`, `dispatch(now)` yielding (src, dst, payload, ttl), `poll_at()` and
`on_icmp_error(kind, src, dst, quoted_datagram)`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Protocol

from usnet_core.errors import Malformed
from usnet_core.iface.config import InterfaceConfig
from usnet_core.iface.neighbor import NeighborCache
from usnet_core.iface.stats import Stats
from usnet_core.tcp import TcpConfig, TcpLayer
from usnet_core.udp import UdpLayer, UdpSocket
from usnet_core.wire import arp, ethernet, icmpv4, ipv4
from usnet_core.wire.arp import ArpPacket, ArpRepr
from usnet_core.wire.ethernet import BROADCAST, EthernetFrame
from usnet_core.wire.icmpv4 import Icmpv4Packet, Icmpv4Repr
from usnet_core.wire.ipv4 import Ipv4Packet, Ipv4Repr

Frame = bytes | bytearray | memoryview

ETH_LEN = ethernet.HEADER_LEN
IP_LEN = 20
ALL_ONES = 0xFFFFFFFF
# Frames of one transmit() call that loop back to our own address are processed at
# most this many rounds per call; the rest wait for the next call (poll_at says "now").
LOOPBACK_ROUNDS = 8

_UNREACH_KIND = {
    icmpv4.NET_UNREACHABLE: "net_unreachable",
    icmpv4.HOST_UNREACHABLE: "host_unreachable",
    icmpv4.PROTO_UNREACHABLE: "proto_unreachable",
    icmpv4.PORT_UNREACHABLE: "port_unreachable",
    icmpv4.FRAG_NEEDED: "frag_needed",
}


class TransportLayer(Protocol):
    """What the Interface needs of a transport protocol (TCP)."""

    def receive(self, src: int, dst: int, segment: memoryview, now: float) -> None: ...

    def dispatch(self, now: float) -> Iterable[tuple[int, int, Frame, int]]: ...

    def poll_at(self) -> float | None: ...

    def on_icmp_error(self, kind: str, src: int, dst: int, inner: memoryview) -> None: ...


class Interface:
    """One Ethernet interface with one IPv4 address: ARP, IPv4, ICMP, UDP and TCP."""

    def __init__(
        self,
        config: InterfaceConfig,
        *,
        entropy: Callable[[int], bytes],
        tcp_config: TcpConfig | None = None,
        strict: bool = False,
    ) -> None:
        self.config = config
        self.stats = Stats()
        self._mac = config.mac
        self._ip = config.ipv4
        self._bcast = config.broadcast if config.prefix_len < 31 else ALL_ONES
        self._strict = strict
        self._entropy = entropy
        self.neighbors = NeighborCache(
            ttl=config.arp_cache_ttl,
            size=config.arp_cache_size,
            retry_interval=config.arp_retry_interval,
            retries=config.arp_retries,
            pending_per_host=config.arp_pending_per_host,
            pending_hosts=config.arp_pending_hosts,
        )
        self.udp = UdpLayer(
            primary=config.ipv4,
            is_local=self.is_local,
            is_broadcast=self.is_broadcast,
            entropy=entropy,
            mtu=config.mtu,
            default_ttl=config.default_ttl,
        )
        if tcp_config is None:
            tcp_config = TcpConfig(mss=config.mtu - IP_LEN - 20)
        self.tcp = TcpLayer(self.is_local, entropy, tcp_config, primary=config.ipv4)
        self._out: list[bytearray] = []
        self._loopback: list[bytearray] = []
        self._ident = int.from_bytes(entropy(2), "big")
        # ICMP error token bucket (RFC 1812 4.3.2.8).
        self._icmp_tokens = float(config.icmp_error_burst)
        self._icmp_stamp: float | None = None

    # -- addresses -----------------------------------------------------------------

    @property
    def mac(self) -> bytes:
        """The interface's MAC address."""
        return self._mac

    @property
    def ipv4(self) -> int:
        """The interface's IPv4 address."""
        return self._ip

    def is_local(self, addr: int) -> bool:
        """True for the interface's own address."""
        return addr == self._ip

    def is_broadcast(self, addr: int) -> bool:
        """True for the limited or the subnet's directed broadcast address."""
        return addr in (ALL_ONES, self._bcast)

    def udp_socket(self) -> UdpSocket:
        """A new UDP socket on this interface."""
        return self.udp.socket()

    def take_changed(self) -> set[object]:
        """Sockets whose readiness may have changed since the last call."""
        changed: set[object] = set(self.udp.take_changed())
        changed.update(self.tcp.take_changed())
        return changed

    # -- receive -------------------------------------------------------------------

    def receive(self, frame: Frame, now: float) -> None:
        """Process one Ethernet frame. Never raises for any input; drops are counted."""
        self.stats.rx_frames += 1
        self.stats.rx_bytes += len(frame)
        try:
            self._receive(frame, now)
        except Malformed as exc:
            self.stats.drop(exc.reason)
        except Exception:
            # A bug of ours must not let one packet stop the stack; it is counted, and
            # tests run with strict=True so it cannot hide there.
            if self._strict:
                raise
            self.stats.drop("internal error")

    def _receive(self, frame: Frame, now: float) -> None:
        eth = EthernetFrame(frame)
        dst = bytes(eth.dst)
        l2_broadcast = dst == BROADCAST
        if dst != self._mac and not l2_broadcast:
            self.stats.drop("not our mac")
            return
        ethertype = eth.ethertype
        if ethertype == ethernet.ETHERTYPE_IPV4:
            self._receive_ipv4(eth.payload, now, l2_broadcast)
        elif ethertype == ethernet.ETHERTYPE_ARP:
            self._receive_arp(eth.payload, now)
        else:
            self.stats.drop("ethertype")

    def _receive_arp(self, payload: memoryview, now: float) -> None:
        req = ArpRepr.parse(ArpPacket(payload))
        sip, smac = req.source_ip, bytes(req.source_hw)
        if smac == self._mac:
            self.stats.drop("arp from ourselves")
            return
        sender_ok = sip != 0 and not ipv4.is_multicast(sip) and sip != ALL_ONES and not smac[0] & 1
        # RFC 826 "packet reception": merge first, then add if we are the target.
        if sender_ok and (self.neighbors.contains(sip) or req.target_ip == self._ip):
            self._release(self.neighbors.fill(sip, smac, now), smac)
        if req.target_ip != self._ip:
            self.stats.drop("arp not for us")
            return
        if req.operation == arp.OP_REQUEST and not smac[0] & 1:
            reply = ArpRepr(arp.OP_REPLY, self._mac, self._ip, smac, sip)
            frame = bytearray(ETH_LEN + reply.buffer_len)
            ethernet.EthernetRepr(smac, self._mac, ethernet.ETHERTYPE_ARP).emit(frame, 0)
            reply.emit(frame, ETH_LEN)
            self._out.append(frame)
            self.stats.arp_replies_sent += 1

    def _release(self, frames: list[bytearray], mac: bytes) -> None:
        for frame in frames:
            frame[0:6] = mac
            self._out.append(frame)

    def _receive_ipv4(self, payload: memoryview, now: float, l2_broadcast: bool) -> None:
        packet = Ipv4Packet(payload)
        header = Ipv4Repr.parse(packet)
        dst = header.dst
        if dst == self._ip:
            broadcast = False
            if l2_broadcast:
                # RFC 1122 3.3.6: unicast IP in a link-layer broadcast is discarded.
                self.stats.drop("unicast ip in broadcast frame")
                return
        elif dst in (ALL_ONES, self._bcast):
            broadcast = True
        else:
            self.stats.drop("ipv4 not for us")
            return
        if packet.is_fragment:
            # Reassembly is not implemented yet; a fragment is never taken for a whole.
            self.stats.drop("ipv4 fragment")
            return
        if header.src == self._ip and not broadcast:
            self.stats.drop("ipv4 source is ours")
            return
        self._deliver(header.protocol, header.src, dst, packet, payload, now, broadcast)

    def _deliver(
        self,
        proto: int,
        src: int,
        dst: int,
        packet: Ipv4Packet,
        raw: memoryview,
        now: float,
        broadcast: bool,
    ) -> None:
        data = packet.payload
        if proto == ipv4.PROTO_TCP:
            if broadcast:
                self.stats.drop("tcp to broadcast")
                return
            self.tcp.receive(src, dst, data, now)
        elif proto == ipv4.PROTO_UDP:
            if not self.udp.receive(src, dst, data, now):
                self.stats.drop("udp no socket")
                if not broadcast:
                    self._icmp_error(
                        icmpv4.TYPE_DEST_UNREACHABLE, icmpv4.PORT_UNREACHABLE, packet, raw, now
                    )
        elif proto == ipv4.PROTO_ICMP:
            self._receive_icmp(src, dst, data, now, broadcast)
        else:
            self.stats.drop("ipv4 protocol")
            if not broadcast:
                self._icmp_error(
                    icmpv4.TYPE_DEST_UNREACHABLE, icmpv4.PROTO_UNREACHABLE, packet, raw, now
                )

    def _receive_icmp(
        self, src: int, dst: int, data: memoryview, now: float, broadcast: bool
    ) -> None:
        msg = Icmpv4Repr.parse(Icmpv4Packet(data))
        kind = msg.type
        if kind == icmpv4.TYPE_ECHO_REQUEST:
            if broadcast:
                # Like Linux's icmp_echo_ignore_broadcasts (RFC 1122 3.2.2.6 allows it).
                self.stats.drop("icmp echo to broadcast")
                return
            reply = Icmpv4Repr(
                icmpv4.TYPE_ECHO_REPLY, 0, ident=msg.ident, seq_no=msg.seq_no, data=msg.data
            )
            buf = bytearray(reply.buffer_len)
            reply.emit(buf, 0)
            self._send_ip(dst, src, ipv4.PROTO_ICMP, buf, self.config.default_ttl, now)
            self.stats.icmp_echo_replies += 1
        elif kind in (
            icmpv4.TYPE_DEST_UNREACHABLE,
            icmpv4.TYPE_TIME_EXCEEDED,
            icmpv4.TYPE_PARAMETER_PROBLEM,
        ):
            self._receive_icmp_error(msg, now)
        else:
            self.stats.drop("icmp type")

    def _receive_icmp_error(self, msg: Icmpv4Repr, now: float) -> None:
        inner = memoryview(msg.data)
        if len(inner) < IP_LEN:
            raise Malformed("icmp quote")
        ihl = (inner[0] & 0x0F) * 4
        if inner[0] >> 4 != 4 or ihl < IP_LEN or len(inner) < ihl + 8:
            raise Malformed("icmp quote")
        proto = inner[9]
        isrc, idst = struct.unpack_from("!II", inner, 12)
        if isrc != self._ip:
            self.stats.drop("icmp error not about us")
            return
        if msg.type == icmpv4.TYPE_DEST_UNREACHABLE:
            kind = _UNREACH_KIND.get(msg.code, "admin_prohibited")
        elif msg.type == icmpv4.TYPE_TIME_EXCEEDED:
            kind = "time_exceeded"
        else:
            kind = "parameter_problem"
        self.stats.icmp_errors_received += 1
        self._notify(proto, kind, isrc, idst, inner)

    def _notify(self, proto: int, kind: str, src: int, dst: int, inner: memoryview) -> None:
        if proto == ipv4.PROTO_UDP:
            self.udp.on_icmp_error(kind, src, dst, inner)
        elif proto == ipv4.PROTO_TCP:
            self.tcp.on_icmp_error(kind, src, dst, inner)

    def _icmp_error(
        self, kind: int, code: int, packet: Ipv4Packet, raw: memoryview, now: float
    ) -> None:
        # RFC 1122 3.2.2: never about a broadcast, a non-first fragment, or an ICMP error.
        if packet.frag_offset != 0 or packet.src == 0:
            return
        if packet.protocol == ipv4.PROTO_ICMP:
            payload = packet.payload
            if payload and payload[0] not in (icmpv4.TYPE_ECHO_REQUEST, icmpv4.TYPE_ECHO_REPLY):
                return
        if not self._icmp_token(now):
            self.stats.drop("icmp error rate limit")
            return
        quote = icmpv4.error_quote(raw)
        msg = Icmpv4Repr(kind, code, data=quote)
        buf = bytearray(msg.buffer_len)
        msg.emit(buf, 0)
        self._send_ip(self._ip, packet.src, ipv4.PROTO_ICMP, buf, self.config.default_ttl, now)
        self.stats.icmp_errors_sent += 1

    def _icmp_token(self, now: float) -> bool:
        cfg = self.config
        if self._icmp_stamp is not None:
            elapsed = max(0.0, now - self._icmp_stamp)
            self._icmp_tokens = min(
                float(cfg.icmp_error_burst), self._icmp_tokens + elapsed * cfg.icmp_error_rate
            )
        self._icmp_stamp = now
        if self._icmp_tokens < 1.0:
            return False
        self._icmp_tokens -= 1.0
        return True

    # -- transmit ------------------------------------------------------------------

    def transmit(self, now: float) -> list[bytearray]:
        """Everything to send now: replies, ARP traffic and the layers' packets."""
        for _ in range(LOOPBACK_ROUNDS):
            self._dispatch(now)
            if not self._loopback:
                break
            looped, self._loopback = self._loopback, []
            for packet in looped:
                self._receive_looped(packet, now)
        asks, failed = self.neighbors.due(now)
        for ip in asks:
            self._out.append(self._arp_request(ip))
        for _ip, frames in failed:
            self.stats.drop("arp unresolved", len(frames))
            for frame in frames:
                self._unreachable(frame, "host_unreachable")
        if self.neighbors.overflow_drops:
            self.stats.drop("arp queue full", self.neighbors.overflow_drops)
            self.neighbors.overflow_drops = 0
        out, self._out = self._out, []
        self.stats.tx_frames += len(out)
        self.stats.tx_bytes += sum(map(len, out))
        return out

    def _dispatch(self, now: float) -> None:
        send = self._send_ip
        for src, dst, payload, ttl in self.udp.dispatch(now):
            send(src, dst, ipv4.PROTO_UDP, payload, ttl, now)
        for src, dst, segment, ttl in self.tcp.dispatch(now):
            send(src, dst, ipv4.PROTO_TCP, segment, ttl, now)

    def _receive_looped(self, packet: bytearray, now: float) -> None:
        try:
            view = Ipv4Packet(packet)
            self._deliver(view.protocol, view.src, view.dst, view, memoryview(packet), now, False)
        except Malformed as exc:
            self.stats.drop(exc.reason)

    def _unreachable(self, frame: bytearray, kind: str) -> None:
        inner = memoryview(frame)[ETH_LEN:]
        src, dst = struct.unpack_from("!II", inner, 12)
        self._notify(inner[9], kind, src, dst, inner)

    def _arp_request(self, ip: int) -> bytearray:
        req = ArpRepr(arp.OP_REQUEST, self._mac, self._ip, b"\x00" * 6, ip)
        frame = bytearray(ETH_LEN + req.buffer_len)
        ethernet.EthernetRepr(BROADCAST, self._mac, ethernet.ETHERTYPE_ARP).emit(frame, 0)
        req.emit(frame, ETH_LEN)
        self.stats.arp_requests_sent += 1
        return frame

    def _send_ip(
        self, src: int, dst: int, proto: int, payload: Frame, ttl: int, now: float
    ) -> None:
        size = IP_LEN + len(payload)
        if size > self.config.mtu:
            self.stats.drop("tx larger than mtu")
            return
        frame = bytearray(ETH_LEN + size)
        self._ident = (self._ident + 1) & 0xFFFF
        Ipv4Repr(src, dst, proto, len(payload), ttl=ttl, ident=self._ident).emit(frame, ETH_LEN)
        frame[ETH_LEN + IP_LEN :] = payload
        if dst == self._ip:
            self._loopback.append(frame[ETH_LEN:])
            return
        frame[6:12] = self._mac
        frame[12:14] = b"\x08\x00"
        if dst in (ALL_ONES, self._bcast):
            frame[0:6] = BROADCAST
        elif ipv4.is_multicast(dst):
            # RFC 1112 6.4: 01:00:5e + the low 23 bits of the group.
            frame[0:6] = b"\x01\x00\x5e" + (dst & 0x7FFFFF).to_bytes(3, "big")
        else:
            cfg = self.config
            hop = dst if cfg.on_link(dst) else cfg.gateway
            if hop is None:
                self.stats.drop("no route")
                self._unreachable(frame, "net_unreachable")
                return
            mac = self.neighbors.lookup(hop, now)
            if mac is None:
                if not self.neighbors.enqueue(hop, frame, now):
                    self._unreachable(frame, "host_unreachable")
                return
            frame[0:6] = mac
        self._out.append(frame)

    def poll_at(self) -> float | None:
        """The next time `transmit` has work, or None; 0.0 means now."""
        if self._out or self._loopback:
            return 0.0
        deadlines = [
            t
            for t in (self.udp.poll_at(), self.neighbors.poll_at(), self.tcp.poll_at())
            if t is not None
        ]
        return min(deadlines) if deadlines else None
