"""Name resolution inside the stack: the seed's usnet_to_socket_addrs, for IPv4.

    resolve("example.com")                       # -> ["93.184.215.14"]
    usnet_to_socket_addrs("example.com:80")      # -> [("93.184.215.14", 80)]

Order: an IPv4 literal is itself; then /etc/hosts (IPv4 entries, aliases included);
"localhost" and *.localhost are 127.0.0.1 even without an entry; then the answer cache;
then DNS (usnet_core.dns) over a usnet UdpSocket to the servers in USNET_DNS, or else the
nameservers of /etc/resolv.conf, whose search, ndots, timeout, attempts and rotate options
apply too. A nameserver in 127.0.0.0/8 (systemd-resolved's 127.0.0.53, a local dnsmasq) is
reached over the kernel's loopback, as the stack's loopback integration does for TCP: our
own code still speaks DNS, the kernel only carries the datagrams. The kernel's resolver is
used in host mode only (USNET_MODE=host and no stack given).

Failures raise socket.gaierror like getaddrinfo: EAI_NONAME for NXDOMAIN or an invalid
name, EAI_NODATA when the name has no IPv4 address, EAI_AGAIN for timeouts and server
failures, EAI_FAIL for a truncated answer (no TCP fallback yet) or a CNAME loop.
"""

from __future__ import annotations

import _socket
import contextlib
import ipaddress
import os
import select
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from usnet_backends.config import EnvSettings
from usnet_core.dns import DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT, DnsError, DnsErrorKind, DnsQuery
from usnet_core.wire.dns import name_from_str

from usnet_sync.addr import split_address
from usnet_sync.stack import Stack, StackClosedError

if TYPE_CHECKING:
    from usnet_sync.udp import UdpSocket

__all__ = [
    "HOSTS_PATH",
    "RESOLV_CONF_PATH",
    "ResolvConf",
    "Resolver",
    "default_resolver",
    "parse_hosts",
    "parse_resolv_conf",
    "resolve",
    "usnet_to_socket_addrs",
]

HOSTS_PATH = "/etc/hosts"
RESOLV_CONF_PATH = "/etc/resolv.conf"
_MAXNS = 3  # glibc reads at most three nameservers
_MAX_CACHE_TTL = 86400.0
_EAI_NODATA: int = getattr(socket, "EAI_NODATA", socket.EAI_NONAME)
_SLICE = 0.02  # how long each transport is waited on when two must be watched
_LOCALHOST = "127.0.0.1"


# ---------------------------------------------------------------------------------------
# /etc/hosts and /etc/resolv.conf
# ---------------------------------------------------------------------------------------


def parse_hosts(text: str) -> dict[str, tuple[str, ...]]:
    """The IPv4 entries of a hosts file: lower-case name or alias -> addresses in file order.

    Comments (#) and lines that are not an IPv4 address followed by names are skipped.
    """
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            address = str(ipaddress.IPv4Address(fields[0]))
        except ValueError:
            continue  # IPv6 or junk
        for name in fields[1:]:
            known = table.setdefault(name.lower().rstrip("."), [])
            if address not in known:
                known.append(address)
    return {name: tuple(addresses) for name, addresses in table.items()}


@dataclass(frozen=True, slots=True)
class ResolvConf:
    """What resolv.conf(5) says, with glibc's defaults and limits."""

    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    ndots: int = 1
    timeout: float = DEFAULT_TIMEOUT
    attempts: int = DEFAULT_ATTEMPTS
    rotate: bool = False


def parse_resolv_conf(text: str) -> ResolvConf:
    """Parse resolv.conf text: nameserver (IPv4, at most 3), search/domain (the last wins),
    options ndots:n (<= 15), timeout:n (<= 30), attempts:n (<= 5), rotate; the rest is skipped.
    """
    servers: list[str] = []
    search: tuple[str, ...] = ()
    ndots, timeout, attempts, rotate = 1, DEFAULT_TIMEOUT, DEFAULT_ATTEMPTS, False
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        key, args = fields[0], fields[1:]
        if key == "nameserver" and args:
            with contextlib.suppress(ValueError):
                address = str(ipaddress.IPv4Address(args[0]))
                if len(servers) < _MAXNS:
                    servers.append(address)
        elif key == "search":
            search = tuple(d.rstrip(".") for d in args if d.rstrip("."))
        elif key == "domain" and args:
            search = (args[0].rstrip("."),) if args[0].rstrip(".") else ()
        elif key == "options":
            for option in args:
                name, _, value = option.partition(":")
                if name == "rotate":
                    rotate = True
                elif name in ("ndots", "timeout", "attempts") and value.isdigit():
                    number = int(value)
                    if name == "ndots":
                        ndots = min(number, 15)
                    elif name == "timeout":
                        timeout = float(min(max(number, 1), 30))
                    else:
                        attempts = min(max(number, 1), 5)
    return ResolvConf(tuple(servers), search, ndots, timeout, attempts, rotate)


