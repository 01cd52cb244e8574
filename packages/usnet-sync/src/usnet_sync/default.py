"""Building Stacks from configuration, and the process-wide default Stack.

`open_stack(config)` turns a `USNET_SOCKETS` configuration (usnet_backends.config) plus
the environment knobs into a running Stack; `default_stack()` does that once per process
from the environment and closes it at exit (deleting any interface it created).

USNET_MODE chooses how the stack is driven: "multi" (default: a background thread),
"single" (no thread: blocking calls drive the stack) or "host" (kernel sockets; no stack).
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import threading
from collections.abc import Mapping

from usnet_backends.config import (
    ConfigError,
    EnvSettings,
    MacRandom,
    MacStatic,
    MemoryConfig,
    StackConfig,
    TapConfig,
    TapCreate,
    config_from_env,
    describe,
    parse_config,
)
from usnet_backends.device import Device
from usnet_backends.memory import MemoryEnd, memory_pair
from usnet_backends.tap import TapDevice
from usnet_core.iface import Interface, InterfaceConfig
from usnet_core.tcp import TcpConfig

from usnet_sync.stack import Mode, Stack

_lock = threading.Lock()
_default: Stack | None = None
_links: dict[str, list[MemoryEnd]] = {}


def mode_from_env(environ: Mapping[str, str] | None = None) -> Mode:
    """USNET_MODE as a Mode (multi, single or host); a bad value raises ConfigError."""
    env = os.environ if environ is None else environ
    value = env.get("USNET_MODE", "").strip().lower() or "multi"
    try:
        return Mode(value)
    except ValueError:
        raise ConfigError(
            "USNET_MODE", "", f'expected "multi", "single" or "host", got "{value}"'
        ) from None


def _random_mac() -> bytes:
    raw = bytearray(os.urandom(6))
    raw[0] = (raw[0] & 0xFC) | 0x02  # unicast, locally administered
    return bytes(raw)


def _mac(mac: object) -> bytes:
    if isinstance(mac, MacStatic):
        return mac.mac
    if isinstance(mac, MacRandom):
        return _random_mac()
    raise ConfigError("USNET_SOCKETS", "mac", "Passthru needs a backend with a parent interface")


def _memory_end(link: str, mtu: int) -> MemoryEnd:
    with _lock:
        ends = _links.get(link)
        if not ends:
            a, b = memory_pair(mtu=mtu)
            _links[link] = [b]
            return a
        end = ends.pop()
        del _links[link]
        return end


SUPPORTED_BACKENDS = (TapConfig, MemoryConfig)
"""The configurations open_stack can run in this version (the others parse and explain)."""


def unsupported_reason(config: StackConfig) -> str | None:
    """Why open_stack cannot run `config` in this version, or None when it can."""
    if isinstance(config, SUPPORTED_BACKENDS):
        return None
    kind = type(config).__name__
    return (
        f"the {kind} backend is not available in this version yet (TapConfig and MemoryConfig are)"
    )


def open_stack(
    config: StackConfig | str,
    settings: EnvSettings | None = None,
    *,
    mode: Mode = Mode.MULTI,
) -> Stack:
    """A running Stack for `config` (a parsed StackConfig or its JSON text; TapConfig and
    MemoryConfig so far)."""
    if isinstance(config, str):
        config = parse_config(config)
    settings = settings if settings is not None else EnvSettings.from_env()
    device: Device
    if isinstance(config, TapConfig):
        dev = config.device
        mtu = (dev.mtu if isinstance(dev, TapCreate) else None) or 1500
        if isinstance(dev, TapCreate):
            device = TapDevice.create(
                name=dev.name,
                mtu=mtu,
                host_ip=str(dev.host_ip),
                prefix_len=dev.ipv4.sub,
            )
        else:
            device = TapDevice.attach(dev.interface)
            mtu = device.mtu
        mac, ipv4 = _mac(dev.mac), dev.ipv4
    elif isinstance(config, MemoryConfig):
        mtu = config.mtu or 1500
        device = _memory_end(config.link, mtu)
        mac, ipv4 = _mac(config.mac), config.ipv4
    else:
        reason = unsupported_reason(config) or "unsupported"
        raise ConfigError("USNET_SOCKETS", type(config).__name__, reason)
    try:
        mtu -= settings.reduce_mtu_by
        iface_config = InterfaceConfig(
            mac=mac,
            ipv4=int(ipv4.ipv4),
            prefix_len=ipv4.sub,
            gateway=_gateway(ipv4.gateway),
            mtu=mtu,
        )
        tcp = TcpConfig(
            mss=mtu - 40,
            rx_buffer=settings.socket_buffer,
            backlog=settings.socket_backlog,
        )
        iface = Interface(iface_config, entropy=os.urandom, tcp_config=tcp)
        pin = settings.bg_thread_pin_cpu_id
        return Stack(iface, device, mode=mode, pin_cpu=pin)
    except BaseException:
        device.close()
        raise


def _gateway(gateway: ipaddress.IPv4Address | None) -> int | None:
    return int(gateway) if gateway is not None else None


def default_stack() -> Stack:
    """The process-wide Stack from USNET_SOCKETS (created on first use, closed at exit)."""
    global _default
    with _lock:
        if _default is not None and not _default.closed:
            return _default
    config = config_from_env()
    if config is None:
        raise ConfigError(
            "USNET_SOCKETS",
            "",
            "is not set: export a configuration (see `usnet config --help`) or pass stack=",
        )
    mode = mode_from_env()
    if mode is Mode.HOST:
        raise ConfigError("USNET_MODE", "", "host mode uses kernel sockets and has no stack")
    stack = open_stack(config, mode=mode)
    with _lock:
        if _default is not None and not _default.closed:
            stack.close()
            return _default
        _default = stack
    atexit.register(stack.close)
    return stack


def set_default_stack(stack: Stack | None) -> Stack | None:
    """Make `stack` the process-wide default (None forgets it); returns the previous one.

    For embedding and tests: code that calls default_stack() (the socket facade,
    patch_socket) then runs on this stack. The caller keeps ownership and closes it.
    """
    global _default
    with _lock:
        previous, _default = _default, stack
    return previous


def describe_default() -> str:
    """What the environment's configuration means (for logs and the demo)."""
    config = config_from_env()
    return "USNET_SOCKETS is not set" if config is None else describe(config)
