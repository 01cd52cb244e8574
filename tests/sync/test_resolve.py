"""usnet_sync.resolve: hosts and resolv.conf parsing, then DNS inside the stack.

DNS runs against a tiny server built on usnet_core.wire.dns: on a usnet UdpSocket of a
second in-memory stack, on a kernel socket at 127.0.0.1 (loopback nameservers), and, as
root, on a kernel socket inside the kernel_peer namespace reached over TAP.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import pytest
from netns_harness import KernelPeer, mac_str
from sync_env import A_IP, B_IP, stack_pair
from usnet_core.iface import Interface, InterfaceConfig
from usnet_core.wire.dns import (
    CLASS_IN,
    RCODE_NXDOMAIN,
    RCODE_SERVFAIL,
    TYPE_A,
    TYPE_CNAME,
    DnsRecord,
    DnsRepr,
    name_from_str,
    name_to_str,
)
from usnet_core.wire.ipv4 import addr_from_str
from usnet_sync import resolve as resolve_module
from usnet_sync.resolve import (
    ResolvConf,
    Resolver,
    parse_hosts,
    parse_resolv_conf,
    usnet_to_socket_addrs,
)
from usnet_sync.stack import Mode, Stack
from usnet_sync.udp import UdpSocket

MODES = [Mode.MULTI, Mode.SINGLE]
EAI_NODATA = getattr(socket, "EAI_NODATA", socket.EAI_NONAME)

# What the test servers know: a list is A records (empty: the name exists without one),
# a str is a CNAME, "SERVFAIL" makes the server fail; everything else is NXDOMAIN.
ZONE: dict[str, list[str] | str] = {
    "www.usnet.test": "web.usnet.test",
    "web.usnet.test": ["10.5.0.80", "10.5.0.81"],
    "alias.usnet.test": "www.usnet.test",
    "mail.usnet.test": [],
    "broken.usnet.test": "SERVFAIL",
    "short.usnet.test": ["10.5.0.9"],
    "loop1.usnet.test": "loop2.usnet.test",
    "loop2.usnet.test": "loop1.usnet.test",
}
SHORT_TTL = {"short.usnet.test": 1}


def answer(query: bytes) -> bytes | None:
    """A recursive server's response to `query` from ZONE (None for garbage)."""
    try:
        msg = DnsRepr.parse(query)
    except Exception:
        return None
    if msg.response or len(msg.questions) != 1:
        return None
    question = msg.questions[0]
    name = question.name
    records: list[DnsRecord] = []
    rcode = 0
    for _ in range(3):  # a recursive server follows a few CNAMEs itself
        key = name_to_str(name).lower()
        entry = ZONE.get(key)
        if entry is None:
            rcode = RCODE_NXDOMAIN
            break
        if entry == "SERVFAIL":
            rcode = RCODE_SERVFAIL
            break
        ttl = SHORT_TTL.get(key, 300)
        if isinstance(entry, str):
            target = name_from_str(entry)
            records.append(DnsRecord(name, TYPE_CNAME, CLASS_IN, ttl, target))
            name = target
            continue
        for address in entry:
            records.append(DnsRecord(name, TYPE_A, CLASS_IN, ttl, addr_from_str(address)))
        break
    if question.qtype != TYPE_A:
        records = []
    reply = DnsRepr(
        ident=msg.ident,
        response=True,
        recursion_desired=msg.recursion_desired,
        recursion_available=True,
        rcode=rcode,
        questions=msg.questions,
        answers=tuple(records),
    )
    return bytes(reply.to_bytes())


@dataclass
class ServerLog:
    """What a test server saw: (source, id, name) per query, and how many it dropped."""

    queries: list[tuple[tuple[str, int], int, str]] = field(default_factory=list)
    drop: int = 0
    """Queries still to be dropped (the first ones), to make the client retry."""
    drop_all: bool = False

    def names(self) -> list[str]:
        return [name for _, _, name in self.queries]


@contextmanager
def dns_server(
    recv: Callable[[], tuple[bytes, tuple[str, int]]],
    send: Callable[[bytes, tuple[str, int]], object],
) -> Iterator[ServerLog]:
    """Serve ZONE in a thread; `recv` raises TimeoutError now and then to check for stop."""
    log = ServerLog()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                data, source = recv()
            except TimeoutError:
                continue
            reply = answer(data)
            if reply is None:
                continue
            msg = DnsRepr.parse(data)
            log.queries.append((source, msg.ident, name_to_str(msg.questions[0].name)))
            if log.drop_all:
                continue
            if log.drop > 0:
                log.drop -= 1
                continue
            send(reply, source)

    thread = threading.Thread(target=loop, name="test-dns-server", daemon=True)
    thread.start()
    try:
        yield log
    finally:
        stop.set()
        thread.join(5.0)