class _FileCache:
    """Re-parse a file only when its identity or modification time changes."""

    def __init__(self) -> None:
        self._key: tuple[str, int, int, int] | None = None
        self._text = ""

    def read(self, path: str) -> str:
        try:
            st = os.stat(path)
        except OSError:
            return ""
        key = (path, st.st_ino, st.st_size, st.st_mtime_ns)
        if key != self._key:
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    self._text = f.read()
            except OSError:
                return ""
            self._key = key
        return self._text


# ---------------------------------------------------------------------------------------
# Carrying datagrams: a usnet UdpSocket, or a kernel socket for loopback nameservers
# ---------------------------------------------------------------------------------------


def _is_loopback(address: int) -> bool:
    return address >> 24 == 127


class _Transport:
    """The sockets of one resolution: opened on first use, each on a random port."""

    def __init__(self, stack: Stack | None) -> None:
        self._stack = stack
        self._usnet: UdpSocket | None = None
        self._kernel: _socket.socket | None = None
        self.send_error: OSError | None = None

    def send(self, server: tuple[int, int], payload: bytes) -> None:
        host = str(ipaddress.IPv4Address(server[0]))
        try:
            if _is_loopback(server[0]):
                self._kernel_socket().sendto(payload, (host, server[1]))
            else:
                self._usnet_socket().send_to(payload, (host, server[1]))
        except StackClosedError:
            raise
        except OSError as exc:
            # Retries and the other servers still have a chance; remember it for the error.
            self.send_error = exc

    def _usnet_socket(self) -> UdpSocket:
        if self._usnet is None:
            from usnet_sync.udp import UdpSocket  # noqa: PLC0415 (cycle via default)

            self._usnet = UdpSocket.bind(("0.0.0.0", 0), stack=self._stack)
        return self._usnet

    def _kernel_socket(self) -> _socket.socket:
        if self._kernel is None:
            # _socket, not socket: patch_socket() may have swapped socket.socket for ours.
            sock = _socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind(("127.0.0.1", 0))
            self._kernel = sock
        return self._kernel

    def recv(self, timeout: float) -> tuple[bytes, tuple[int, int]] | None:
        """One datagram and its source, or None after `timeout` seconds."""
        if self._usnet is None and self._kernel is None:  # every send failed so far
            time.sleep(timeout)
            return None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if self._kernel is not None:
                with contextlib.suppress(BlockingIOError, InterruptedError, ConnectionError):
                    data, (host, port) = self._kernel.recvfrom(65535)
                    return data, (int(ipaddress.IPv4Address(host)), port)
                if self._usnet is None:
                    if remaining <= 0:
                        return None
                    select.select([self._kernel], [], [], remaining)
                    continue
            if self._usnet is None or remaining <= 0:
                return None
            wait = remaining if self._kernel is None else min(remaining, _SLICE)
            self._usnet.set_read_timeout(max(wait, 1e-4))
            try:
                data, (host, port) = self._usnet.recv_from()
            except TimeoutError:
                continue
            except StackClosedError:
                raise
            except OSError:
                # An ICMP error pending on the socket; the query's timer decides what next.
                continue
            return data, (int(ipaddress.IPv4Address(host)), port)

    def close(self) -> None:
        if self._usnet is not None:
            with contextlib.suppress(OSError):
                self._usnet.close()
        if self._kernel is not None:
            self._kernel.close()


# ---------------------------------------------------------------------------------------
# The resolver
# ---------------------------------------------------------------------------------------


def _gaierror(code: int, host: str, detail: str) -> socket.gaierror:
    standard = {
        socket.EAI_NONAME: "Name or service not known",
        socket.EAI_AGAIN: "Temporary failure in name resolution",
        socket.EAI_FAIL: "Non-recoverable failure in name resolution",
        socket.EAI_FAMILY: "ai_family not supported",
        _EAI_NODATA: "No address associated with hostname",
    }.get(code, "Name resolution failed")
    return socket.gaierror(code, f"{standard}: {host!r} ({detail})")


_EAI_BY_KIND = {
    DnsErrorKind.NAME_ERROR: socket.EAI_NONAME,
    DnsErrorKind.NO_DATA: _EAI_NODATA,
    DnsErrorKind.SERVER_FAILURE: socket.EAI_AGAIN,
    DnsErrorKind.TIMEOUT: socket.EAI_AGAIN,
    DnsErrorKind.TRUNCATED: socket.EAI_FAIL,
    DnsErrorKind.CNAME_LIMIT: socket.EAI_FAIL,
}


