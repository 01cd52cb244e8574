"""The ``usnet`` console script: config, cleanup and run, in-process and as a subprocess."""
# ruff: noqa: E501  (configuration examples are kept verbatim, one JSON value per line)

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from usnet_sync import cli

TAP_CREATE = '{"TapConfig":{"Create":{"mac":"Random","ipv4":{"Static":{"ipv4":"10.99.0.2","sub":24,"gateway":"10.99.0.1"}},"host_ip":"10.99.0.1"}}}'
BAD_SUB = TAP_CREATE.replace('"sub":24', '"sub":"x"')
ODD_README = '{"MacVtapConfig":{"Interface:":{"interface":"mymacvtap", "ipv4":{"Static":{"ipv4":"192.168.1.200","sub":24,"gateway":"192.168.1.1"}}}}'
KNOBS = (
    "USNET_SOCKETS",
    "REDUCE_MTU_BY",
    "SOCKET_BACKLOG",
    "SOCKET_BUFFER",
    "BG_THREAD_PIN_CPU_ID",
    "USNET_DNS",
    "USNET_SOCKETS_WAIT",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KNOBS:
        monkeypatch.delenv(name, raising=False)


def _usnet(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The console entry in a fresh interpreter."""
    base = {k: v for k, v in os.environ.items() if k not in KNOBS}
    return subprocess.run(
        [sys.executable, "-c", "from usnet_sync.cli import main; raise SystemExit(main())", *args],
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- usnet config ------------------------------------------------------------------------


def test_config_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", TAP_CREATE]) == 0
    out = capsys.readouterr().out
    assert "USNET_SOCKETS is valid" in out
    assert "create a TAP" in out
    assert "SOCKET_BACKLOG=32" in out


def test_config_from_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "USNET_SOCKETS",
        '{"MacVtapConfig":{"Create":{"mac":"Passthru","parent":"DiscoverFromRoute","ipv4":"Passthru"}}}',
    )
    monkeypatch.setenv("SOCKET_BUFFER", "65536")
    assert cli.main(["config"]) == 0
    out = capsys.readouterr().out
    assert "passthru mode on the interface of the default route" in out
    assert "SOCKET_BUFFER=65536" in out


def test_config_unset(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "usnet config: error: USNET_SOCKETS is unset: set it or pass the JSON as an argument\n"
    )


def test_config_bad_value_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", BAD_SUB]) == 1
    err = capsys.readouterr().err
    assert err == (
        "usnet config: error: USNET_SOCKETS: TapConfig.Create.ipv4.Static.sub: "
        'expected an integer 0..32, got "x"\n'
    )


def test_config_bad_knob(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOCKET_BACKLOG", "many")
    assert cli.main(["config", '"RawConfig"']) == 1
    assert capsys.readouterr().err.startswith("usnet config: error: SOCKET_BACKLOG: ")


def test_config_notes_strict_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", ODD_README]) == 0
    captured = capsys.readouterr()
    assert "existing macvtap mymacvtap" in captured.out
    assert 'note: USNET_SOCKETS: MacVtapConfig: read variant "Interface:"' in captured.err
    assert cli.main(["config", "--strict", ODD_README]) == 1
    assert "'}' missing at the end" in capsys.readouterr().err
    assert cli.main(["config", "--json", ODD_README]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed["MacVtapConfig"]) == ["Interface"]


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["config", BAD_SUB], {}),
        (["config", "{"], {}),
        (["config"], {"USNET_SOCKETS": "[1,2]"}),
        (["config"], {"USNET_SOCKETS": '"RawConfig"', "USNET_DNS": "x"}),
        (["config"], {}),
    ],
)
def test_subprocess_errors_have_no_traceback(args: list[str], env: dict[str, str]) -> None:
    result = _usnet(*args, env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("usnet config: error: ")


def test_help() -> None:
    result = _usnet("--help")
    assert result.returncode == 0
    for command in ("config", "cleanup", "run"):
        assert command in result.stdout
    result = _usnet("config", "--help")
    assert result.returncode == 0
    assert "USNET_SOCKETS" in result.stdout
    assert "examples:" in result.stdout
    result = _usnet()
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


# --- usnet run -----------------------------------------------------------------------------


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A stand-in usnet_sync.patch_socket that counts its calls; USNET_SOCKETS set."""
    import usnet_sync

    calls: list[int] = []
    monkeypatch.setattr(usnet_sync, "patch_socket", lambda: calls.append(1), raising=False)
    monkeypatch.setenv("USNET_SOCKETS", TAP_CREATE)
    return calls


def test_run_script(patched: list[int], tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    out = tmp_path / "out.json"
    script.write_text(
        "import json, sys\n"
        f"json.dump({{'argv': sys.argv, 'name': __name__, 'path0': sys.path[0]}}, open({str(out)!r}, 'w'))\n"
        "raise SystemExit(7)\n"
    )
    argv_before = sys.argv[:]
    path_before = sys.path[:]
    assert cli.main(["run", str(script), "--help", "-m", "x"]) == 7
    assert patched == [1]
    seen = json.loads(out.read_text())
    assert seen == {
        "argv": [str(script), "--help", "-m", "x"],
        "name": "__main__",
        "path0": str(tmp_path),
    }
    assert (sys.argv, sys.path) == (argv_before, path_before)


def test_run_module(patched: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "usnet_cli_probe.py").write_text(
        "import sys\nprint('probe', sys.argv[1:], __name__)\n"
    )
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "-m", "usnet_cli_probe", "a", "--b"]) == 0
    sys.modules.pop("usnet_cli_probe", None)
    assert patched == [1]


def test_run_exit_message(patched: list[int], tmp_path: Path) -> None:
    script = tmp_path / "bye.py"
    script.write_text("import sys\nsys.exit('bye')\n")
    assert cli.main(["run", str(script)]) == 1


def test_run_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import usnet_sync

    script = tmp_path / "p.py"
    script.write_text("pass\n")
    assert cli.main(["run", str(script)]) == 1
    assert "USNET_SOCKETS is unset" in capsys.readouterr().err
    monkeypatch.setenv("USNET_SOCKETS", BAD_SUB)
    assert cli.main(["run", str(script)]) == 1
    assert "TapConfig.Create.ipv4.Static.sub" in capsys.readouterr().err
    monkeypatch.setenv("USNET_SOCKETS", TAP_CREATE)
    assert cli.main(["run"]) == 2
    assert "expected SCRIPT or -m MODULE" in capsys.readouterr().err
    assert cli.main(["run", str(tmp_path / "missing.py")]) == 2
    assert "cannot open file" in capsys.readouterr().err
    monkeypatch.delattr(usnet_sync, "patch_socket", raising=False)
    assert cli.main(["run", str(script)]) == 2
    assert "patch_socket is not available yet" in capsys.readouterr().err


# --- usnet cleanup -------------------------------------------------------------------------


def test_cleanup_needs_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cli.main(["cleanup"]) == 1
    assert capsys.readouterr().err == (
        "usnet cleanup: error: needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN): run it with sudo\n"
    )


_TUNSETIFF = 0x400454CA
_TUNSETPERSIST = 0x400454CB


@contextlib.contextmanager
def _scratch_netns() -> Iterator[str]:
    from usnet_backends.netns import NetnsScope

    with NetnsScope() as scope:
        yield scope.netns()


def _names() -> set[str]:
    from usnet_backends.netns import ipr

    with ipr() as handle:
        return {str(m.get_attr("IFLA_IFNAME")) for m in handle.get_links()}


def _open_tap(name: bytes, *, persist: bool) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH22x", name, 0x0002 | 0x1000))  # TAP, NO_PI
    if persist:
        fcntl.ioctl(fd, _TUNSETPERSIST, 1)
    return fd


@pytest.mark.root
def test_cleanup_removes_stale_taps_only(capsys: pytest.CaptureFixture[str]) -> None:
    from usnet_backends.netns import enter_netns, ipr, run_in_netns

    def make_links() -> int:
        # A persistent TAP nobody holds (what a crash with a persistent TAP leaves) ...
        os.close(_open_tap(b"usnetstale0", persist=True))
        # ... one somebody holds, and a foreign persistent one: both must stay.
        os.close(_open_tap(b"tapforeign0", persist=True))
        with ipr() as handle:
            handle.link("add", ifname="usnetveth0", kind="veth", peer="usnetveth1")
        return _open_tap(b"usnetlive0", persist=False)

    with _scratch_netns() as ns:
        live = run_in_netns(ns, make_links)
        try:
            with enter_netns(ns):
                assert {"usnetstale0", "usnetlive0", "tapforeign0"} <= _names()
                assert cli.main(["cleanup"]) == 0
                left = _names()
                assert cli.main(["cleanup"]) == 0  # nothing left to do
        finally:
            os.close(live)
    out = capsys.readouterr().out
    assert "removed TAP interface usnetstale0\n" in out
    assert out.endswith("nothing to clean up\n")
    assert "usnetlive0" not in out
    assert {"usnetlive0", "tapforeign0", "usnetveth0"} <= left
    assert "usnetstale0" not in left


_MACVTAP_SCRIPT = """
import os, stat, sys, tempfile
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from usnet_sync.cli import main

with IPRoute() as ipr:
    ipr.link("add", ifname="par0", kind="veth", peer="par1")
    parent = ipr.link_lookup(ifname="par0")[0]
    try:
        # usnet_sockets names a passthru macvtap <parent>pass (README: ip link delete eth0pass)
        ipr.link("add", ifname="par0pass", kind="macvtap", link=parent)
    except NetlinkError as e:
        print("SKIP", e)
        sys.exit(0)
    index = ipr.link_lookup(ifname="par0pass")[0]
with open(f"/sys/class/net/par0pass/macvtap/tap{index}/dev") as f:
    major, minor = map(int, f.read().split(":"))
node = os.path.join(tempfile.mkdtemp(), "tap")
os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(major, minor))
fd = os.open(node, os.O_RDWR)
print("held", main(["cleanup"]))
os.close(fd)
print("released", main(["cleanup"]))
"""


@pytest.mark.root
def test_cleanup_removes_stale_macvtap_only() -> None:
    # `ip netns exec` mounts a sysfs of the namespace: cleanup reads macvtap's char device there.
    with _scratch_netns() as ns:
        result = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", _MACVTAP_SCRIPT],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    if result.stdout.startswith("SKIP"):
        pytest.skip(f"this kernel cannot create a macvtap: {result.stdout}")
    assert result.stdout == (
        "nothing to clean up\nheld 0\nremoved macvtap interface par0pass\nreleased 0\n"
    )


def test_backends_not_available_yet_are_explained_and_refused_by_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["config", '"RawConfig"']) == 0  # a valid seed shape: explained
    assert "not available in this version yet" in capsys.readouterr().out
    script = tmp_path / "s.py"
    script.write_text("raise SystemExit(7)\n")
    monkeypatch.setenv("USNET_SOCKETS", '"RawConfig"')
    assert cli.main(["run", str(script)]) == 1  # refused before the script runs
    err = capsys.readouterr().err
    assert "RawConfig backend is not available" in err and "Traceback" not in err
