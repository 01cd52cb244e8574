"""Network namespaces and veth pairs for tests, the demo and benchmarks, all via pyroute2.

Names we create look like ``usnet-<pid>-<hex>``: the pid lets `cleanup_stale` tell a
namespace of a live run (possibly a parallel test process) from one a crashed run left.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import errno
import functools
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

from pyroute2 import IPRoute
from pyroute2 import netns as _pr_netns

__all__ = [
    "NETNS_RUN_DIR",
    "NetnsScope",
    "VethPair",
    "cleanup_stale",
    "create_netns",
    "enter_netns",
    "ipr",
    "remove_netns",
    "run_in_netns",
    "set_sysctl",
    "veth_pair",
]

NETNS_RUN_DIR = "/run/netns"
"""Where named namespaces are bind-mounted (iproute2's convention)."""

_CLONE_NEWNET = 0x40000000
_P = ParamSpec("_P")
_T = TypeVar("_T")
_libc: ctypes.CDLL | None = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns(CLONE_NEWNET) failed: {os.strerror(err)}")


def _ns_path(name: str) -> str:
    return name if "/" in name else f"{NETNS_RUN_DIR}/{name}"


def off_event_loop(fn: Callable[_P, _T]) -> Callable[_P, _T]:
    """Run `fn` in a worker thread when this thread runs an asyncio event loop.

    pyroute2's synchronous IPRoute drives its own coroutines with run_until_complete on the
    calling thread's loop, which fails inside a running loop (a usnet socket created from a
    coroutine, asyncio under patch_socket). The worker starts in the caller's namespace.
    """

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return fn(*args, **kwargs)
        with concurrent.futures.ThreadPoolExecutor(1, "usnet-netlink") as pool:
            return pool.submit(fn, *args, **kwargs).result()

    return wrapper


@contextlib.contextmanager
def ipr(netns: str | None = None) -> Iterator[Any]:
    """An `IPRoute` bound to `netns` (None: the calling thread's namespace); never creates one."""
    if netns is None:
        ctx = IPRoute()
    else:
        if not os.path.exists(_ns_path(netns)):
            raise FileNotFoundError(errno.ENOENT, "no such network namespace", netns)
        # flags=0: pyroute2 would otherwise silently create a missing namespace.
        ctx = IPRoute(netns=netns, flags=0)
    with ctx as handle:
        yield handle


@off_event_loop
def create_netns(prefix: str = "usnet-", *, lo_up: bool = True) -> str:
    """Create a uniquely named network namespace and return its name (loopback up)."""
    name = f"{prefix}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        _pr_netns.create(name)
    except PermissionError as e:
        raise PermissionError(
            e.errno, "creating a network namespace needs root (CAP_SYS_ADMIN)", name
        ) from e
    try:
        if lo_up:
            with ipr(name) as ns:
                ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
    except BaseException:
        remove_netns(name)
        raise
    return name


@off_event_loop
def remove_netns(name: str) -> None:
    """Remove a named namespace; a missing one is not an error."""
    with contextlib.suppress(FileNotFoundError):
        _pr_netns.remove(name)


@contextlib.contextmanager
def enter_netns(name: str) -> Iterator[None]:
    """Switch only the calling thread into namespace `name`; restore the old one on exit.

    Sockets (and IPRoute handles) created inside stay in that namespace for their lifetime;
    threads started inside begin in it too (a new thread copies its creator's namespaces).
    """
    # /proc/self would name the main thread's namespace; we need this thread's.
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(_ns_path(name), os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def run_in_netns(name: str, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run `fn(*args, **kwargs)` on a helper thread inside namespace `name`; return its result."""
    box: list[_T] = []
    err: list[BaseException] = []

    def runner() -> None:
        try:
            with enter_netns(name):
                box.append(fn(*args, **kwargs))
        except BaseException as e:  # re-raised in the caller's thread
            err.append(e)

    thread = threading.Thread(target=runner, name=f"usnet-netns-{name}", daemon=True)
    thread.start()
    thread.join()
    if err:
        raise err[0]
    return box[0]


def set_sysctl(netns: str | None, key: str, value: str | int) -> None:
    """Write sysctl `key` (dotted, e.g. ``net.ipv4.tcp_tw_reuse``) inside namespace `netns`."""
    path = "/proc/sys/" + key.replace(".", "/")

    def write() -> None:
        with open(path, "w") as f:
            f.write(f"{value}\n")

    if netns is None:
        write()
    else:
        # /proc/sys/net shows the namespace of the thread that opens it.
        run_in_netns(netns, write)


@dataclass(frozen=True, slots=True)
class VethPair:
    """The two ends of a veth pair and the namespace each ended up in (None: ours)."""

    name_a: str
    name_b: str
    netns_a: str | None
    netns_b: str | None


def _configure(
    netns: str | None, ifname: str, ip: str | None, prefix_len: int, mtu: int | None
) -> None:
    with ipr(netns) as handle:
        index = handle.link_lookup(ifname=ifname)[0]
        if mtu is not None:
            handle.link("set", index=index, mtu=mtu)
        if ip is not None:
            handle.addr("add", index=index, address=ip, prefixlen=prefix_len)
        handle.link("set", index=index, state="up")


@off_event_loop
def veth_pair(
    netns_a: str | None,
    netns_b: str | None,
    *,
    ip_a: str | None = None,
    ip_b: str | None = None,
    prefix_len: int = 24,
    mtu: int = 1500,
    name_a: str | None = None,
    name_b: str | None = None,
) -> VethPair:
    """Create a veth pair with one end in each namespace, addressed and up.

    Created in the caller's namespace and then moved; deleting either end (or the namespace
    holding it) deletes both.
    """
    token = secrets.token_hex(4)
    name_a = name_a or f"uva{token}"
    name_b = name_b or f"uvb{token}"
    with ipr() as here:
        here.link("add", ifname=name_a, kind="veth", peer=name_b)
        try:
            for name, ns in ((name_a, netns_a), (name_b, netns_b)):
                if ns is not None:
                    index = here.link_lookup(ifname=name)[0]
                    here.link("set", index=index, net_ns_fd=ns)
        except BaseException:
            with contextlib.suppress(Exception):
                here.link("del", index=here.link_lookup(ifname=name_a)[0])
            raise
    _configure(netns_a, name_a, ip_a, prefix_len, mtu)
    _configure(netns_b, name_b, ip_b, prefix_len, mtu)
    return VethPair(name_a, name_b, netns_a, netns_b)


def _delete_link(netns: str | None, ifname: str) -> None:
    try:
        with ipr(netns) as handle:
            found = handle.link_lookup(ifname=ifname)
            if found:
                handle.link("del", index=found[0])
    except FileNotFoundError:
        pass  # its namespace is gone, and the link with it


class NetnsScope:
    """Creates namespaces and links, and removes all of them on exit, even on KeyboardInterrupt.

    Cleanups run in reverse order; each one runs even if an earlier one failed, and the
    first failure is re-raised after all have run (unless the block itself raised).
    """

    def __init__(self, prefix: str = "usnet-") -> None:
        self.prefix = prefix
        self._cleanups: list[Callable[[], object]] = []
        self.namespaces: list[str] = []

    def netns(self, *, lo_up: bool = True) -> str:
        """Create a namespace owned by this scope."""
        name = create_netns(self.prefix, lo_up=lo_up)
        self.namespaces.append(name)
        self._cleanups.append(lambda: remove_netns(name))
        return name

    def veth_pair(self, netns_a: str | None, netns_b: str | None, **kwargs: Any) -> VethPair:
        """Create a veth pair (see `veth_pair`) owned by this scope."""
        pair = veth_pair(netns_a, netns_b, **kwargs)
        self._cleanups.append(lambda: _delete_link(pair.netns_a, pair.name_a))
        return pair

    def callback(self, fn: Callable[[], object]) -> None:
        """Run `fn()` at exit (before the cleanups registered earlier)."""
        self._cleanups.append(fn)

    def close(self) -> None:
        """Run every cleanup now; the scope can be reused afterwards."""
        first: BaseException | None = None
        while self._cleanups:
            fn = self._cleanups.pop()
            try:
                fn()
            except BaseException as e:  # keep cleaning; report the first failure
                first = first or e
        self.namespaces.clear()
        if first is not None:
            raise first

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            with contextlib.suppress(BaseException):
                self.close()


def _boot_time() -> float:
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def _process_start(pid: int) -> float | None:
    """Wall-clock start time of `pid`, or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Field 22 (starttime, in clock ticks since boot) counts from after the ")" of comm.
    ticks = int(stat.rsplit(")", 1)[1].split()[19])
    return _boot_time() + ticks / os.sysconf("SC_CLK_TCK")


@off_event_loop
def cleanup_stale(prefix: str = "usnet-") -> list[str]:
    """Remove namespaces named `prefix...` that no live process of ours owns; return their names.

    A name ``<prefix><pid>-<hex>`` is stale when that pid is gone or was started after the
    namespace was made (pid reuse). Other names with the prefix are stale when older than
    the current process.
    """
    removed: list[str] = []
    me = _process_start(os.getpid()) or 0.0
    for name in sorted(_pr_netns.listnetns()):
        if not name.startswith(prefix):
            continue
        try:
            made = os.stat(_ns_path(name)).st_mtime
        except FileNotFoundError:
            continue
        pid_text = name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit():
            started = _process_start(int(pid_text))
            # The ns inode's time is set when first referenced, just after the owner started.
            stale = started is None or started > made + 1.0
        else:
            stale = made < me
        if stale:
            remove_netns(name)
            removed.append(name)
    return removed
