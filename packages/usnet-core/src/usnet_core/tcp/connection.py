"""The TCP connection: RFC 9293 state machine, buffers, timers and the socket API.

A TcpSocket is driven by its TcpLayer: `_receive(seg, now)` for each arriving segment,
`_poll(now)` for segments to send and expired timers. The application side (send, recv,
shutdown, close, readiness) only changes buffers and flags and marks the socket dirty, so
the next `TcpLayer.dispatch(now)` does the sending. Sequence numbers are 32-bit ints
compared with `_d(a, b)` (signed distance, RFC 1982 style).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from usnet_core import errors
from usnet_core.storage.assembler import Assembler
from usnet_core.tcp.buffers import GrowingRing
from usnet_core.tcp.congestion import CongestionControl, make_congestion
from usnet_core.tcp.rtt import RttEstimator
from usnet_core.wire.tcp import ACK, FIN, PSH, RST, SYN, TcpRepr

if TYPE_CHECKING:
    from usnet_core.tcp.config import TcpConfig
    from usnet_core.tcp.layer import TcpLayer

__all__ = ["State", "TcpSocket"]

_MASK = 0xFFFF_FFFF
_TS_OPT_LEN = 12
_DUPTHRESH = 3  # RFC 5681 3.2
_MAX_SACK_SCOREBOARD = 32
_MAX_WSCALE = 14
_FAST_MASK = SYN | FIN | RST | ACK | 0x20  # URG: anything but ACK and PSH leaves the fast path


def _d(a: int, b: int) -> int:
    """Signed distance a - b in sequence space."""
    return ((a - b + 0x8000_0000) & _MASK) - 0x8000_0000


class State(enum.Enum):
    """RFC 9293 3.3.2 connection states."""

    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN-SENT"
    SYN_RECEIVED = "SYN-RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN-WAIT-1"
    FIN_WAIT_2 = "FIN-WAIT-2"
    CLOSE_WAIT = "CLOSE-WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST-ACK"
    TIME_WAIT = "TIME-WAIT"


_SYNCHRONIZED = frozenset(
    {
        State.ESTABLISHED,
        State.FIN_WAIT_1,
        State.FIN_WAIT_2,
        State.CLOSE_WAIT,
        State.CLOSING,
        State.LAST_ACK,
        State.TIME_WAIT,
    }
)
# States in which we may still send data or FIN.
_SENDING = frozenset(
    {State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_1, State.CLOSING, State.LAST_ACK}
)
# States in which the peer may still send data.
_RECEIVING = frozenset({State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2})


def window_shift(rx_buffer: int) -> int:
    """The smallest RFC 7323 window-scale shift that lets rx_buffer be advertised."""
    shift = 0
    while (rx_buffer >> shift) > 0xFFFF and shift < _MAX_WSCALE:
        shift += 1
    return shift


class TcpSocket:
    """One TCP connection as the application sees it (created by TcpLayer.connect or
    TcpListener.accept). Non-blocking: calls raise WouldBlock instead of waiting."""

    def __init__(
        self,
        layer: TcpLayer,
        config: TcpConfig,
        local: tuple[int, int],
        remote: tuple[int, int],
        iss: int,
        now: float,
    ) -> None:
        self._layer = layer
        self._cfg = config
        self.local = local
        self.remote = remote
        self.state = State.CLOSED
        self.ttl = config.ttl
        self._nodelay = config.nodelay
        self._keepalive: float | None = config.keepalive
        self._tx = GrowingRing(config.tx_buffer)
        self._rx = GrowingRing(config.rx_buffer)
        self._asm = Assembler(config.max_ooo_ranges)
        # Send sequence space (RFC 9293 3.3.1). The send buffer starts at snd_una (after
        # the SYN is acknowledged); snd_max is the highest sequence number sent so far.
        self._iss = iss
        self._snd_una = iss
        self._snd_nxt = iss
        self._snd_max = iss
        self._snd_wnd = 0
        self._snd_wl1 = 0
        self._snd_wl2 = 0
        self._max_snd_wnd = 0
        # Receive sequence space.
        self._irs = 0
        self._rcv_nxt = 0
        self._rcv_adv = 0  # right edge of the window we advertised
        self._last_ack_sent = 0
        # Negotiated options.
        self._our_shift = window_shift(config.rx_buffer) if config.window_scaling else 0
        self._snd_shift = 0
        self._rcv_shift = 0
        self._ws_ok = False
        self._peer_mss = 536  # RFC 9293 3.7.1 default for IPv4
        self._smss = min(config.mss, 536)
        self._seg_max = self._smss
        self._ts_ok = False
        self._ts_recent = 0
        self._sack_ok = False
        self._dsack_ok = False
        # Application-side flags.
        self._fin_queued = False  # shutdown(write) or close: FIN after the buffered data
        self._rd_shut = False
        self._orphan = False  # close() was called: the application is gone
        self._rx_eof = False  # the peer's FIN was received
        self._error: errors.UsnetError | None = None
        self._soft_error: errors.UsnetError | None = None
        self._was_reset = False
        # Timers (absolute deadlines or None).
        self._rto_at: float | None = None
        self._retries = 0
        self._ack_at: float | None = None
        self._ack_now = False
        self._ack_bytes = 0
        self._persist_at: float | None = None
        self._persist_backoff = 0
        self._probes = 0  # unanswered zero-window probes
        self._ka_at: float | None = None
        self._ka_probes = 0
        self._end_at: float | None = None  # TIME-WAIT or orphaned FIN-WAIT-2 expiry
        self._last_rx = now
        self._scheduled: float | None = None  # the layer's timer-heap bookkeeping
        # RTT and congestion.
        self._rtt = RttEstimator(config.min_rto, config.max_rto, config.initial_rto)
        self._rtt_seq: int | None = None
        self._rtt_time = 0.0
        self._cc: CongestionControl = make_congestion(
            config.congestion, self._smss, config.initial_window
        )
        self._dupacks = 0
        self._in_recovery = False
        self._recover = iss
        self._high_rxt = iss
        self._rexmit_now = False
        self._last_oow_ack = -1.0
        self._snd_sml = iss  # end of the last small segment sent (Minshall/Nagle)
        self._sacked: list[list[int]] = []  # sorted [start, end) absolute, above snd_una
        self._dsack: tuple[int, int] | None = None  # duplicate range to report (RFC 2883)
        self._last_ooo = 0  # seq of the most recent out-of-order segment (RFC 2018 4)
        self._ts_base = iss

    # ------------------------------------------------------------------ properties

    def __repr__(self) -> str:
        return f"TcpSocket({self.local} -> {self.remote}, {self.state.value})"

    @property
    def connected(self) -> bool:
        """Whether the handshake completed and the connection is not yet closed."""
        return self.state in _SYNCHRONIZED and self.state is not State.TIME_WAIT

    @property
    def established(self) -> bool:
        """Whether the state is ESTABLISHED."""
        return self.state is State.ESTABLISHED

    @property
    def closed(self) -> bool:
        """Whether the connection is over from the application's view (CLOSED/TIME-WAIT)."""
        return self.state is State.CLOSED or self.state is State.TIME_WAIT

    @property
    def error(self) -> errors.UsnetError | None:
        """The pending error (ConnectionRefused, ConnectionReset, ...), or None."""
        return self._error

    def take_error(self) -> errors.UsnetError | None:
        """Return and clear the pending error."""
        err, self._error = self._error, None
        return err

    @property
    def readable(self) -> bool:
        """Whether recv would not block: data, end of stream, or an error."""
        return (
            len(self._rx) > 0
            or self._rx_eof
            or self._rd_shut
            or self._error is not None
            or self.state is State.CLOSED
        )

    @property
    def writable(self) -> bool:
        """Whether send would not block: buffer room in a sending state, or it would fail."""
        st = self.state
        if st is State.SYN_SENT or st is State.SYN_RECEIVED:
            return False
        if self._error is not None or self._fin_queued or st not in _SENDING:
            return True
        return self._tx.free > 0

    @property
    def nodelay(self) -> bool:
        """TCP_NODELAY: True turns Nagle's algorithm off."""
        return self._nodelay

    @nodelay.setter
    def nodelay(self, on: bool) -> None:
        self._nodelay = bool(on)
        if on:
            self._layer._mark_dirty(self)  # release a held small segment now

    @property
    def keepalive(self) -> float | None:
        """Idle seconds before keep-alive probes (RFC 1122 4.2.3.6), or None for off."""
        return self._keepalive

    @keepalive.setter
    def keepalive(self, idle: float | None) -> None:
        if idle is not None and idle <= 0:
            raise ValueError("keepalive idle time must be positive")
        self._keepalive = idle
        self._ka_at = None
        self._layer._mark_dirty(self)

    @property
    def congestion(self) -> str:
        """Name of the congestion controller ("newreno" or "cubic")."""
        return self._cc.name

    @congestion.setter
    def congestion(self, name: str) -> None:
        cc = make_congestion(name, self._smss, self._cfg.initial_window)
        cc.cwnd, cc.ssthresh = self._cc.cwnd, self._cc.ssthresh
        self._cc = cc

    @property
    def send_buffer_size(self) -> int:
        """Capacity of the send buffer in bytes."""
        return self._tx.capacity

    @property
    def recv_buffer_size(self) -> int:
        """Capacity of the receive buffer (the largest window we advertise)."""
        return self._rx.capacity

    @property
    def in_flight(self) -> int:
        """Bytes sent and not yet acknowledged (RFC 6675 pipe during recovery)."""
        return self._pipe()

    @property
    def cwnd(self) -> int:
        """Congestion window in bytes."""
        return self._cc.cwnd

    @property
    def mss(self) -> int:
        """Effective send MSS (payload bytes per full segment, options excluded)."""
        return self._smss

    # ----------------------------------------------------------------- socket API

    def _raise_error(self) -> None:
        err = self._error
        if err is not None:
            self._error = None
            raise err

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """Queue data for sending; return how many bytes the send buffer took.

        Raises WouldBlock if none fits (or still connecting), BrokenPipe after
        shutdown(write)/close, the pending error after a reset or timeout."""
        self._raise_error()
        st = self.state
        if self._fin_queued or self._orphan:
            raise errors.BrokenPipe()
        if st is State.SYN_SENT or st is State.SYN_RECEIVED:
            raise errors.WouldBlock()
        if st not in _SENDING:
            if st is State.CLOSED and not self._was_reset:
                raise errors.BrokenPipe()
            raise errors.BrokenPipe() if st is not State.LISTEN else errors.NotConnected()
        if not len(data):
            return 0
        n = self._tx.write(data)
        if n == 0:
            raise errors.WouldBlock()
        self._layer._mark_dirty(self)
        return n

    def recv_into(self, buf: bytearray | memoryview) -> int:
        """Read received bytes into buf; 0 means end of stream (FIN, SHUT_RD, closed).

        Raises WouldBlock when no data is there yet, the pending error after a reset."""
        if self._rd_shut:
            return 0
        rx = self._rx
        if len(rx):
            was_len = len(rx)
            n = rx.read_into(buf)
            self._after_read(was_len)
            return n
        self._raise_error()
        if self._rx_eof or self.state is State.CLOSED or self.state is State.TIME_WAIT:
            return 0
        if not len(buf):
            return 0
        raise errors.WouldBlock()

    def recv(self, n: int) -> bytes:
        """Read up to n received bytes; b"" means end of stream."""
        buf = bytearray(min(n, max(len(self._rx), 1)))
        got = self.recv_into(buf)
        return bytes(buf[:got])

    def peek(self, n: int) -> bytes:
        """Return up to n received bytes without consuming them (b"" at EOF)."""
        if self._rd_shut:
            return b""
        if len(self._rx):
            return self._rx.peek(0, n)
        self._raise_error()
        if self._rx_eof or self.state is State.CLOSED or self.state is State.TIME_WAIT:
            return b""
        raise errors.WouldBlock()

    def _after_read(self, was_len: int) -> None:
        # A window update when reading opened the window a lot (RFC 1122 4.2.3.3): the
        # new right edge moved by >= min(buffer/2, MSS) and the usable window doubled.
        cur = _d(self._rcv_adv, self._rcv_nxt)
        free = self._rx.free
        if free - cur >= min(self._rx.capacity // 2, self._smss) and free >= 2 * cur:
            self._ack_now = True
            self._layer._mark_dirty(self)

    def shutdown(self, how: str) -> None:
        """SHUT_RD ("read"), SHUT_WR ("write") or both ("both"), with Linux semantics."""
        if how not in ("read", "write", "both"):
            raise ValueError("shutdown how must be 'read', 'write' or 'both'")
        st = self.state
        if st is State.CLOSED and not self._was_reset and self._error is None and how != "read":
            raise errors.NotConnected()
        if how in ("read", "both"):
            self._rd_shut = True
            self._rx.clear()
            self._asm.clear()
        if how in ("write", "both"):
            self._queue_fin()
        self._layer._mark_changed(self)

    def _queue_fin(self) -> None:
        if self._fin_queued:
            return
        st = self.state
        if st is State.SYN_SENT:
            # Nothing sent yet: the FIN follows once established (RFC 9293 3.10.4 queues).
            self._fin_queued = True
            return
        if st in (State.ESTABLISHED, State.SYN_RECEIVED):
            self._fin_queued = True
            if st is State.ESTABLISHED:
                self._set_state(State.FIN_WAIT_1)
        elif st is State.CLOSE_WAIT:
            self._fin_queued = True
            self._set_state(State.LAST_ACK)
        self._layer._mark_dirty(self)

    def close(self) -> None:
        """Graceful close: FIN after pending data. With unread received data, reset the
        connection instead (RFC 2525 2.17, as Linux does)."""
        if self._orphan:
            return
        self._orphan = True
        st = self.state
        if st is State.CLOSED or st is State.TIME_WAIT:
            self._layer._mark_changed(self)
            return
        if st is State.SYN_SENT:
            self._enter_closed()
            return
        if len(self._rx) > 0 and not self._rd_shut:
            self.abort()
            return
        self._rd_shut = True
        self._queue_fin()
        if self.state is State.FIN_WAIT_2:
            # Orphaned in FIN-WAIT-2 (the peer may never send its FIN): Linux's
            # tcp_fin_timeout. The layer must re-arm this socket's timer.
            self._end_at = self._layer._now + self._cfg.fin_timeout
            self._layer._mark_dirty(self)

    def abort(self) -> None:
        """Reset the connection now (RST to the peer in synchronized states)."""
        self._orphan = True
        st = self.state
        if (st in _SYNCHRONIZED and st is not State.TIME_WAIT) or st is State.SYN_RECEIVED:
            self._layer._send_rst_for(self, self._snd_nxt)
        if st is not State.CLOSED:
            self._enter_closed()

    # ---------------------------------------------------------------- internals

    def _set_state(self, state: State) -> None:
        self.state = state
        self._layer._mark_changed(self)

    def _enter_closed(self) -> None:
        self.state = State.CLOSED
        self._rto_at = self._ack_at = self._persist_at = self._ka_at = self._end_at = None
        self._ack_now = False
        self._tx.clear()
        self._sacked.clear()
        self._layer._forget(self)
        self._layer._mark_changed(self)

    def _fail(self, err: errors.UsnetError) -> None:
        self._error = err
        self._was_reset = True
        self._enter_closed()

    def _enter_time_wait(self, now: float) -> None:
        self._set_state(State.TIME_WAIT)
        self._rto_at = self._persist_at = self._ka_at = None
        self._end_at = now + 2 * self._cfg.msl
        self._sacked.clear()

    def _tsval(self, now: float) -> int:
        return (int(now * 1000) + self._ts_base) & _MASK

    def _negotiate(self, seg: TcpRepr, our_ts: bool) -> None:
        """Apply the peer's SYN options (RFC 7323 1.3, 2018, 9293 3.7.1)."""
        cfg = self._cfg
        if seg.mss is not None and seg.mss > 0:
            self._peer_mss = seg.mss
        self._ws_ok = cfg.window_scaling and seg.window_scale is not None
        if self._ws_ok and seg.window_scale is not None:
            self._snd_shift = seg.window_scale
            self._rcv_shift = self._our_shift
        else:
            self._snd_shift = self._rcv_shift = 0
        self._sack_ok = cfg.sack and seg.sack_permitted
        self._dsack_ok = self._sack_ok and cfg.dsack
        self._ts_ok = our_ts and seg.timestamp is not None
        if self._ts_ok and seg.timestamp is not None:
            self._ts_recent = seg.timestamp[0]
        smss = min(self._peer_mss, cfg.mss) - (_TS_OPT_LEN if self._ts_ok else 0)
        self._smss = max(smss, 64)
        if cfg.max_segment > cfg.mss:
            self._seg_max = cfg.max_segment - 40 - (_TS_OPT_LEN if self._ts_ok else 0)
            self._seg_max = max(self._seg_max, self._smss)
        else:
            self._seg_max = self._smss
        self._cc.set_mss(self._smss)

    def _init_passive(
        self, syn: TcpRepr, iss: int, ts_ok_local: bool, syn_window_field: int
    ) -> None:
        """State after our SYN-ACK was sent for `syn` (used by the listener)."""
        self.state = State.SYN_RECEIVED
        self._irs = syn.seq
        self._rcv_nxt = (syn.seq + 1) & _MASK
        self._rcv_adv = (self._rcv_nxt + syn_window_field) & _MASK
        self._last_ack_sent = self._rcv_nxt
        self._negotiate(syn, ts_ok_local)
        self._snd_una = iss
        self._snd_nxt = self._snd_max = (iss + 1) & _MASK
        self._snd_wnd = syn.window  # never scaled in a SYN (RFC 7323 2.2)
        self._max_snd_wnd = self._snd_wnd
        self._snd_wl1 = syn.seq
        self._snd_wl2 = iss
        self._recover = self._high_rxt = iss

    def _open_active(self, now: float) -> None:
        self.state = State.SYN_SENT
        self._layer._mark_dirty(self)

    # ------------------------------------------------------------------ output

    def _syn_window(self) -> int:
        return min(self._rx.free, 0xFFFF)

    def _window_field(self) -> int:
        """Advertised window with receiver SWS avoidance (RFC 1122 4.2.3.3)."""
        free = self._rx.free
        shift = self._rcv_shift
        max_wnd = 0xFFFF << shift
        free = min(free, max_wnd)
        free = (free >> shift) << shift
        edge = (self._rcv_nxt + free) & _MASK
        if _d(edge, self._rcv_adv) >= min(self._rx.capacity // 2, self._smss):
            self._rcv_adv = edge
        wnd = _d(self._rcv_adv, self._rcv_nxt)
        if wnd <= 0:
            self._rcv_adv = self._rcv_nxt
            return 0
        return min(wnd >> shift, 0xFFFF)

    def _sack_blocks(self) -> tuple[tuple[int, int], ...]:
        # RFC 2018 4: the first block holds the most recently received segment.
        ranges = self._asm.ranges()
        if not ranges:
            return ()
        base = self._rcv_nxt
        blocks = [((base + s) & _MASK, (base + e) & _MASK) for s, e in ranges]
        latest = _d(self._last_ooo, base)
        first = 0
        for i, (s, e) in enumerate(ranges):
            if s <= latest < e:
                first = i
                break
        order = [blocks[first]] + [
            b for i, b in enumerate(reversed(blocks)) if len(blocks) - 1 - i != first
        ]
        return tuple(order[: 3 if self._ts_ok else 4])

    def _sack_space(self) -> int:
        """Option bytes the SACK blocks of our next segments take (NOP NOP kind len
        + 8 per block), so data plus options still fit the MSS (RFC 6691)."""
        if not self._sack_ok:
            return 0
        blocks = len(self._asm) + (1 if self._dsack is not None else 0)
        if not blocks:
            return 0
        return 4 + 8 * min(blocks, 3 if self._ts_ok else 4)

    def _segment(
        self,
        now: float,
        seq: int,
        flags: int,
        payload: bytes | bytearray | memoryview = b"",
        window: int = -1,
    ) -> TcpRepr:
        """Build a segment from the current receive state; it carries an ACK. A burst
        passes the `window` it computed once (nothing is received in between)."""
        if window < 0:
            window = self._window_field()
        ts = (self._tsval(now), self._ts_recent) if self._ts_ok else None
        sack = self._sack_blocks() if self._sack_ok and not self._asm.is_empty() else ()
        if self._dsack is not None:
            # RFC 2883: a D-SACK block (duplicate data) goes first, once.
            sack = ((self._dsack, *sack))[: 3 if self._ts_ok else 4]
            self._dsack = None
        if flags & ACK:
            self._ack_now = False
            self._ack_at = None
            self._ack_bytes = 0
            self._last_ack_sent = self._rcv_nxt
        return TcpRepr(
            self.local[1],
            self.remote[1],
            seq,
            self._rcv_nxt if flags & ACK else 0,
            flags,
            window,
            timestamp=ts,
            sack_blocks=sack,
            payload=payload,
        )

    def _syn_segment(self, now: float) -> TcpRepr:
        cfg = self._cfg
        flags = SYN if self.state is State.SYN_SENT else SYN | ACK
        window = self._syn_window()
        self._rcv_adv = (self._rcv_nxt + window) & _MASK
        if flags == SYN:
            ts = (self._tsval(now), 0) if cfg.timestamps else None
            wscale = self._our_shift if cfg.window_scaling else None
            sack = cfg.sack
        else:  # simultaneous open: answer with what both sides offered
            ts = (self._tsval(now), self._ts_recent) if self._ts_ok else None
            wscale = self._our_shift if self._ws_ok else None
            sack = self._sack_ok
        if flags & ACK:
            self._ack_now = False
            self._ack_at = None
            self._last_ack_sent = self._rcv_nxt
        return TcpRepr(
            self.local[1],
            self.remote[1],
            self._iss,
            self._rcv_nxt if flags & ACK else 0,
            flags,
            window,
            mss=cfg.mss,
            window_scale=wscale,
            sack_permitted=sack,
            timestamp=ts,
        )

    def _pipe(self) -> int:
        una = self._snd_una
        if not self._in_recovery:
            return max(_d(self._snd_nxt, una), 0)
        if self._sacked:
            # RFC 6675 4 (simplified): holes below the highest SACKed byte are lost;
            # count what is above it plus what of the holes we retransmitted.
            above = max(_d(self._snd_max, self._sacked[-1][1]), 0)
            retx = 0
            cur = una
            for s, e in self._sacked:
                if _d(s, self._high_rxt) >= 0:
                    retx += max(_d(self._high_rxt, cur), 0)
                    cur = self._high_rxt
                    break
                retx += max(_d(s, cur), 0)
                cur = e
            else:
                retx += max(_d(self._high_rxt, cur), 0)
            return above + retx
        flight = _d(self._snd_max, una)
        return max(flight - self._dupacks * self._smss, 0) + max(_d(self._high_rxt, una), 0)

    def _next_hole(self) -> tuple[int, int] | None:
        """RFC 6675 NextSeg rule 1 (or RFC 6582 for no SACK): the next range to resend."""
        una = self._snd_una
        cur = self._high_rxt if _d(self._high_rxt, una) > 0 else una
        if self._sacked:
            for s, e in self._sacked:
                if _d(cur, s) < 0:
                    return cur, s
                if _d(cur, e) < 0:
                    cur = e
            return None
        if cur == una and _d(self._snd_max, una) > 0:
            return una, (una + min(self._smss, _d(self._snd_max, una))) & _MASK
        return None

    def _poll(self, now: float) -> list[TcpRepr]:
        """Run expired timers and return the segments to send now."""
        out: list[TcpRepr] = []
        self._timers(now, out)
        st = self.state
        if st is State.CLOSED:
            return out
        if st is State.SYN_SENT or st is State.SYN_RECEIVED:
            if self._snd_nxt == self._iss:
                out.append(self._syn_segment(now))
                self._snd_nxt = (self._iss + 1) & _MASK
                if _d(self._snd_nxt, self._snd_max) > 0:
                    self._snd_max = self._snd_nxt
                    self._rtt_seq = self._snd_nxt
                    self._rtt_time = now
                if self._rto_at is None:
                    self._rto_at = now + self._rtt.rto
            elif self._ack_now and st is State.SYN_RECEIVED:
                self._snd_nxt = self._iss  # resend SYN-ACK to a duplicate SYN
                return self._poll(now)
            return out
        if st in _SENDING:
            self._output_data(now, out)
        if self._ack_now and not out:
            # A pure ACK carries snd_max: after an RTO rewinds snd_nxt, an older number
            # would be out of the peer's window and answered by its own ACK (ACK war).
            out.append(self._segment(now, self._snd_max, ACK))
        return out

    def _output_data(self, now: float, out: list[TcpRepr]) -> None:
        una = self._snd_una
        tx = self._tx
        txlen = len(tx)
        fin = self._fin_queued
        smss = self._smss
        cwnd = self._cc.cwnd
        wnd = self._snd_wnd
        stats = self._layer.stats
        seg_max = self._seg_max - self._sack_space()
        # A full-sized segment for SWS avoidance and Nagle: the MSS less this segment's
        # SACK option bytes (RFC 1122 4.2.3.4's Eff.snd.MSS).
        smss = min(smss, seg_max)
        if self._in_recovery:
            # RFC 6675 5 step (C) / RFC 6582: retransmit holes while pipe < cwnd.
            pipe = self._pipe()
            # The fast retransmit itself (RFC 5681 3.2 step 4) and the retransmission on
            # a partial ACK (RFC 6582 3.2 step 4) go out regardless of the pipe.
            force = self._rexmit_now
            self._rexmit_now = False
            while pipe < cwnd or force:
                force = False
                hole = self._next_hole()
                if hole is None:
                    break
                start, end = hole
                off = _d(start, una)
                n = min(_d(end, start), seg_max, max(txlen - off, 0))
                send_fin = fin and off + n == txlen and _d(end, start) > n
                if n <= 0 and not send_fin:
                    break
                flags = ACK | (FIN if send_fin else 0)
                out.append(self._segment(now, start, flags, tx.peek(off, n)))
                self._high_rxt = (start + n + (1 if send_fin else 0)) & _MASK
                pipe += n + (1 if send_fin else 0)
                stats.retransmits += 1
                self._rtt_seq = None  # Karn
            room = cwnd - pipe
        else:
            room = cwnd - max(_d(self._snd_nxt, una), 0)
        window = -1
        while True:
            nxt = self._snd_nxt
            retransmit = _d(nxt, self._snd_max) < 0
            limit = seg_max
            if retransmit and self._sacked:
                # Go-back-N after an RTO skips what the peer SACKed since (as Linux's
                # tcp_xmit_retransmit_queue), and stops each segment at a SACKed block.
                for s_, e_ in self._sacked:
                    if _d(nxt, e_) >= 0:
                        continue
                    if _d(nxt, s_) >= 0:
                        nxt = self._snd_nxt = e_
                        continue
                    limit = min(limit, _d(s_, nxt))
                    break
                retransmit = _d(nxt, self._snd_max) < 0
            off = _d(nxt, una)
            avail = txlen - off
            if avail < 0:
                break  # the FIN is sent too
            win_room = wnd - off
            n = min(avail, limit, max(win_room, 0), max(room, 0))
            send_fin = fin and n == avail
            if n == 0 and not send_fin:
                break
            # Sender SWS avoidance (RFC 1122 4.2.3.4): no small window-limited segment
            # unless it is at least half the largest window seen, or nothing is in flight.
            if not retransmit and n < avail and n < smss and n < self._max_snd_wnd // 2 and off > 0:
                break
            if (
                not retransmit
                and n == avail
                and n < smss
                and not self._nodelay
                and not send_fin
                and _d(self._snd_sml, una) > 0
            ):
                # Nagle (RFC 896, RFC 1122 4.2.3.4) in Minshall's form, as Linux: hold a
                # small segment while an earlier small segment is unacknowledged.
                break
            flags = ACK
            if n and off + n == txlen:
                flags |= PSH
            if send_fin:
                flags |= FIN
            if window < 0:
                window = self._window_field()
            out.append(self._segment(now, nxt, flags, tx.peek(off, n) if n else b"", window))
            seg_len = n + (1 if send_fin else 0)
            new_nxt = (nxt + seg_len) & _MASK
            self._snd_nxt = new_nxt
            room -= seg_len
            if retransmit:
                stats.retransmits += 1
            elif self._rtt_seq is None and not self._ts_ok:
                self._rtt_seq = new_nxt  # time this segment (Karn: new data only)
                self._rtt_time = now
            if _d(new_nxt, self._snd_max) > 0:
                self._snd_max = new_nxt
            if n < smss:
                self._snd_sml = new_nxt
            if self._rto_at is None:
                self._rto_at = now + self._rtt.rto
            if send_fin:
                break
        # Zero window: arm the persist timer (RFC 9293 3.8.6.1, RFC 1122 4.2.2.17).
        # Nothing is in flight (after an RTO rewound snd_nxt, what was beyond the
        # window counts as unsent): probing replaces retransmission.
        if wnd == 0 and self._snd_nxt == una and txlen > 0:
            self._rto_at = None
            if self._persist_at is None:
                self._persist_at = now + self._persist_interval()
        else:
            self._persist_at = None
            self._persist_backoff = 0

    def _persist_interval(self) -> float:
        base = self._rtt.rto / (2.0 ** min(self._rtt.backoff_count, 60))
        return min(max(base, self._cfg.min_rto) * 2.0**self._persist_backoff, self._cfg.max_rto)

    # ------------------------------------------------------------------ timers

    def _deadline(self) -> float | None:
        """Earliest of this connection's timers."""
        best: float | None = None
        for t in (self._rto_at, self._ack_at, self._persist_at, self._ka_at, self._end_at):
            if t is not None and (best is None or t < best):
                best = t
        return best

    def _timers(self, now: float, out: list[TcpRepr]) -> None:
        if self._end_at is not None and now >= self._end_at:
            self._end_at = None
            if self.state is State.TIME_WAIT or self.state is State.FIN_WAIT_2:
                self._enter_closed()
                return
        if self._rto_at is not None and now >= self._rto_at:
            self._on_rto(now)
            if self.state is State.CLOSED:
                return
        if self._ack_at is not None and now >= self._ack_at:
            self._ack_at = None
            self._ack_now = True
        if self._persist_at is not None and now >= self._persist_at:
            # Zero-window probe: an old sequence number elicits an ACK with the window
            # (Linux's tcp_xmit_probe_skb), backing off like the RTO.
            self._probes += 1
            if self._probes > self._cfg.max_retries:
                self._layer.stats.timeouts += 1
                self._fail(self._soft_error or errors.ConnectionTimedOut())
                return
            out.append(self._segment(now, (self._snd_una - 1) & _MASK, ACK))
            self._layer.stats.window_probes += 1
            self._persist_backoff += 1
            self._persist_at = now + self._persist_interval()
        self._keepalive_timer(now, out)

    def _keepalive_timer(self, now: float, out: list[TcpRepr]) -> None:
        ka = self._keepalive
        if ka is None or self.state not in (State.ESTABLISHED, State.CLOSE_WAIT):
            self._ka_at = None
            return
        if self._ka_at is None:
            self._ka_at = self._last_rx + ka
        if now < self._ka_at:
            return
        if self._snd_una != self._snd_max or len(self._tx):
            self._ka_at = now + ka  # data in flight: the RTO watches the peer
            return
        if self._ka_probes >= self._cfg.keepalive_count:
            self._fail(errors.ConnectionTimedOut())
            return
        self._ka_probes += 1
        out.append(self._segment(now, (self._snd_una - 1) & _MASK, ACK))
        self._layer.stats.keepalives += 1
        self._ka_at = now + self._cfg.keepalive_interval

    def _on_rto(self, now: float) -> None:
        """RFC 6298 5.4-5.7 and RFC 5681 3.1: retransmit from snd_una, back off."""
        st = self.state
        self._retries += 1
        limit = self._cfg.syn_retries if st is State.SYN_SENT else self._cfg.max_retries
        if self._retries > limit:
            self._layer.stats.timeouts += 1
            self._fail(self._soft_error or errors.ConnectionTimedOut())
            return
        self._rtt.backoff()
        self._layer.stats.timeouts_rto += 1
        flight = _d(self._snd_max, self._snd_una)
        if st is State.SYN_SENT or st is State.SYN_RECEIVED:
            self._snd_nxt = self._iss
            self._layer.stats.retransmits += 1
            self._rtt_seq = None
            self._rto_at = now + self._rtt.rto
            return
        if self._snd_wnd == 0:
            # The peer closed its window: what was beyond it is resent once it opens,
            # and the persist timer probes meanwhile (RFC 1122 4.2.2.17).
            self._snd_nxt = self._snd_una
            self._rto_at = None
            self._rtt_seq = None
            return
        self._cc.on_timeout(now, flight)
        self._in_recovery = False
        self._dupacks = 0
        self._sacked.clear()  # RFC 2018 8: the receiver may have reneged
        self._recover = self._snd_max  # RFC 6582 4: no fast retransmit for old data
        self._snd_nxt = self._snd_una
        self._high_rxt = self._snd_una
        self._rtt_seq = None  # Karn
        self._rto_at = now + self._rtt.rto

    # ----------------------------------------------------------------- receive

    def _challenge_ack(self, now: float) -> None:
        # RFC 5961 7: challenge ACKs are rate limited across the layer.
        if self._layer._challenge_allowed(now):
            self._ack_now = True
            self._layer.stats.challenge_acks += 1

    def _receive(self, seg: TcpRepr, now: float) -> None:
        """Process one segment addressed to this connection (RFC 9293 3.10.7)."""
        st = self.state
        if st is State.SYN_SENT:
            self._receive_syn_sent(seg, now)
            return
        if st is State.CLOSED or st is State.LISTEN:
            return
        if (
            st is State.ESTABLISHED
            and seg.flags & _FAST_MASK == ACK
            and seg.seq == self._rcv_nxt
            and self._receive_fast(seg, now)
        ):
            return
        flags = seg.flags
        seq = seg.seq
        payload = seg.payload
        plen = len(payload)
        self._last_rx = now
        self._ka_probes = 0
        self._probes = 0
        self._ka_at = None
        # Simultaneous open: the peer's SYN-ACK acts as the ACK of ours (as Linux).
        if (
            st is State.SYN_RECEIVED
            and flags & (SYN | ACK) == SYN | ACK
            and seq == self._irs
            and seg.ack == self._snd_max
        ):
            flags &= ~SYN
            seq = (seq + 1) & _MASK
        seg_len = plen + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
        rcv_nxt = self._rcv_nxt
        rwnd = max(_d(self._rcv_adv, rcv_nxt), 0)
        # RFC 7323 5.3: PAWS.
        ts = seg.timestamp
        if self._ts_ok and ts is not None and not flags & RST and _d(ts[0], self._ts_recent) < 0:
            self._layer.stats.drop("paws")
            self._ack_now = True
            return
        off = _d(seq, rcv_nxt)
        # RFC 5961 3.2: a RST resets only if its sequence number is exactly rcv_nxt.
        if flags & RST:
            if off == 0 or (st is State.SYN_RECEIVED and seq == rcv_nxt):
                self._on_reset()
            elif 0 < off < max(rwnd, 1):
                self._challenge_ack(now)
            else:
                self._layer.stats.drop("rst_out_of_window")
            return
        # RFC 9293 3.10.7.4: acceptability.
        if seg_len == 0:
            ok = off == 0 if rwnd == 0 else 0 <= off < rwnd or off == 0
        elif rwnd == 0:
            ok = False
        else:
            end_off = off + seg_len - 1
            ok = 0 <= off < rwnd or 0 <= end_off < rwnd
        if not ok:
            if st is State.TIME_WAIT and flags & FIN:
                self._end_at = now + 2 * self._cfg.msl  # peer lost our ACK of its FIN
            self._layer.stats.drop("out_of_window")
            if plen and self._dsack_ok and off < 0 and off + plen <= 0:
                self._dsack = (seq, (seq + plen) & _MASK)  # RFC 2883 4.1.1
            # RFC 9293: answer with an ACK; for bare ACKs at most once per 0.5 s, like
            # Linux's tcp_invalid_ratelimit, so two confused ends cannot ACK-storm.
            if seg_len:
                self._ack_now = True  # e.g. a retransmission: the peer needs our ACK
            elif now - self._last_oow_ack >= 0.5:
                self._last_oow_ack = now
                self._ack_now = True
            return
        # RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK.
        if flags & SYN:
            self._challenge_ack(now)
            return
        if not flags & ACK:
            self._layer.stats.drop("no_ack")
            return
        # RFC 7323 4.3: remember the timestamp of the segment that holds last_ack_sent.
        if self._ts_ok and ts is not None and _d(seq, self._last_ack_sent) <= 0:
            self._ts_recent = ts[0]
        if not self._process_ack(seg, seq, flags, plen, now):
            return
        st = self.state
        if st is State.CLOSED:
            return
        # Trim to what is new and fits (RFC 9293 3.10.7.4, "trim").
        fin = bool(flags & FIN)
        if off < 0:
            cut = -off
            if cut >= plen:
                if fin and cut == plen:
                    payload = payload[plen:]
                else:
                    fin = False
                    payload = payload[plen:]
                cut = plen
            if self._dsack_ok and cut:
                self._dsack = (seq, rcv_nxt)  # RFC 2883 4.1.2: the duplicate part
            payload = payload[cut:]
            plen = len(payload)
            off = 0
            self._ack_now = True  # partly duplicate: the peer may have missed our ACK
        if plen or fin:
            self._receive_data(payload, plen, off, fin, now)

    def _ack_full(self) -> None:
        # RFC 1122 4.2.3.2 / RFC 5681 4.2: ACK at least every second full-sized segment.
        # With ack_batching the ACK goes out at the end of the receive batch (dispatch).
        if self._cfg.ack_batching:
            self._ack_now = True
        else:
            self._layer._emit_for(self, self._segment(self._layer._now, self._snd_max, ACK))

    def _receive_fast(self, seg: TcpRepr, now: float) -> bool:
        """Header prediction: the in-order data or new ACK of a busy ESTABLISHED
        connection, in one pass; False sends the segment down the full path (RFC 9293
        3.10.7.4 gives the same result for every segment accepted here)."""
        if self._in_recovery or self._rd_shut or self._orphan or seg.sack_blocks:
            return False
        if not self._asm.is_empty():
            return False
        ts = seg.timestamp
        if self._ts_ok and (ts is None or ((ts[0] - self._ts_recent) & _MASK) >= 0x8000_0000):
            return False  # no timestamp, or PAWS would reject it: the full path decides
        una = self._snd_una
        ack = seg.ack
        acked = (ack - una) & _MASK
        if acked > ((self._snd_max - una) & _MASK):
            return False
        payload = seg.payload
        plen = len(payload)
        seq = seg.seq
        if plen:
            rwnd = _d(self._rcv_adv, seq)
            if plen > rwnd or plen > self._rx.free:
                return False
        elif acked == 0:
            return False  # a duplicate ACK or a window update
        self._last_rx = now
        self._ka_probes = 0
        self._probes = 0
        self._ka_at = None
        if ts is not None and self._ts_ok and seq == self._last_ack_sent:
            self._ts_recent = ts[0]  # RFC 7323 4.3
        if acked:
            self._on_new_ack(seg, ack, acked, now)
        window = seg.window << self._snd_shift
        if _d(seq, self._snd_wl1) > 0 or (seq == self._snd_wl1 and _d(ack, self._snd_wl2) >= 0):
            if window != self._snd_wnd:
                self._snd_wnd = window
                self._layer._mark_changed(self)
                self._max_snd_wnd = max(self._max_snd_wnd, window)
            self._snd_wl1 = seq
            self._snd_wl2 = ack
        if plen:
            self._rx.write(payload)
            self._rcv_nxt = (seq + plen) & _MASK
            self._layer._mark_changed(self)
            self._ack_bytes += plen
            if self._ack_bytes >= 2 * self._smss:
                self._ack_full()
            elif self._ack_at is None:
                self._ack_at = now + self._cfg.delayed_ack
        self._layer._mark_dirty(self)
        return True

    def _receive_syn_sent(self, seg: TcpRepr, now: float) -> None:
        """RFC 9293 3.10.7.3."""
        flags = seg.flags
        ack_ok = False
        if flags & ACK:
            if _d(seg.ack, self._iss) <= 0 or _d(seg.ack, self._snd_max) > 0:
                if not flags & RST:
                    self._layer._send_rst_reply(self, seg)
                return
            ack_ok = True
        if flags & RST:
            if ack_ok:
                self._layer.stats.connections_refused += 1
                self._fail(errors.ConnectionRefused())
            return
        if not flags & SYN:
            return
        self._irs = seg.seq
        self._rcv_nxt = (seg.seq + 1) & _MASK
        self._last_ack_sent = self._rcv_nxt
        self._negotiate(seg, self._cfg.timestamps)
        self._snd_wnd = seg.window  # unscaled in a SYN
        self._max_snd_wnd = max(self._max_snd_wnd, self._snd_wnd)
        self._snd_wl1 = seg.seq
        self._snd_wl2 = seg.ack
        self._last_rx = now
        if ack_ok:
            self._snd_una = seg.ack
            if self._snd_nxt != self._snd_max:
                self._snd_nxt = self._snd_max
            self._rto_at = None
            self._sample_rtt(seg, now)
            self._retries = 0
            self._rtt.reset_backoff()
            self._establish()
            self._ack_now = True
            if seg.payload or flags & FIN:
                self._receive_data(seg.payload, len(seg.payload), 0, bool(flags & FIN), now)
        else:
            # Simultaneous open (RFC 9293 3.5, figure 8): answer with SYN-ACK.
            self._set_state(State.SYN_RECEIVED)
            self._snd_nxt = self._iss
            self._rto_at = None

    def _establish(self) -> None:
        self._set_state(State.ESTABLISHED)
        self._layer.stats.established += 1
        if self._fin_queued:
            self._fin_queued = False
            self._queue_fin()

    def _on_reset(self) -> None:
        st = self.state
        self._layer.stats.resets_received += 1
        if st is State.SYN_RECEIVED:
            self._fail(errors.ConnectionRefused())
        elif st in (State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSE_WAIT):
            self._fail(errors.ConnectionReset())
        else:
            self._enter_closed()

    def _sample_rtt(self, seg: TcpRepr, now: float) -> None:
        ts = seg.timestamp
        if self._ts_ok and ts is not None and ts[1]:
            rtt = ((self._tsval(now) - ts[1]) & _MASK) / 1000.0
            if rtt < 3600.0:
                self._rtt.sample(rtt)
                return
        if self._rtt_seq is not None and _d(seg.ack, self._rtt_seq) >= 0:
            self._rtt.sample(max(now - self._rtt_time, 0.0))
            self._rtt_seq = None

    def _sacked_bytes(self) -> int:
        return sum(_d(e, s) for s, e in self._sacked)

    def _update_sacked(self, blocks: tuple[tuple[int, int], ...]) -> bool:
        """Merge SACK blocks into the scoreboard; return whether they SACKed new bytes."""
        before = self._sacked_bytes() if self._sacked else 0
        una = self._snd_una
        top = _d(self._snd_max, una)
        sacked = self._sacked
        for s, e in blocks:
            so, eo = _d(s, una), _d(e, una)
            if not 0 < so < eo <= top:
                continue  # RFC 2018: ignore blocks outside the unacknowledged data
            new = [[so, eo]]
            for b in sacked:
                bs, be = _d(b[0], una), _d(b[1], una)
                if be < new[0][0] or bs > new[0][1]:
                    new.append([bs, be])
                else:
                    new[0] = [min(bs, new[0][0]), max(be, new[0][1])]
            new.sort()
            sacked = [[(una + a) & _MASK, (una + b) & _MASK] for a, b in new]
        if len(sacked) > _MAX_SACK_SCOREBOARD:
            sacked = sacked[-_MAX_SACK_SCOREBOARD:]
        self._sacked = sacked
        return bool(sacked) and self._sacked_bytes() > before

    def _process_ack(self, seg: TcpRepr, seq: int, flags: int, plen: int, now: float) -> bool:
        """RFC 9293 3.10.7.4 fifth step; return False to drop the rest of the segment."""
        st = self.state
        ack = seg.ack
        una = self._snd_una
        if st is State.SYN_RECEIVED:
            if _d(ack, una) <= 0 or _d(ack, self._snd_max) > 0:
                self._layer._send_rst_reply(self, seg)
                return False
            self._snd_wnd = seg.window << self._snd_shift
            self._max_snd_wnd = max(self._max_snd_wnd, self._snd_wnd)
            self._snd_wl1, self._snd_wl2 = seq, ack
            self._establish()
            st = self.state
        acked = _d(ack, una)
        if acked > 0 and _d(ack, self._snd_max) > 0:
            self._layer.stats.drop("ack_unsent")
            self._ack_now = True  # RFC 9293: ACK for something not yet sent
            return False
        # RFC 5961 5.2: an ACK too far in the past is dropped (challenge ACK).
        if acked < 0 and -acked > self._max_snd_wnd:
            self._challenge_ack(now)
            return False
        new_sack = False
        if self._sack_ok and seg.sack_blocks and acked >= 0:
            new_sack = self._update_sacked(seg.sack_blocks)
        window = seg.window << self._snd_shift
        if acked > 0:
            self._on_new_ack(seg, ack, acked, now)
        elif (
            acked == 0
            and plen == 0
            and not flags & (SYN | FIN)
            and self._snd_max != una
            # RFC 5681 2 (e) wants the window unchanged; RFC 6675 2 counts an ACK with
            # new SACK information instead (Linux's window grows in its dupacks).
            and (window == self._snd_wnd or new_sack)
        ):
            self._on_dupack(now)
        # Window update (RFC 9293 3.10.7.4: SND.WL1/WL2 rule).
        if acked >= 0 and (
            _d(seq, self._snd_wl1) > 0 or (seq == self._snd_wl1 and _d(ack, self._snd_wl2) >= 0)
        ):
            if window != self._snd_wnd:
                self._layer._mark_changed(self)
            self._snd_wnd = window
            self._snd_wl1, self._snd_wl2 = seq, ack
            self._max_snd_wnd = max(self._max_snd_wnd, window)
        return self.state is not State.CLOSED

    def _on_new_ack(self, seg: TcpRepr, ack: int, acked: int, now: float) -> None:
        tx = self._tx
        data = min(acked, len(tx))
        tx.discard(data)
        fin_acked = self._fin_queued and acked > data
        self._snd_una = ack
        if _d(self._snd_nxt, ack) < 0:
            self._snd_nxt = ack
        if _d(self._high_rxt, ack) < 0:
            self._high_rxt = ack
        if self._sacked:
            self._sacked = [b for b in self._sacked if _d(b[1], ack) > 0]
            if self._sacked and _d(self._sacked[0][0], ack) < 0:
                self._sacked[0][0] = ack
        self._sample_rtt(seg, now)
        self._retries = 0
        self._rtt.reset_backoff()
        self._persist_backoff = 0
        cc = self._cc
        if self._in_recovery:
            if _d(ack, self._recover) >= 0:
                # RFC 6582 3.2 step 3: full acknowledgment.
                self._in_recovery = False
                self._dupacks = 0
                cc.on_recovery_exit(now)
            else:
                # Partial acknowledgment: the next hole is lost too (RFC 6582 3.2 step 4).
                self._dupacks = 0
                self._rexmit_now = True
                if not self._sacked:
                    self._high_rxt = ack
        else:
            self._dupacks = 0
            cc.on_ack(data, now, self._rtt.srtt)
        self._rto_at = None if ack == self._snd_max else now + self._rtt.rto
        if data:
            self._layer._mark_changed(self)
        if fin_acked:
            st = self.state
            if st is State.FIN_WAIT_1:
                self._set_state(State.FIN_WAIT_2)
                if self._orphan:
                    self._end_at = now + self._cfg.fin_timeout
            elif st is State.CLOSING:
                self._enter_time_wait(now)
            elif st is State.LAST_ACK:
                self._enter_closed()

    def _on_dupack(self, now: float) -> None:
        self._dupacks += 1
        self._layer.stats.dupacks += 1
        if self._in_recovery:
            return
        enough = self._dupacks >= _DUPTHRESH
        if self._sacked and not enough:
            # RFC 6675 5: enter recovery when DupThresh segments are SACKed above una.
            enough = self._sacked_bytes() >= _DUPTHRESH * self._smss
        if not enough:
            return
        if _d(self._snd_una, self._recover) <= 0 and self._recover != self._iss:
            return  # RFC 6582 4.1: still within the previous recovery's window
        self._in_recovery = True
        self._rexmit_now = True
        self._recover = self._snd_max
        self._high_rxt = self._snd_una
        self._cc.on_loss(now, _d(self._snd_max, self._snd_una))
        self._layer.stats.fast_retransmits += 1
        self._rtt_seq = None
        self._layer._mark_dirty(self)

    def _receive_data(
        self, payload: bytes | bytearray | memoryview, plen: int, off: int, fin: bool, now: float
    ) -> None:
        st = self.state
        if st not in _RECEIVING:
            # Data after the peer's FIN: ignore (RFC 9293 3.10.7.4 eighth step).
            return
        if plen and self._orphan:
            # Data for a closed socket: nobody will read it (Linux tcp_rcv_state_process).
            self._layer._send_rst_for(self, self._snd_nxt)
            self._fail(errors.ConnectionReset())
            return
        rx = self._rx
        asm = self._asm
        free = rx.free
        if self._rd_shut:
            free = rx.capacity
        if off + plen > free:
            plen = max(free - off, 0)
            payload = payload[:plen]
            fin = False
        had_holes = not asm.is_empty()
        if plen:
            if self._rd_shut:
                # SHUT_RD: acknowledge and discard (BSD semantics).
                if off == 0:
                    self._rcv_nxt = (self._rcv_nxt + plen) & _MASK
                else:
                    self._ack_now = True
                    return
            elif off == 0 and not had_holes:
                rx.write(payload)
                self._rcv_nxt = (self._rcv_nxt + plen) & _MASK
                self._layer._mark_changed(self)
            else:
                rx.write_at(off, payload)
                if not asm.add(off, plen):
                    self._layer.stats.drop("ooo_ranges")
                    self._ack_now = True
                    return
                if off:
                    self._last_ooo = (self._rcv_nxt + off) & _MASK
                front = asm.remove_front()
                if front:
                    rx.commit(front)
                    self._rcv_nxt = (self._rcv_nxt + front) & _MASK
                    self._layer._mark_changed(self)
        if off:
            # RFC 5681 4.2: a duplicate ACK for each out-of-order segment, sent now rather
            # than once per receive batch, so a sender counts one per segment (its fast
            # retransmit needs three) and sees every new SACK block.
            self._layer._emit_for(self, self._segment(now, self._snd_max, ACK))
            fin = False  # an out-of-order FIN waits for retransmission
        elif had_holes:
            self._ack_now = True  # RFC 5681 4.2: filling a hole
        elif plen:
            self._ack_bytes += plen
            if self._ack_bytes >= 2 * self._smss:
                self._ack_full()
            elif self._ack_at is None:
                self._ack_at = now + self._cfg.delayed_ack
        if fin and off == 0 and asm.is_empty():
            self._rcv_nxt = (self._rcv_nxt + 1) & _MASK
            self._rx_eof = True
            self._ack_now = True
            if st is State.ESTABLISHED:
                self._set_state(State.CLOSE_WAIT)
            elif st is State.FIN_WAIT_1:
                # Our FIN is not acknowledged yet (that would have made us FIN-WAIT-2).
                self._set_state(State.CLOSING)
            elif st is State.FIN_WAIT_2:
                self._enter_time_wait(now)
            self._layer._mark_changed(self)
        self._layer._mark_dirty(self)

    def _on_icmp(self, kind: str, seq: int) -> None:
        """An ICMP error quoting one of our segments (RFC 5927 checks the sequence)."""
        if not (_d(seq, self._snd_una) >= 0 and _d(seq, self._snd_max) <= 0):
            self._layer.stats.drop("icmp_seq")
            return
        if self.state is State.SYN_SENT and kind in ("port_unreachable", "proto_unreachable"):
            self._fail(errors.ConnectionRefused())
            return
        if kind in ("host_unreachable", "admin_prohibited"):
            self._soft_error = errors.HostUnreachable()
        elif kind == "net_unreachable":
            self._soft_error = errors.NetworkUnreachable()