@contextmanager
def usnet_dns_server(stack: Stack, ip: str, port: int = 53) -> Iterator[ServerLog]:
    sock = UdpSocket.bind((ip, port), stack=stack)
    sock.set_read_timeout(0.1)
    try:
        with dns_server(sock.recv_from, sock.send_to) as log:
            yield log
    finally:
        sock.close()


@contextmanager
def kernel_dns_server(sock: socket.socket) -> Iterator[ServerLog]:
    sock.settimeout(0.1)

    def recv() -> tuple[bytes, tuple[str, int]]:
        data, source = sock.recvfrom(65535)
        return data, source

    with dns_server(recv, sock.sendto) as log:
        yield log


class Paths(TypedDict):
    hosts_path: Path
    resolv_conf_path: Path


def files(tmp_path: Path, hosts: str = "", resolv: str = "") -> Paths:
    """A private hosts file and resolv.conf, as Resolver keyword arguments."""
    (tmp_path / "hosts").write_text(hosts)
    (tmp_path / "resolv.conf").write_text(resolv)
    return {"hosts_path": tmp_path / "hosts", "resolv_conf_path": tmp_path / "resolv.conf"}


# -- files ----------------------------------------------------------------------------------

HOSTS = """\
# The usual
127.0.0.1\tlocalhost
::1     localhost ip6-localhost ip6-loopback
10.1.2.3  Build.Example.org build   # the build box
10.1.2.4  build.example.org
10.1.2.3  build
not-an-ip somename
10.1.2.5
fe80::1%eth0 linklocal
10.1.2.6  trailing.dot.
"""


def test_parse_hosts() -> None:
    table = parse_hosts(HOSTS)
    assert table == {
        "localhost": ("127.0.0.1",),
        "build.example.org": ("10.1.2.3", "10.1.2.4"),
        "build": ("10.1.2.3",),
        "trailing.dot": ("10.1.2.6",),
    }


def test_parse_resolv_conf() -> None:
    text = """\
; written by hand
nameserver 10.0.0.1
nameserver 2001:db8::1
nameserver 10.0.0.2 # comment
nameserver 10.0.0.3
nameserver 10.0.0.4
domain first.example
search corp.example. lab.example
options ndots:2 timeout:3 attempts:4 rotate edns0 bogus:1
options timeout:99 attempts:0 ndots:40
"""
    conf = parse_resolv_conf(text)
    assert conf == ResolvConf(
        nameservers=("10.0.0.1", "10.0.0.2", "10.0.0.3"),
        search=("corp.example", "lab.example"),
        ndots=15,
        timeout=30.0,
        attempts=1,
        rotate=True,
    )
    assert parse_resolv_conf("search a.example\ndomain b.example\n").search == ("b.example",)
    assert parse_resolv_conf("") == ResolvConf()
    assert ResolvConf().timeout == 5.0 and ResolvConf().attempts == 2


def test_literals_hosts_and_localhost(tmp_path: Path) -> None:
    resolver = Resolver(**files(tmp_path, HOSTS), environ={})
    # None of these need a stack or a server.
    assert resolver.resolve("10.9.8.7") == ["10.9.8.7"]
    assert resolver.resolve("") == ["0.0.0.0"]
    assert resolver.resolve("<broadcast>") == ["255.255.255.255"]
    assert resolver.resolve("BUILD.example.org.") == ["10.1.2.3", "10.1.2.4"]
    assert resolver.resolve("build") == ["10.1.2.3"]
    assert resolver.resolve("localhost") == ["127.0.0.1"]
    assert resolver.resolve("app.localhost") == ["127.0.0.1"]  # RFC 6761 6.3
    (tmp_path / "hosts").write_text("10.7.7.7 build\n")  # edits take effect
    assert resolver.resolve("build") == ["10.7.7.7"]
    assert resolver.resolve("localhost") == ["127.0.0.1"]  # even without an entry


def test_bad_names(tmp_path: Path) -> None:
    resolver = Resolver(**files(tmp_path), servers=["10.0.0.1"], environ={})
    for name, code in [
        ("a..b", socket.EAI_NONAME),
        ("x" * 64 + ".example", socket.EAI_NONAME),
        (".", socket.EAI_NONAME),
        ("::1", socket.EAI_FAMILY),
        ("fe80::1%eth0", socket.EAI_FAMILY),
    ]:
        with pytest.raises(socket.gaierror) as info:
            resolver.resolve(name)
        assert info.value.errno == code, name
    with pytest.raises(TypeError):
        resolver.resolve(b"example.com")  # type: ignore[arg-type]


