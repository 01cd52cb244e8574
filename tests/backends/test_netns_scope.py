"""netns helpers: per-thread entry, leak-proof scopes, veth pairs, stale cleanup."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest
from backend_frames import open_fds
from pyroute2 import netns as pr_netns
from usnet_backends.netns import (
    NetnsScope,
    cleanup_stale,
    create_netns,
    enter_netns,
    ipr,
    remove_netns,
    run_in_netns,
    set_sysctl,
)

pytestmark = pytest.mark.root


def current_ns() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def ns_inode(name: str) -> int:
    return os.stat(f"/run/netns/{name}").st_ino


def test_create_and_remove() -> None:
    name = create_netns()
    try:
        assert name in pr_netns.listnetns()
        assert name.startswith(f"usnet-{os.getpid()}-")
        with ipr(name) as handle:  # loopback is up
            lo = handle.get_links(handle.link_lookup(ifname="lo")[0])[0]
            assert lo.get("state") == "up"
    finally:
        remove_netns(name)
    assert name not in pr_netns.listnetns()
    remove_netns(name)  # a missing one is fine


def test_ipr_never_creates_a_namespace() -> None:
    with pytest.raises(FileNotFoundError), ipr("usnet-does-not-exist"):
        pass
    assert "usnet-does-not-exist" not in pr_netns.listnetns()


def test_enter_switches_only_the_calling_thread_and_restores() -> None:
    outer = current_ns()
    seen_by_other: list[int] = []
    seen_by_child: list[int] = []
    go, done = threading.Event(), threading.Event()

    def other() -> None:
        go.wait()
        seen_by_other.append(current_ns())
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with NetnsScope() as scope:
        name = scope.netns()
        with enter_netns(name):
            assert current_ns() == ns_inode(name)
            go.set()
            done.wait()
            # A thread started from inside inherits the creating thread's namespace.
            child = threading.Thread(target=lambda: seen_by_child.append(current_ns()))
            child.start()
            child.join()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t.join()
        assert current_ns() == outer
        assert seen_by_other == [outer]
        assert seen_by_child == [ns_inode(name)]
        # The socket stays in the namespace: 127.0.0.1 there is not ours.
        with sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            probe = run_in_netns(name, socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
            with probe:
                probe.sendto(b"x", ("127.0.0.1", port))
                sock.settimeout(2)
                assert sock.recv(10) == b"x"


def test_enter_restores_on_exception() -> None:
    outer = current_ns()
    with NetnsScope() as scope:
        name = scope.netns()
        with pytest.raises(RuntimeError), enter_netns(name):
            raise RuntimeError
        assert current_ns() == outer


def test_run_in_netns_returns_and_raises() -> None:
    with NetnsScope() as scope:
        name = scope.netns()
        assert run_in_netns(name, current_ns) == ns_inode(name)
        with pytest.raises(ZeroDivisionError):
            run_in_netns(name, lambda: 1 // 0)


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_scope_cleans_up_on_exception(exc: type[BaseException]) -> None:
    made: list[str] = []
    with pytest.raises(exc), NetnsScope() as scope:
        made += [scope.netns(), scope.netns()]
        scope.veth_pair(made[0], made[1])
        raise exc
    assert made and not set(made) & set(pr_netns.listnetns())


def test_scope_runs_every_cleanup_and_reports_the_first_failure() -> None:
    ran: list[str] = []
    scope = NetnsScope()

    def boom() -> None:
        raise OSError("first")

    scope.callback(lambda: ran.append("a"))
    scope.callback(boom)
    scope.callback(lambda: ran.append("c"))
    with pytest.raises(OSError, match="first"):
        scope.close()
    assert ran == ["c", "a"]


def test_veth_pair_between_namespaces_carries_udp() -> None:
    with NetnsScope() as scope:
        a, b = scope.netns(), scope.netns()
        pair = scope.veth_pair(a, b, ip_a="10.97.0.1", ip_b="10.97.0.2", mtu=9000)
        with ipr(b) as handle:
            link = handle.get_links(handle.link_lookup(ifname=pair.name_b)[0])[0]
            assert link.get("mtu") == 9000
        rx = run_in_netns(b, socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
        tx = run_in_netns(a, socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
        with rx, tx:
            rx.bind(("10.97.0.2", 7000))
            rx.settimeout(3)
            tx.sendto(b"over veth", ("10.97.0.2", 7000))
            assert rx.recvfrom(100) == (b"over veth", ("10.97.0.1", tx.getsockname()[1]))


def test_set_sysctl_is_per_namespace() -> None:
    path = "/proc/sys/net/ipv4/tcp_tw_reuse"
    with open(path) as f:
        outer = f.read()
    with NetnsScope() as scope:
        name = scope.netns()
        set_sysctl(name, "net.ipv4.tcp_tw_reuse", 1 if outer.strip() != "1" else 0)

        def read() -> str:
            with open(path) as f:
                return f.read()

        assert run_in_netns(name, read) != outer
    with open(path) as f:
        assert f.read() == outer


def test_cleanup_stale_removes_only_dead_owners() -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(dead.stdout)
    prefix = f"usnt{os.getpid()}-"  # private to this run: parallel runs clean up their own
    stale = f"{prefix}{dead_pid}-0bad"
    pr_netns.create(stale)
    live = create_netns(prefix)
    try:
        removed = cleanup_stale(prefix)
        assert stale in removed and live not in removed
        assert live in pr_netns.listnetns() and stale not in pr_netns.listnetns()
    finally:
        remove_netns(live)
        remove_netns(stale)


def test_no_fds_leak() -> None:
    with NetnsScope() as scope:  # warm up
        run_in_netns(scope.netns(), current_ns)
    before = open_fds()
    for _ in range(3):
        with NetnsScope() as scope:
            a, b = scope.netns(), scope.netns()
            scope.veth_pair(a, b, ip_a="10.97.0.1", ip_b="10.97.0.2")
            with enter_netns(a):
                pass
            run_in_netns(b, current_ns)
    assert open_fds() == before
