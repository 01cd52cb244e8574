"""DNS stub resolver (RFC 1034 5.3.1) as a sans-I/O machine: one lookup of IPv4 addresses.

    query = DnsQuery("example.com", [(ns, 53)], entropy=os.urandom, now=now)
    while not query.done:
        for server, payload in query.datagrams_to_send():
            ...send payload to server, always from the same random source port...
        ...wait for a datagram until query.poll_at()...
        query.receive(data, source, now)   # or, when nothing came: query.on_timer(now)
    query.answer   # DnsAnswer (addresses, ttl), or query.error: DnsError (kind, detail)

Retries go like glibc's res_send: up to `attempts` rounds over the servers in order, one
datagram at a time; the first round waits `timeout` per server, round r waits
timeout * 2**r / len(servers). A server answering SERVFAIL, REFUSED, NOTIMP or FORMERR
passes the turn to the next server at once.

Anti-spoofing (RFC 5452 9.1): each datagram gets a fresh random ID from `entropy`, and the
caller sends from a random source port (the Interface's ephemeral ports are random) and
passes the true source of each response. A response counts only if its ID is one we sent
to exactly that source and it answers exactly our question; anything else is dropped and
counted in `dropped`. A TC (truncated) response ends the lookup with a TRUNCATED error:
there is no TCP fallback yet.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from usnet_core.errors import Malformed
from usnet_core.wire.checksum import Buffer
from usnet_core.wire.dns import (
    CLASS_IN,
    OPCODE_QUERY,
    RCODE_NOERROR,
    RCODE_NXDOMAIN,
    TYPE_A,
    TYPE_CNAME,
    DnsPacket,
    DnsQuestion,
    DnsRepr,
    Name,
    check_name,
    name_from_str,
    name_to_str,
    names_equal,
)

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_MAX_CNAMES",
    "DEFAULT_TIMEOUT",
    "DnsAnswer",
    "DnsError",
    "DnsErrorKind",
    "DnsQuery",
    "Endpoint",
]

Endpoint = tuple[int, int]
"""(IPv4 address as int, port)."""

DEFAULT_TIMEOUT = 5.0  # glibc RES_TIMEOUT
DEFAULT_ATTEMPTS = 2  # glibc RES_DFLRETRY
DEFAULT_MAX_CNAMES = 8
_MAX_TTL = 0x7FFFFFFF  # RFC 2181 8: larger values mean 0


class DnsErrorKind(enum.Enum):
    """Why a lookup failed."""

    NAME_ERROR = "NXDOMAIN"
    """The name does not exist (rcode NXDOMAIN)."""
    NO_DATA = "no data"
    """The name exists but has no A record."""
    SERVER_FAILURE = "server failure"
    """Every try ended in SERVFAIL, REFUSED, NOTIMP or FORMERR (the last is reported)."""
    TIMEOUT = "timeout"
    """No server answered within the retries."""
    TRUNCATED = "truncated"
    """The answer did not fit a UDP datagram (TC bit) and TCP fallback is not implemented."""
    CNAME_LIMIT = "CNAME limit"
    """The CNAME chain was longer than allowed (or a loop)."""


@dataclass(frozen=True, slots=True)
class DnsError:
    """A failed lookup: the kind, a human-readable detail, and the server and rcode if any."""

    kind: DnsErrorKind
    detail: str
    server: Endpoint | None = None
    rcode: int | None = None


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """A successful lookup: the IPv4 addresses (server order, no duplicates) of `canonical`,
    the end of the CNAME chain starting at `name`, valid for `ttl` seconds (the smallest TTL
    on the chain)."""

    name: Name
    canonical: Name
    addresses: tuple[int, ...]
    ttl: int


class DnsQuery:
    """One lookup of the A records of `name`; see the module docstring for the protocol.

    The first datagram is ready at construction. `servers` are (address, port) endpoints;
    ValueError for an empty list, a bad name, or non-positive timeout/attempts.
    """

    def __init__(
        self,
        name: str | Name,
        servers: Sequence[Endpoint],
        *,
        entropy: Callable[[int], bytes],
        now: float,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
        rotate: bool = False,
        max_cnames: int = DEFAULT_MAX_CNAMES,
    ) -> None:
        if not servers:
            raise ValueError("no DNS servers")
        if timeout <= 0 or attempts < 1 or max_cnames < 0:
            raise ValueError("timeout and attempts must be positive, max_cnames >= 0")
        qname = name_from_str(name) if isinstance(name, str) else tuple(name)
        check_name(qname)
        self._entropy = entropy
        self._servers = tuple(servers)
        self._timeout = timeout
        self._attempts = attempts
        self._max_cnames = max_cnames
        self._first = entropy(1)[0] % len(self._servers) if rotate else 0
        self._asked = qname
        self._name = qname
        self._ttl = _MAX_TTL
        self._cnames = 0
        self._try = 0
        self._deadline: float | None = None
        self._outstanding: dict[int, Endpoint] = {}
        self._pending: list[tuple[Endpoint, bytes]] = []
        self._last_failure: DnsError | None = None
        self.answer: DnsAnswer | None = None
        """The result once the lookup succeeded."""
        self.error: DnsError | None = None
        """The reason once the lookup failed."""
        self.dropped: dict[str, int] = {}
        """Responses ignored, by reason (malformed, unexpected, question, ...)."""
        self.sent = 0
        """Datagrams produced so far."""
        self._send_next(now)

    # -- the caller's side ---------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once `answer` or `error` is set; nothing more is sent or accepted."""
        return self.answer is not None or self.error is not None

    @property
    def name(self) -> Name:
        """The name being asked now (changes when a CNAME points elsewhere)."""
        return self._name

    def datagrams_to_send(self) -> list[tuple[Endpoint, bytes]]:
        """Take the (server, payload) datagrams produced since the last call."""
        out, self._pending = self._pending, []
        return out

    def poll_at(self) -> float | None:
        """When to call on_timer at the latest; None once done."""
        return None if self.done else self._deadline

    def on_timer(self, now: float) -> None:
        """Retry with the next server, or fail with TIMEOUT, if the current try expired."""
        if self.done or self._deadline is None or now < self._deadline:
            return
        self._send_next(now)

    def receive(self, data: Buffer, source: Endpoint, now: float) -> None:
        """Feed a datagram that arrived at our port from `source`; never raises for bad data."""
        if self.done:
            return
        try:
            # Check ID and source on the header alone: a flood of forgeries costs no parsing.
            server = self._outstanding.get(DnsPacket(data).ident)
            if server is None or server != source:
                self._drop("unexpected id or source")
                return
            msg = DnsRepr.parse(data)
        except Malformed:
            self._drop("malformed")
            return
        if not msg.response or msg.opcode != OPCODE_QUERY:
            self._drop("not a response")
            return
        question = DnsQuestion(self._name, TYPE_A, CLASS_IN)
        asked_back = len(msg.questions) == 1 and msg.questions[0].matches(question)
        # Servers may leave the question out of an error response (FORMERR, SERVFAIL);
        # believing a forged one only makes us move on to the next server.
        failing = msg.rcode not in (RCODE_NOERROR, RCODE_NXDOMAIN)
        if not asked_back and not (failing and not msg.questions):
            self._drop("question mismatch")
            return
        del self._outstanding[msg.ident]
        if msg.truncated:
            detail = "response truncated (TC) and TCP fallback is not implemented"
            self._fail(DnsErrorKind.TRUNCATED, detail, source, msg.rcode)
        elif msg.rcode == RCODE_NXDOMAIN:
            self._fail(DnsErrorKind.NAME_ERROR, "no such name", source, msg.rcode)
        elif failing:
            self._last_failure = DnsError(
                DnsErrorKind.SERVER_FAILURE,
                f"{name_to_str(self._name)}: server answered rcode {msg.rcode}",
                source,
                msg.rcode,
            )
            self._send_next(now)
        else:
            self._answer(msg, source, now)

    # -- inside ----------------------------------------------------------------------------

    def _drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def _fail(
        self, kind: DnsErrorKind, detail: str, server: Endpoint | None, rcode: int | None
    ) -> None:
        self.error = DnsError(kind, f"{name_to_str(self._name)}: {detail}", server, rcode)
        self._deadline = None
        self._outstanding.clear()

    def _send_next(self, now: float) -> None:
        count = len(self._servers)
        if self._try >= self._attempts * count:
            if self._last_failure is not None:
                self.error = self._last_failure
                self._deadline = None
                self._outstanding.clear()
            else:
                tries = self._attempts * count
                self._fail(DnsErrorKind.TIMEOUT, f"no answer after {tries} tries", None, None)
            return
        round_, index = divmod(self._try, count)
        self._try += 1
        server = self._servers[(self._first + index) % count]
        ident = self._new_ident()
        self._outstanding[ident] = server
        self._pending.append((server, bytes(DnsRepr.query(ident, self._name).to_bytes())))
        self.sent += 1
        wait = self._timeout
        if round_:
            wait = self._timeout * (1 << round_) / count  # glibc res_send: retrans << try / n
        self._deadline = now + wait

    def _new_ident(self) -> int:
        ident = int.from_bytes(self._entropy(2), "big")
        # At most attempts * servers IDs are outstanding, so a free one is always near.
        while ident in self._outstanding:
            ident = (ident + 1) & 0xFFFF
        return ident

    def _answer(self, msg: DnsRepr, source: Endpoint, now: float) -> None:
        # RFC 1034 5.3.3 step 4: follow the chain inside this answer first.
        name, ttl, moved = self._name, self._ttl, False
        while True:
            addresses: list[int] = []
            for record in msg.answers:
                if (
                    record.rtype == TYPE_A
                    and record.rclass == CLASS_IN
                    and isinstance(record.data, int)
                    and names_equal(record.name, name)
                ):
                    ttl = min(ttl, _ttl(record.ttl))
                    if record.data not in addresses:
                        addresses.append(record.data)
            if addresses:
                self._name = name
                self.answer = DnsAnswer(self._asked, name, tuple(addresses), ttl)
                self._deadline = None
                self._outstanding.clear()
                return
            cname: Name | None = None
            for record in msg.answers:
                if (
                    record.rtype == TYPE_CNAME
                    and isinstance(record.data, tuple)
                    and names_equal(record.name, name)
                ):
                    cname, ttl = record.data, min(ttl, _ttl(record.ttl))
                    break
            if cname is None:
                break
            self._cnames += 1
            if self._cnames > self._max_cnames:
                self._fail(
                    DnsErrorKind.CNAME_LIMIT,
                    f"more than {self._max_cnames} CNAMEs",
                    source,
                    msg.rcode,
                )
                return
            name, moved = cname, True
        if not moved:
            self._fail(DnsErrorKind.NO_DATA, "no A record", source, msg.rcode)
            return
        # The chain ends in a name this server gave no address for: ask for it anew
        # (RFC 1034 5.3.3 step 3), with a fresh round of tries.
        self._name, self._ttl = name, ttl
        self._outstanding.clear()
        self._try = 0
        self._last_failure = None
        self._send_next(now)


def _ttl(raw: int) -> int:
    return raw if raw <= _MAX_TTL else 0