def test_usnet_to_socket_addrs_forms() -> None:
    assert usnet_to_socket_addrs(("10.0.0.1", 80)) == [("10.0.0.1", 80)]
    assert usnet_to_socket_addrs("10.0.0.1:8080") == [("10.0.0.1", 8080)]
    assert usnet_to_socket_addrs(":0") == [("0.0.0.0", 0)]
    assert usnet_to_socket_addrs("localhost:1") == [("127.0.0.1", 1)]
    for bad in ("10.0.0.1", "10.0.0.1:", "10.0.0.1:http", "10.0.0.1:65536", "host:-1"):
        with pytest.raises(ValueError):
            usnet_to_socket_addrs(bad)
    with pytest.raises(socket.gaierror) as info:
        usnet_to_socket_addrs("[::1]:80")
    assert info.value.errno == socket.EAI_FAMILY
    with pytest.raises(OverflowError):
        usnet_to_socket_addrs(("10.0.0.1", 70000))
    with pytest.raises(TypeError):
        usnet_to_socket_addrs(("10.0.0.1", "80"))  # type: ignore[arg-type]


def test_host_mode_uses_the_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _not_the_kernel)  # as under patch_socket()
    resolver = Resolver(**files(tmp_path), environ={"USNET_MODE": "host"})
    assert resolver.resolve("localhost") == ["127.0.0.1"]


def test_servers_come_from_usnet_dns_then_resolv_conf(tmp_path: Path) -> None:
    paths = files(tmp_path, resolv="nameserver 10.0.0.7\nnameserver 10.0.0.8\n")
    assert Resolver(**paths, environ={}).servers() == [
        (addr_from_str("10.0.0.7"), 53),
        (addr_from_str("10.0.0.8"), 53),
    ]
    env = {"USNET_DNS": "10.0.0.9, 10.0.0.10"}
    assert Resolver(**paths, environ=env).servers() == [
        (addr_from_str("10.0.0.9"), 53),
        (addr_from_str("10.0.0.10"), 53),
    ]
    (tmp_path / "empty").mkdir()
    assert Resolver(**files(tmp_path / "empty"), environ={}).servers() == [
        (addr_from_str("127.0.0.1"), 53)
    ]
    explicit = Resolver(**paths, servers=[("10.0.0.1", 5353)], environ=env)
    assert explicit.servers() == [(addr_from_str("10.0.0.1"), 5353)]


# -- DNS over two in-memory stacks --------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_dns_over_usnet(mode: Mode, tmp_path: Path) -> None:
    with stack_pair(mode) as (a, b), usnet_dns_server(b, B_IP) as log:
        resolver = Resolver(**files(tmp_path), environ={"USNET_DNS": B_IP})
        assert resolver.resolve("www.usnet.test", stack=a) == ["10.5.0.80", "10.5.0.81"]
        assert resolver.resolve("ALIAS.usnet.test.", stack=a) == ["10.5.0.80", "10.5.0.81"]
        assert log.names() == ["www.usnet.test", "ALIAS.usnet.test"]
        source = log.queries[0][0]
        assert source[0] == A_IP and source[1] != 53
        # Cached (TTL 300): no new query.
        assert resolver.resolve("www.usnet.test", stack=a) == ["10.5.0.80", "10.5.0.81"]
        assert usnet_to_socket_addrs_with(resolver, "www.usnet.test:443", a) == [
            ("10.5.0.80", 443),
            ("10.5.0.81", 443),
        ]
        assert len(log.queries) == 2
        cases = [
            ("nowhere.usnet.test", socket.EAI_NONAME),
            ("mail.usnet.test", EAI_NODATA),
            ("broken.usnet.test", socket.EAI_AGAIN),
        ]
        for name, code in cases:
            with pytest.raises(socket.gaierror) as info:
                resolver.resolve(name, stack=a)
            assert info.value.errno == code, name
            assert name in str(info.value)
        # SERVFAIL: glibc moves on to the next try at once, so both went out quickly.
        assert log.names()[-2:] == ["broken.usnet.test"] * 2