class Resolver:
    """A resolver with its own answer cache; `resolve()` uses one shared default instance.

    `servers` overrides USNET_DNS and resolv.conf (IPv4 strings, or (host, port) pairs);
    `timeout`/`attempts` override resolv.conf's options; `environ` replaces os.environ
    for USNET_DNS. The files are re-read when they change.
    """

    def __init__(
        self,
        *,
        servers: Sequence[str | tuple[str, int]] | None = None,
        hosts_path: str | os.PathLike[str] = HOSTS_PATH,
        resolv_conf_path: str | os.PathLike[str] = RESOLV_CONF_PATH,
        timeout: float | None = None,
        attempts: int | None = None,
        cache_size: int = 256,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._servers = None if servers is None else [_server(s) for s in servers]
        self._hosts_path = os.fspath(hosts_path)
        self._resolv_path = os.fspath(resolv_conf_path)
        self._timeout = timeout
        self._attempts = attempts
        self._cache_size = cache_size
        self._environ = environ
        self._lock = threading.Lock()
        self._hosts_file = _FileCache()
        self._resolv_file = _FileCache()
        self._hosts: tuple[str, dict[str, tuple[str, ...]]] = ("", {})
        self._cache: OrderedDict[str, tuple[float, tuple[str, ...]]] = OrderedDict()

    def hosts(self) -> dict[str, tuple[str, ...]]:
        """The hosts file's IPv4 table as it is now (see parse_hosts)."""
        with self._lock:
            text = self._hosts_file.read(self._hosts_path)
            if text != self._hosts[0]:
                self._hosts = (text, parse_hosts(text))
            return self._hosts[1]

    def resolv_conf(self) -> ResolvConf:
        """The resolv.conf in effect, with this resolver's overrides applied."""
        with self._lock:
            conf = parse_resolv_conf(self._resolv_file.read(self._resolv_path))
        return ResolvConf(
            conf.nameservers,
            conf.search,
            conf.ndots,
            conf.timeout if self._timeout is None else self._timeout,
            conf.attempts if self._attempts is None else self._attempts,
            conf.rotate,
        )

    def servers(self, conf: ResolvConf | None = None) -> list[tuple[int, int]]:
        """Where queries go: `servers`, else USNET_DNS, else resolv.conf, else 127.0.0.1."""
        if self._servers is not None:
            return list(self._servers)
        dns = EnvSettings.from_env(self._environ).dns
        if dns:
            return [(int(address), 53) for address in dns]
        conf = conf if conf is not None else self.resolv_conf()
        return [_server(s) for s in conf.nameservers or ("127.0.0.1",)]

    def clear_cache(self) -> None:
        """Forget every cached DNS answer."""
        with self._lock:
            self._cache.clear()

    def resolve(
        self, host: str, *, stack: Stack | None = None, timeout: float | None = None
    ) -> list[str]:
        """The IPv4 addresses of `host` as strings (see the module docstring for the order).

        `timeout` bounds the whole DNS part (EAI_AGAIN when it passes); None leaves it to
        the retries. Without `stack` the default stack is used, created on first need.
        """
        if not isinstance(host, str):
            raise TypeError(f"host must be a str, not {type(host).__name__}")
        literal = _literal(host)
        if literal is not None:
            return [literal]
        key = host.lower().rstrip(".")
        if not key or "%" in key or ":" in key:
            raise _gaierror(socket.EAI_FAMILY if ":" in key else socket.EAI_NONAME, host, "")
        if stack is None:
            from usnet_sync.default import mode_from_env  # noqa: PLC0415 (cycle)
            from usnet_sync.stack import Mode  # noqa: PLC0415

            if mode_from_env(self._environ) is Mode.HOST:
                return _kernel_resolve(host)
        known = self.hosts().get(key)
        if known:
            return list(known)
        if key == "localhost" or key.endswith(".localhost"):  # RFC 6761 6.3
            return [_LOCALHOST]
        if key == "invalid" or key.endswith(".invalid"):  # RFC 6761 6.4: never asked
            raise _gaierror(socket.EAI_NONAME, host, "reserved name (RFC 6761)")
        cached = self._cached(key)
        if cached is not None:
            return list(cached)
        addresses, ttl = self._lookup(host, stack, timeout)
        self._remember(key, addresses, ttl)
        return list(addresses)

    def _cached(self, key: str) -> tuple[str, ...] | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            return entry[1]

    def _remember(self, key: str, addresses: tuple[str, ...], ttl: int) -> None:
        if ttl <= 0 or self._cache_size <= 0:
            return
        with self._lock:
            self._cache[key] = (time.monotonic() + min(float(ttl), _MAX_CACHE_TTL), addresses)
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _lookup(
        self, host: str, stack: Stack | None, timeout: float | None
    ) -> tuple[tuple[str, ...], int]:
        try:
            name_from_str(host)
        except ValueError as exc:
            raise _gaierror(socket.EAI_NONAME, host, str(exc)) from None
        conf = self.resolv_conf()
        servers = self.servers(conf)
        deadline = None if timeout is None else time.monotonic() + timeout
        if stack is None and any(not _is_loopback(address) for address, _ in servers):
            from usnet_sync.default import default_stack  # noqa: PLC0415 (cycle)

            stack = default_stack()
        transport = _Transport(stack)
        nodata = False
        failure: DnsError | None = None
        try:
            for candidate in _candidates(host, conf):
                try:
                    query = DnsQuery(
                        candidate,
                        servers,
                        entropy=os.urandom,
                        now=time.monotonic(),
                        timeout=conf.timeout,
                        attempts=conf.attempts,
                        rotate=conf.rotate,
                    )
                except ValueError as exc:
                    raise _gaierror(socket.EAI_NONAME, host, str(exc)) from None
                _run(query, transport, deadline, host)
                if query.answer is not None:
                    addresses = tuple(str(ipaddress.IPv4Address(a)) for a in query.answer.addresses)
                    return addresses, query.answer.ttl
                failure = query.error
                assert failure is not None
                if failure.kind is DnsErrorKind.NO_DATA:
                    nodata = True
                elif failure.kind is not DnsErrorKind.NAME_ERROR:
                    break  # glibc: only "no such name" moves on to the next search domain
        finally:
            transport.close()
        assert failure is not None
        if nodata and failure.kind is DnsErrorKind.NAME_ERROR:
            failure = DnsError(DnsErrorKind.NO_DATA, failure.detail, failure.server)
        detail = failure.detail
        if failure.kind is DnsErrorKind.TIMEOUT and transport.send_error is not None:
            detail += f"; sending failed: {transport.send_error}"
        raise _gaierror(_EAI_BY_KIND[failure.kind], host, detail)


def _run(query: DnsQuery, transport: _Transport, deadline: float | None, host: str) -> None:
    """Drive one query to its end over `transport`."""
    while True:
        for server, payload in query.datagrams_to_send():
            transport.send(server, payload)
        if query.done:
            return
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            raise _gaierror(socket.EAI_AGAIN, host, "timed out")
        wake = query.poll_at()
        assert wake is not None
        if deadline is not None:
            wake = min(wake, deadline)
        got = transport.recv(max(0.0, wake - now))
        now = time.monotonic()
        if got is not None:
            query.receive(got[0], got[1], now)
        else:
            query.on_timer(now)


def _candidates(host: str, conf: ResolvConf) -> list[str]:
    """The names to try, in order, per resolv.conf's search and ndots (glibc res_search)."""
    if host.endswith("."):
        return [host]
    searched = [f"{host}.{domain}" for domain in conf.search]
    if host.count(".") >= conf.ndots:
        return [host, *searched]
    return [*searched, host]


def _literal(host: str) -> str | None:
    if host in ("", "0.0.0.0"):
        return "0.0.0.0"
    if host == "<broadcast>":
        return "255.255.255.255"
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        return None


def _server(server: str | tuple[str, int]) -> tuple[int, int]:
    host, port = (server, 53) if isinstance(server, str) else server
    return int(ipaddress.IPv4Address(host)), port


def _kernel_resolve(host: str) -> list[str]:
    infos = _socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    out: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in out:
            out.append(address)
    return out


_default_lock = threading.Lock()
_default: Resolver | None = None


def default_resolver() -> Resolver:
    """The process-wide Resolver (system files, USNET_DNS) behind `resolve()`."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Resolver()
        return _default


def resolve(host: str, *, stack: Stack | None = None, timeout: float | None = None) -> list[str]:
    """The IPv4 addresses of `host` (literal, hosts file, cache, then in-stack DNS)."""
    return default_resolver().resolve(host, stack=stack, timeout=timeout)


def usnet_to_socket_addrs(
    address: tuple[str, int] | str,
    *,
    stack: Stack | None = None,
    timeout: float | None = None,
) -> list[tuple[str, int]]:
    """(host, port) or "host:port" as a list of (IPv4 address, port), resolved in the stack.

    ValueError for a string without a valid port; the resolution errors are resolve()'s.
    """
    host, port = split_address(address)
    if host.startswith("[") and host.endswith("]"):
        raise _gaierror(socket.EAI_FAMILY, host, "IPv6 is not supported yet")
    return [(ip, port) for ip in resolve(host, stack=stack, timeout=timeout)]
