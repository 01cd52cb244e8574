"""The ``usnet`` command: check a configuration, clean up after a crash, run unported programs.

    usnet config [JSON]          what USNET_SOCKETS (or JSON) means, plus the env knobs
    usnet cleanup                remove namespaces and interfaces a crashed run left
    usnet run SCRIPT [ARGS...]   run a Python program with patch_socket() applied
    usnet run -m MODULE [ARGS...]

User errors print one line to stderr (no traceback): exit 1 for a bad or missing
configuration or a failed cleanup, 2 for usage errors (as argparse and python do).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import runpy
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from usnet_backends.config import (
    ENV_VAR,
    ConfigError,
    EnvSettings,
    StackConfig,
    check_config,
    describe,
    to_json,
)
from usnet_backends.netns import cleanup_stale, ipr

__all__ = ["main"]

PROG = "usnet"
LINK_PREFIX = "usnet"
"""Interfaces whose name starts with this are ours (TapDevice.create names them usnet%d)."""


_CONFIG_EXAMPLES = r"""examples:
  usnet config
  usnet config '"RawConfig"'
  usnet config '{"MacVtapConfig":{"Create":{"mac":"Passthru","parent":"DiscoverFromRoute",
                "ipv4":"Passthru"}}}'
  usnet config '{"TapConfig":{"Create":{"mac":"Random","ipv4":{"Static":{"ipv4":"10.99.0.2",
                "sub":24,"gateway":"10.99.0.1"}},"host_ip":"10.99.0.1"}}}'
"""


def _error(command: str, message: str) -> None:
    print(f"{PROG} {command}: error: {message}", file=sys.stderr)


# --- usnet config -----------------------------------------------------------------------


def _cmd_config(args: argparse.Namespace) -> int:
    if args.json is not None:
        text, source = args.json, ENV_VAR  # the value is meant for USNET_SOCKETS
    elif ENV_VAR in os.environ:
        text, source = os.environ[ENV_VAR], ENV_VAR
    else:
        _error("config", f"{ENV_VAR} is unset: set it or pass the JSON as an argument")
        return 1
    try:
        config, notes = check_config(text, source=source, strict=args.strict)
        env = EnvSettings.from_env(os.environ)
    except ConfigError as e:
        _error("config", str(e))
        return 1
    for note in notes:
        print(f"{PROG} config: note: {source}: {note}", file=sys.stderr)
    if args.print_json:
        print(to_json(config))
        return 0
    print(f"{source} is valid. It means:")
    for line in describe(config).splitlines():
        print(f"  {line}")
    reason = _unsupported(config)
    if reason is not None:
        print(f"Note: {reason}.")
    print("Environment:")
    for line in env.describe().splitlines():
        print(f"  {line}")
    return 0


def _unsupported(config: StackConfig) -> str | None:
    from usnet_sync.default import unsupported_reason  # noqa: PLC0415 (keeps startup light)

    return unsupported_reason(config)


# --- usnet cleanup ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Link:
    index: int
    name: str
    kind: str
    parent: str | None


def _links() -> list[_Link]:
    with ipr() as handle:
        raw = list(handle.get_links())
        names = {int(m["index"]): str(m.get_attr("IFLA_IFNAME")) for m in raw}
        out = []
        for m in raw:
            info = m.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
            parent = m.get_attr("IFLA_LINK")
            out.append(
                _Link(
                    int(m["index"]),
                    str(m.get_attr("IFLA_IFNAME")),
                    str(kind or ""),
                    names.get(int(parent)) if parent else None,
                )
            )
        return out


def _open_fds() -> Iterator[tuple[str, str]]:
    """(fd path, fdinfo path) of every open fd of every process we can see."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                yield f"/proc/{pid}/fd/{fd}", f"/proc/{pid}/fdinfo/{fd}"


def _tap_in_use(name: str) -> bool:
    """Whether some process holds a tun fd bound to `name` (fdinfo shows ``iff: name``)."""
    for _, info in _open_fds():
        with contextlib.suppress(OSError), open(info) as f:
            for line in f:
                if line.startswith("iff:") and line.split(None, 1)[1:] == [name + "\n"]:
                    return True
    return False


def _macvtap_in_use(link: _Link) -> bool:
    """Whether some process holds the macvtap's character device (by major:minor)."""
    try:
        with open(f"/sys/class/net/{link.name}/macvtap/tap{link.index}/dev") as f:
            major, minor = (int(x) for x in f.read().split(":"))
    except (OSError, ValueError):
        return True  # cannot tell: leave it alone
    want = os.makedev(major, minor)
    for path, _ in _open_fds():
        with contextlib.suppress(OSError):
            if os.stat(path).st_rdev == want:
                return True
    return False


def _is_ours(link: _Link) -> bool:
    if link.name.startswith(LINK_PREFIX):
        return True
    # usnet_sockets' names: <parent>pass (passthru) and the MAC without colons (bridge).
    if link.kind == "macvtap":
        if link.parent is not None and link.name == f"{link.parent}pass":
            return True
        return len(link.name) == 12 and all(c in "0123456789abcdefABCDEF" for c in link.name)
    return False


def stale_links() -> list[_Link]:
    """TAP and macvtap interfaces of ours in this namespace that no process holds open."""
    stale = []
    for link in _links():
        if link.kind == "tun" and link.name.startswith(LINK_PREFIX):
            if not _tap_in_use(link.name):
                stale.append(link)
        elif link.kind == "macvtap" and _is_ours(link) and not _macvtap_in_use(link):
            stale.append(link)
    return stale