def usnet_to_socket_addrs_with(
    resolver: Resolver, address: str, stack: Stack
) -> list[tuple[str, int]]:
    """usnet_to_socket_addrs through a given resolver (the module one uses the default)."""
    saved = resolve_module._default
    resolve_module._default = resolver
    try:
        return usnet_to_socket_addrs(address, stack=stack)
    finally:
        resolve_module._default = saved


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_a_dropped_query(mode: Mode, tmp_path: Path) -> None:
    with stack_pair(mode) as (a, b), usnet_dns_server(b, B_IP) as log:
        resolver = Resolver(**files(tmp_path), servers=[B_IP], timeout=0.3, attempts=2)
        log.drop = 1
        start = time.monotonic()
        assert resolver.resolve("web.usnet.test", stack=a) == ["10.5.0.80", "10.5.0.81"]
        elapsed = time.monotonic() - start
        assert 0.28 < elapsed < 2.0
        (src1, id1, _), (src2, id2, _) = log.queries
        assert src1 == src2 and id1 != id2  # one socket, a fresh ID per try


@pytest.mark.parametrize("mode", MODES)
def test_timeout_when_nobody_answers(mode: Mode, tmp_path: Path) -> None:
    with stack_pair(mode) as (a, b), usnet_dns_server(b, B_IP) as log:
        log.drop_all = True
        resolver = Resolver(**files(tmp_path), servers=[B_IP], timeout=0.2, attempts=2)
        start = time.monotonic()
        with pytest.raises(socket.gaierror) as info:
            resolver.resolve("web.usnet.test", stack=a)
        elapsed = time.monotonic() - start
        assert info.value.errno == socket.EAI_AGAIN
        assert 0.55 < elapsed < 2.5  # 0.2 s, then 0.4 s: glibc doubles the second round
        assert len(log.queries) == 2
        # An overall timeout cuts the retries short.
        start = time.monotonic()
        with pytest.raises(socket.gaierror) as info:
            resolver.resolve("web.usnet.test", stack=a, timeout=0.1)
        assert info.value.errno == socket.EAI_AGAIN
        assert time.monotonic() - start < 0.5


def test_search_domains_and_ndots(tmp_path: Path) -> None:
    with stack_pair(Mode.MULTI) as (a, b), usnet_dns_server(b, B_IP) as log:
        paths = files(tmp_path, resolv="search other.test usnet.test\noptions ndots:2\n")
        resolver = Resolver(**paths, servers=[B_IP])
        # Fewer dots than ndots: the search list first, then the name as it is.
        assert resolver.resolve("web", stack=a) == ["10.5.0.80", "10.5.0.81"]
        assert log.names() == ["web.other.test", "web.usnet.test"]
        log.queries.clear()
        with pytest.raises(socket.gaierror) as info:
            resolver.resolve("web.usnet", stack=a)
        assert info.value.errno == socket.EAI_NONAME
        assert log.names() == ["web.usnet.other.test", "web.usnet.usnet.test", "web.usnet"]
        log.queries.clear()
        # Enough dots: the name as it is first.
        assert resolver.resolve("short.usnet.test", stack=a) == ["10.5.0.9"]
        assert log.names() == ["short.usnet.test"]
        log.queries.clear()
        # An absolute name is never searched.
        with pytest.raises(socket.gaierror):
            resolver.resolve("nowhere.", stack=a)
        assert log.names() == ["nowhere"]
        log.queries.clear()
        # "No address" for one candidate beats "no such name" for the others.
        with pytest.raises(socket.gaierror) as info:
            resolver.resolve("mail", stack=a)
        assert info.value.errno == EAI_NODATA
        assert log.names() == ["mail.other.test", "mail.usnet.test", "mail"]


def test_cache_expires_and_is_bounded(tmp_path: Path) -> None:
    with stack_pair(Mode.MULTI) as (a, b), usnet_dns_server(b, B_IP) as log:
        resolver = Resolver(**files(tmp_path), servers=[B_IP], cache_size=1)
        assert resolver.resolve("short.usnet.test", stack=a) == ["10.5.0.9"]
        assert resolver.resolve("short.usnet.test", stack=a) == ["10.5.0.9"]
        assert len(log.queries) == 1
        time.sleep(1.1)  # its TTL is 1 s
        resolver.resolve("short.usnet.test", stack=a)
        assert len(log.queries) == 2
        resolver.resolve("web.usnet.test", stack=a)  # evicts short.usnet.test (size 1)
        resolver.resolve("short.usnet.test", stack=a)
        assert len(log.queries) == 4
        resolver.clear_cache()
        resolver.resolve("short.usnet.test", stack=a)
        assert len(log.queries) == 5


def test_concurrent_lookups(tmp_path: Path) -> None:
    with stack_pair(Mode.MULTI) as (a, b), usnet_dns_server(b, B_IP):
        resolver = Resolver(**files(tmp_path), servers=[B_IP], timeout=2.0)
        names = ["www.usnet.test", "alias.usnet.test", "web.usnet.test", "short.usnet.test"]
        results: dict[int, list[str]] = {}

        def work(i: int) -> None:
            results[i] = resolver.resolve(names[i % len(names)], stack=a)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10.0)
        assert len(results) == 16
        for i, addresses in results.items():
            short = names[i % len(names)] == "short.usnet.test"
            assert addresses == (["10.5.0.9"] if short else ["10.5.0.80", "10.5.0.81"])


def test_cname_loop_is_an_error(tmp_path: Path) -> None:
    with stack_pair(Mode.MULTI) as (a, b), usnet_dns_server(b, B_IP):
        resolver = Resolver(**files(tmp_path), servers=[B_IP])
        with pytest.raises(socket.gaierror) as info:
            resolver.resolve("loop1.usnet.test", stack=a)
        assert info.value.errno == socket.EAI_FAIL


def _not_the_kernel(*args: object, **kwargs: object) -> None:
    raise AssertionError("socket.socket / socket.getaddrinfo must not be used")


def test_loopback_nameserver_goes_through_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # systemd-resolved's 127.0.0.53 and friends: the stack cannot reach the kernel's
    # loopback, so those datagrams take a kernel socket (our DNS code, not the kernel's).
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # As under patch_socket(): socket.socket is not the kernel's any more.
    monkeypatch.setattr(socket, "socket", _not_the_kernel)
    monkeypatch.setattr(socket, "getaddrinfo", _not_the_kernel)
    try:
        with kernel_dns_server(sock) as log:
            resolver = Resolver(**files(tmp_path), servers=[("127.0.0.1", port)], environ={})
            assert resolver.resolve("alias.usnet.test") == ["10.5.0.80", "10.5.0.81"]
            log.drop = 1
            resolver2 = Resolver(
                **files(tmp_path), servers=[("127.0.0.1", port)], timeout=0.2, environ={}
            )
            assert resolver2.resolve("web.usnet.test") == ["10.5.0.80", "10.5.0.81"]
            assert len(log.queries) == 3
    finally:
        sock.close()


# -- over TAP against a DNS server on a kernel socket --------------------------------------


@pytest.mark.root
@pytest.mark.parametrize("mode", MODES)
def test_dns_over_tap_to_a_kernel_server(
    kernel_peer: KernelPeer, mode: Mode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = kernel_peer.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((kernel_peer.host_ip, 53))
    config = InterfaceConfig.build(
        mac_str(kernel_peer.usnet_mac), f"{kernel_peer.usnet_ip}/{kernel_peer.prefix_len}"
    )
    stack = Stack(Interface(config, entropy=os.urandom), kernel_peer.device, mode=mode)
    monkeypatch.setenv("USNET_DNS", kernel_peer.host_ip)
    try:
        with kernel_dns_server(server) as log:
            resolver = Resolver(**files(tmp_path), timeout=0.5, attempts=2)
            assert resolver.servers() == [(addr_from_str(kernel_peer.host_ip), 53)]
            # The first query is dropped: the answer comes to the retry.
            log.drop = 1
            start = time.monotonic()
            assert resolver.resolve("alias.usnet.test", stack=stack) == [
                "10.5.0.80",
                "10.5.0.81",
            ]
            assert 0.45 < time.monotonic() - start < 3.0
            (src1, id1, name1), (src2, id2, name2) = log.queries
            assert src1 == src2 and src1[0] == kernel_peer.usnet_ip and src1[1] != 53
            assert id1 != id2 and name1 == name2 == "alias.usnet.test"
            with pytest.raises(socket.gaierror) as info:
                resolver.resolve("nowhere.usnet.test", stack=stack)
            assert info.value.errno == socket.EAI_NONAME
            # Nobody answers: two tries (0.5 s, then 1 s), then EAI_AGAIN.
            log.drop_all = True
            before = len(log.queries)
            start = time.monotonic()
            with pytest.raises(socket.gaierror) as info:
                resolver.resolve("web.usnet.test", stack=stack)
            assert info.value.errno == socket.EAI_AGAIN
            assert 1.4 < time.monotonic() - start < 4.0
            assert len(log.queries) - before == 2
            log.drop_all = False
            # The module-level API with USNET_DNS from the environment.
            assert usnet_to_socket_addrs("www.usnet.test:80", stack=stack, timeout=10) == [
                ("10.5.0.80", 80),
                ("10.5.0.81", 80),
            ]
    finally:
        stack.close()