def _cmd_cleanup(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        _error("cleanup", "needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN): run it with sudo")
        return 1
    removed: list[str] = []
    try:
        for name in cleanup_stale():
            removed.append(f"network namespace {name}")
        for link in stale_links():
            with ipr() as handle:
                handle.link("del", index=link.index)
            what = "TAP" if link.kind == "tun" else "macvtap"
            removed.append(f"{what} interface {link.name}")
    except PermissionError as e:
        _error("cleanup", f"not permitted: {e.strerror or e}")
        return 1
    except OSError as e:
        _error("cleanup", f"{e}")
        return 1
    for item in removed:
        print(f"removed {item}")
    if not removed:
        print("nothing to clean up")
    return 0


# --- usnet run --------------------------------------------------------------------------


def _load_patch_socket() -> Callable[[], object] | None:
    try:
        package = importlib.import_module("usnet_sync")
    except ImportError:
        return None
    patch = getattr(package, "patch_socket", None)
    return patch if callable(patch) else None


def _cmd_run(args: argparse.Namespace) -> int:
    if args.module is None and not args.argv:
        _error("run", "expected SCRIPT or -m MODULE")
        return 2
    text = os.environ.get(ENV_VAR)
    if text is None:
        _error("run", f"{ENV_VAR} is unset: usnet run needs a configuration (see usnet config)")
        return 1
    try:
        config, notes = check_config(text)
        EnvSettings.from_env(os.environ)
    except ConfigError as e:
        _error("run", str(e))
        return 1
    reason = _unsupported(config)
    if reason is not None:
        _error("run", f"{ENV_VAR}: {reason}")
        return 1
    for note in notes:
        print(f"{PROG} run: note: {ENV_VAR}: {note}", file=sys.stderr)
    if args.module is None and not os.path.isfile(args.argv[0]):
        _error("run", f"cannot open file {args.argv[0]!r}: no such file")
        return 2
    patch = _load_patch_socket()
    if patch is None:
        _error("run", "usnet_sync.patch_socket is not available yet in this version")
        return 2
    patch()
    old_argv, old_path = sys.argv[:], sys.path[:]
    try:
        if args.module is not None:
            sys.argv = [args.module, *args.argv]
            sys.path.insert(0, os.getcwd())
            runpy.run_module(args.module, run_name="__main__", alter_sys=True)
        else:
            script = args.argv[0]
            sys.argv = list(args.argv)
            sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
            runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        return _exit_code(e.code)
    finally:
        sys.argv, sys.path[:] = old_argv, old_path
    return 0


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # as the interpreter does for sys.exit("message")
    return 1


# --- argument parsing -----------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="usnet: a memory-safe userspace TCP/IP stack in pure Python.",
        epilog=f"The stack reads its configuration from {ENV_VAR} (JSON, the schema of "
        "usnet_sockets). Try: usnet config '\"RawConfig\"'",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    config = sub.add_parser(
        "config",
        help=f"check {ENV_VAR} (or JSON) and say what it means",
        description=f"Parse and validate a configuration: the JSON argument, else {ENV_VAR}.\n"
        "Print what it means and the environment knobs (REDUCE_MTU_BY, SOCKET_BACKLOG,\n"
        "SOCKET_BUFFER, BG_THREAD_PIN_CPU_ID, USNET_DNS, USNET_SOCKETS_WAIT).\n"
        "On a bad value print one error naming the field and exit 1.",
        epilog=_CONFIG_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    config.add_argument("json", nargs="?", metavar="JSON", help=f"a value for {ENV_VAR}")
    config.add_argument(
        "--strict",
        action="store_true",
        help="no repairs: reject a stray colon after a name and unclosed brackets at the end",
    )
    config.add_argument(
        "--json",
        dest="print_json",
        action="store_true",
        help="print the canonical JSON of the configuration instead of a description",
    )
    config.set_defaults(func=_cmd_config)

    cleanup = sub.add_parser(
        "cleanup",
        help="remove namespaces and interfaces a crashed run left (root)",
        description="Remove network namespaces named usnet-* whose process is gone, and "
        f"TAP/macvtap interfaces of ours ({LINK_PREFIX}*, and usnet_sockets' <parent>pass "
        "or MAC-named macvtaps) in this namespace that no process holds open. Needs root.",
    )
    cleanup.set_defaults(func=_cmd_cleanup)

    run = sub.add_parser(
        "run",
        help="run a Python program with usnet_sync.patch_socket() applied",
        description="Run SCRIPT (like python SCRIPT ARGS) or -m MODULE with the socket module "
        f"patched to use usnet. {ENV_VAR} must be set.",
        usage=f"{PROG} run [-h] (SCRIPT | -m MODULE) [ARGS ...]",
    )
    run.add_argument("-m", dest="module", metavar="MODULE", help="run a module as a script")
    run.add_argument("argv", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    run.set_defaults(func=_cmd_run)
    return parser


def _split_run(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split ``run ... SCRIPT|-m MODULE`` from the program's own arguments.

    Everything after the script or module belongs to the program, even ``--help``; argparse
    alone would still read options there.
    """
    if not argv or argv[0] != "run":
        return argv, []
    for i, arg in enumerate(argv[1:], 1):
        if arg in {"-m", "--"}:
            return argv[: i + 2], argv[i + 2 :]
        if arg.startswith("-m") or not arg.startswith("-"):
            return argv[: i + 1], argv[i + 1 :]
    return argv, []


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``usnet`` command with `argv` (default: sys.argv[1:]); return the exit status."""
    head, tail = _split_run(list(sys.argv[1:] if argv is None else argv))
    args = _parser().parse_args(head)
    if args.command == "run":
        rest = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        args.argv = [*rest, *tail]
    func: Callable[[argparse.Namespace], int] = args.func
    if args.command == "run":
        return func(args)  # the program's own output: its errors are its own
    try:
        status = func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (usnet config | head): no traceback; silence the final flush.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
