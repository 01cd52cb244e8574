"""The `USNET_SOCKETS` configuration and the environment knobs, parsed and validated.

`USNET_SOCKETS` holds JSON in exactly the shape usnet_sockets (Rust) reads with serde: enums
are *externally tagged*, so a unit variant is a bare string (``"Passthru"``), a newtype
variant a one-key object (``{"Static": "aa:bb:cc:dd:ee:00"}``) and a struct variant a
one-key object holding an object (``{"Create": {...}}``). The Rust enums map to frozen
dataclasses here, named ``<Backend><Variant>`` (`MacVtapCreate` is ``MacVtapDevice::Create``).

Differences from serde, all on purpose:

- Stricter: unknown keys, duplicate keys, NaN/Infinity and integral floats are errors, and
  values are validated now (MAC syntax, IPv4 syntax, prefix length, gateway inside the
  subnet) instead of panicking when the stack starts.
- Two repairs so that every example of the usnet_sockets README parses (each produces a
  note, see `check_config`; ``strict=True`` turns both off): a tag or key with one stray
  trailing colon (the README writes ``"Interface:"``) is read as the name without it, and
  JSON that ends early with only closing brackets missing gets them appended (the README's
  existing-macvtap example lacks its last ``}``).
- Extensions of usnet-python: ``"ipv6"`` beside ``"ipv4"`` (``"Passthru"`` | ``"Slaac"`` |
  ``{"Static": {"ipv6", "prefix", "gateway"}}``), ``"name"``/``"mtu"``/``"host_ip6"`` in
  ``TapConfig.Create``, and ``{"MemoryConfig": {...}}``, an in-process link that needs no
  root (tests and demos).
"""

from __future__ import annotations

import difflib
import enum
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any, NoReturn, TypeAlias

__all__ = [
    "ENV_VAR",
    "ConfigError",
    "DiscoverFromRoute",
    "EnvSettings",
    "InterfaceName",
    "Ipc",
    "Ipv4",
    "Ipv4Dhcp",
    "Ipv4Passthru",
    "Ipv4Static",
    "Ipv6",
    "Ipv6Passthru",
    "Ipv6Slaac",
    "Ipv6Static",
    "Mac",
    "MacPassthru",
    "MacRandom",
    "MacStatic",
    "MacVtapConfig",
    "MacVtapCreate",
    "MacVtapInterface",
    "MemoryConfig",
    "NetmapConfig",
    "NetmapInterface",
    "NetmapPort",
    "RawConfig",
    "StackConfig",
    "SystemInterface",
    "TapConfig",
    "TapCreate",
    "TapInterface",
    "UsnetConfig",
    "UsnetInterface",
    "check_config",
    "config_from_env",
    "describe",
    "parse_config",
    "to_json",
]

_log = logging.getLogger("usnet.config")

ENV_VAR = "USNET_SOCKETS"
"""The environment variable that holds the JSON configuration."""


class ConfigError(ValueError):
    """A bad configuration value; the message names the variable and the field path."""

    def __init__(self, source: str, path: str, problem: str) -> None:
        """`source` is the variable (``USNET_SOCKETS``), `path` the dotted field path."""
        self.source = source
        self.path = path
        self.problem = problem
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {problem}")


# --- the configuration types ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MacPassthru:
    """``"Passthru"``: use the parent interface's MAC (the NIC is taken over)."""


@dataclass(frozen=True, slots=True)
class MacRandom:
    """``"Random"``: a random locally administered unicast MAC, new at every start."""


@dataclass(frozen=True, slots=True)
class MacStatic:
    """``{"Static": "aa:bb:cc:dd:ee:00"}``: this MAC (6 bytes)."""

    mac: bytes

    def __str__(self) -> str:
        return ":".join(f"{b:02x}" for b in self.mac)


Mac: TypeAlias = MacPassthru | MacRandom | MacStatic


@dataclass(frozen=True, slots=True)
class Ipv4Passthru:
    """``"Passthru"``: copy the parent interface's IPv4 address, prefix and gateway."""


@dataclass(frozen=True, slots=True)
class Ipv4Dhcp:
    """``"Dhcp"``: obtain IPv4 by DHCP (in the Rust schema; neither stack implements it yet)."""


@dataclass(frozen=True, slots=True)
class Ipv4Static:
    """``{"Static": {"ipv4": ..., "sub": ..., "gateway": ...}}`` (field names as in Rust)."""

    ipv4: IPv4Address
    sub: int
    gateway: IPv4Address

    @property
    def interface(self) -> IPv4Interface:
        """The address with its prefix, e.g. ``192.168.1.200/24``."""
        return IPv4Interface((self.ipv4, self.sub))


Ipv4: TypeAlias = Ipv4Passthru | Ipv4Dhcp | Ipv4Static


@dataclass(frozen=True, slots=True)
class Ipv6Passthru:
    """``"Passthru"``: copy the parent interface's global IPv6 address and default router."""


@dataclass(frozen=True, slots=True)
class Ipv6Slaac:
    """``"Slaac"``: stateless address autoconfiguration from router advertisements."""


@dataclass(frozen=True, slots=True)
class Ipv6Static:
    """``{"Static": {"ipv6": ..., "prefix": ..., "gateway": ...}}``."""

    ipv6: IPv6Address
    prefix: int
    gateway: IPv6Address

    @property
    def interface(self) -> IPv6Interface:
        """The address with its prefix, e.g. ``fd00:99::2/64``."""
        return IPv6Interface((self.ipv6, self.prefix))


Ipv6: TypeAlias = Ipv6Passthru | Ipv6Slaac | Ipv6Static


@dataclass(frozen=True, slots=True)
class DiscoverFromRoute:
    """``"DiscoverFromRoute"``: the interface that holds the IPv4 default route."""


@dataclass(frozen=True, slots=True)
class InterfaceName:
    """``{"Interface": "eth0"}``: this kernel interface."""

    name: str


SystemInterface: TypeAlias = DiscoverFromRoute | InterfaceName


class Ipc(enum.StrEnum):
    """How a usnetd client exchanges frames with usnetd (values are the JSON spellings)."""

    NETMAP_PIPE = "NetmapPipe"
    UNIX_DOMAIN_SOCKET = "UnixDomainSocket"


@dataclass(frozen=True, slots=True)
class NetmapPort:
    """``{"Interface": {"netmap_name": "netmap:eth0", "parent": "eth0"}}``.

    `netmap_name` is the netmap port (``netmap:eth0``, ``vale0:0``, ``netmap:eth0{4094``);
    `parent` is the kernel interface whose MAC/IPv4 ``"Passthru"`` copies.
    """

    netmap_name: str
    parent: str


@dataclass(frozen=True, slots=True)
class MacVtapCreate:
    """``MacVtapConfig.Create``: create a macvtap on `parent`, removed on exit.

    Passthru MAC means macvtap passthru mode (the NIC is ours alone); any other MAC means
    bridge mode (the NIC is shared at layer 2).
    """

    mac: Mac
    parent: SystemInterface
    ipv4: Ipv4
    ipv6: Ipv6 | None = None


@dataclass(frozen=True, slots=True)
class MacVtapInterface:
    """``MacVtapConfig.Interface``: an existing macvtap, used with its own MAC, left in place."""

    interface: str
    ipv4: Ipv4
    ipv6: Ipv6 | None = None


@dataclass(frozen=True, slots=True)
class MacVtapConfig:
    """``{"MacVtapConfig": ...}``: a macvtap device (dedicated NIC or layer-2 bridge)."""

    device: MacVtapCreate | MacVtapInterface


@dataclass(frozen=True, slots=True)
class NetmapInterface:
    """``NetmapConfig.Interface``: a netmap port (NIC, VALE port or static usnetd pipe)."""

    interface: NetmapPort | DiscoverFromRoute
    mac: Mac
    ipv4: Ipv4
    ipv6: Ipv6 | None = None


@dataclass(frozen=True, slots=True)
class NetmapConfig:
    """``{"NetmapConfig": ...}``: direct netmap access."""

    device: NetmapInterface


@dataclass(frozen=True, slots=True)
class UsnetInterface:
    """``UsnetConfig.Interface``: a usnetd client sharing `interface` with the kernel."""

    interface: SystemInterface
    ipc: Ipc
    mac: Mac
    ipv4: Ipv4
    ipv6: Ipv6 | None = None


@dataclass(frozen=True, slots=True)
class UsnetConfig:
    """``{"UsnetConfig": ...}``: through the usnetd switch (the recommended usage)."""

    device: UsnetInterface


@dataclass(frozen=True, slots=True)
class TapCreate:
    """``TapConfig.Create``: a new TAP whose kernel side gets `host_ip`; removed on exit.

    `name` (None: the backend picks one) and `mtu` (None: 1500), `ipv6` and `host_ip6` are
    usnet-python extensions.
    """

    mac: MacRandom | MacStatic
    ipv4: Ipv4Static
    host_ip: IPv4Address
    name: str | None = None
    mtu: int | None = None
    ipv6: Ipv6Static | Ipv6Slaac | None = None
    host_ip6: IPv6Address | None = None


@dataclass(frozen=True, slots=True)
class TapInterface:
    """``TapConfig.Interface``: an existing (persistent) TAP, left in place on exit."""

    interface: str
    mac: MacRandom | MacStatic
    ipv4: Ipv4Static
    ipv6: Ipv6Static | Ipv6Slaac | None = None


@dataclass(frozen=True, slots=True)
class TapConfig:
    """``{"TapConfig": ...}``: a TAP device; the kernel of this namespace is the peer."""

    device: TapCreate | TapInterface


@dataclass(frozen=True, slots=True)
class RawConfig:
    """``"RawConfig"``: AF_PACKET on the default route's interface, kernel's MAC and IPv4."""


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    """``{"MemoryConfig": {"link": ..., "mac": ..., "ipv4": {"Static": ...}}}`` (usnet-python).

    An in-process Ethernet segment, no root needed: the first two stacks of one process that
    name the same `link` are its two ends.
    """

    mac: MacRandom | MacStatic
    ipv4: Ipv4Static
    link: str = "default"
    mtu: int | None = None
    ipv6: Ipv6Static | None = None


StackConfig: TypeAlias = (
    MacVtapConfig | NetmapConfig | UsnetConfig | TapConfig | RawConfig | MemoryConfig
)


# --- parsing --------------------------------------------------------------------------

_MAC_RE = re.compile(r"[0-9A-Fa-f]{1,2}(?::[0-9A-Fa-f]{1,2}){5}")
_NAME_BAD_RE = re.compile(r"[/:\s]")
_INT_RE = re.compile(r"[+-]?[0-9]+")
_MTU_RANGE = (68, 65535)


def _show(value: object) -> str:
    """A value as JSON, shortened for an error message."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _choices(items: Iterable[str]) -> str:
    """``a, b or c`` (items as given)."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _quoted(names: Iterable[str]) -> list[str]:
    return [f'"{n}"' for n in names]


class _Object(dict[str, Any]):
    """A JSON object that remembers keys it saw twice (json keeps only the last)."""

    duplicates: tuple[str, ...] = ()


def _object_hook(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dups: list[str] = []
        for key, _ in pairs:
            if key in seen:
                dups.append(key)
            seen.add(key)
        obj.duplicates = tuple(dups)
    return obj


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _missing_closers(text: str) -> str | None:
    """The brackets that would close `text`, if it ends outside a string; else None."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and (not stack or stack.pop() != ch):
            return None
    if in_string or not stack:
        return None
    return "".join(reversed(stack))


class _Parser:
    """One parse: the source name, the strictness, and the notes about repairs made."""

    def __init__(self, source: str, strict: bool) -> None:
        self.source = source
        self.strict = strict
        self.notes: list[str] = []

    def fail(self, path: str, problem: str) -> NoReturn:
        raise ConfigError(self.source, path, problem)

    # JSON text

    def load(self, text: str) -> Any:
        if not text.strip():
            self.fail("", "empty value, expected a JSON configuration")
        try:
            return self._loads(text)
        except json.JSONDecodeError as e:
            end = len(text.rstrip())
            closers = _missing_closers(text) if e.pos >= end else None
            if closers is not None and not self.strict:
                try:
                    value = self._loads(text.rstrip() + closers)
                except ValueError:
                    pass
                else:
                    self.notes.append(
                        f"the JSON ends early: read it as if it ended with {closers!r}"
                    )
                    return value
            lo = max(0, e.pos - 20)
            near = text[lo : e.pos + 10].replace("\n", " ")
            missing = f", {closers!r} missing at the end" if closers else ""
            self.fail(
                "",
                f"invalid JSON at line {e.lineno} column {e.colno} (char {e.pos}): {e.msg}"
                f"{missing} (near {near!r})",
            )
        except ValueError as e:  # NaN/Infinity
            self.fail("", f"invalid JSON: {e}")

    @staticmethod
    def _loads(text: str) -> Any:
        return json.loads(text, object_pairs_hook=_object_hook, parse_constant=_reject_constant)

    # serde shapes

    def _known(self, name: str, known: Iterable[str], path: str, what: str) -> str | None:
        """`name` if known, or the repaired name (stray trailing colon), else None."""
        known = list(known)
        if name in known:
            return name
        if not self.strict and name.endswith(":") and name[:-1] in known:
            where = f"{path}: " if path else ""
            self.notes.append(f'{where}read {what} "{name}" as "{name[:-1]}"')
            return name[:-1]
        return None

    def _unknown(self, path: str, what: str, name: str, known: list[str], hint: str) -> NoReturn:
        close = difflib.get_close_matches(name, known, n=1)
        maybe = f'; did you mean "{close[0]}"?' if close else ""
        self.fail(path, f'unknown {what} "{name}", expected {hint}{maybe}')

    def variant(
        self,
        value: Any,
        path: str,
        units: Iterable[str] = (),
        data: Iterable[str] = (),
        hint: str | None = None,
    ) -> tuple[str, str, Any]:
        """Read an externally tagged enum: (tag, path of the payload, payload or None)."""
        units, data = list(units), list(data)
        known = units + data
        hint = hint or _choices(_quoted(units) + [f'{{"{d}": ...}}' for d in data])
        if isinstance(value, str):
            tag = self._known(value, known, path, "variant")
            if tag is None:
                self._unknown(path, "variant", value, known, hint)
            if tag in data:
                self.fail(path, f'"{tag}" needs a value: write {{"{tag}": ...}}')
            return tag, _join(path, tag), None
        if isinstance(value, dict):
            self.no_duplicates(value, path)
            if len(value) != 1:
                keys = ", ".join(f'"{k}"' for k in value) or "none"
                self.fail(path, f"expected exactly one variant key ({hint}), got {keys}")
            ((raw, payload),) = value.items()
            tag = self._known(raw, known, path, "variant")
            if tag is None:
                self._unknown(path, "variant", raw, known, hint)
            if tag in units:
                if payload is not None:  # serde accepts {"Unit": null}
                    self.fail(path, f'"{tag}" takes no value: write "{tag}"')
                return tag, _join(path, tag), None
            return tag, _join(path, tag), payload
        self.fail(path, f"expected {hint}, got {_kind(value)} {_show(value)}")

    def no_duplicates(self, obj: Mapping[str, Any], path: str) -> None:
        dups = getattr(obj, "duplicates", ())
        if dups:
            self.fail(_join(path, dups[0]), "duplicate key")

    def struct(
        self, value: Any, path: str, required: Iterable[str], optional: Iterable[str] = ()
    ) -> dict[str, Any]:
        """Read a struct: an object with exactly these keys (optional ones may be missing)."""
        required, optional = list(required), list(optional)
        known = required + optional
        if not isinstance(value, dict):
            keys = ", ".join(_quoted(required))
            self.fail(path, f"expected an object with {keys}, got {_kind(value)} {_show(value)}")
        self.no_duplicates(value, path)
        out: dict[str, Any] = {}
        for raw, item in value.items():
            key = self._known(raw, known, path, "key")
            if key is None:
                self._unknown(path, "key", raw, known, _choices(_quoted(known)))
            if key in out:
                self.fail(_join(path, key), "duplicate key")
            out[key] = item
        for key in required:
            if key not in out:
                self.fail(path, f'missing key "{key}"')
        return out

    # scalars

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            self.fail(path, f"expected a string, got {_kind(value)} {_show(value)}")
        return value

    def integer(self, value: Any, path: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.fail(path, f"expected an integer {lo}..{hi}, got {_show(value)}")
        return value

    def ifname(self, value: Any, path: str) -> str:
        name = self.string(value, path)
        if not name or len(name.encode()) > 15 or name in {".", ".."} or _NAME_BAD_RE.search(name):
            self.fail(
                path,
                "expected an interface name (1..15 bytes, no '/', ':' or spaces), "
                f"got {_show(name)}",
            )
        return name

    def mac_address(self, value: Any, path: str) -> bytes:
        text = self.string(value, path)
        if not _MAC_RE.fullmatch(text):
            self.fail(path, f'expected a MAC address like "aa:bb:cc:dd:ee:00", got {_show(text)}')
        mac = bytes(int(part, 16) for part in text.split(":"))
        if mac[0] & 1:
            self.fail(path, f"{_show(text)} is a multicast address, a station needs unicast")
        if mac == bytes(6):
            self.fail(path, f"{_show(text)} is the all-zero address")
        return mac

    def ipv4_address(self, value: Any, path: str) -> IPv4Address:
        text = self.string(value, path)
        try:
            return IPv4Address(text)
        except ValueError:
            self.fail(path, f'expected an IPv4 address like "192.168.1.200", got {_show(text)}')

    def ipv6_address(self, value: Any, path: str) -> IPv6Address:
        text = self.string(value, path)
        try:
            return IPv6Address(text)
        except ValueError:
            self.fail(path, f'expected an IPv6 address like "fd00:99::2", got {_show(text)}')

    # the enums shared by the backends

    def mac(self, value: Any, path: str, passthru: bool = True) -> Mac:
        units = ["Passthru", "Random"] if passthru else ["Random"]
        hint = _choices([*_quoted(units), '{"Static": "aa:bb:cc:dd:ee:00"}'])
        if not passthru and (value == "Passthru" or _tag(value) == "Passthru"):
            self.fail(path, f'"Passthru" is not possible here (no parent to copy); expected {hint}')
        tag, sub, payload = self.variant(value, path, units, ["Static"], hint)
        if tag == "Passthru":
            return MacPassthru()
        if tag == "Random":
            return MacRandom()
        return MacStatic(self.mac_address(payload, sub))

    def ipv4(self, value: Any, path: str, static_only: bool = False) -> Ipv4:
        static = '{"Static": {"ipv4": ..., "sub": ..., "gateway": ...}}'
        units = [] if static_only else ["Passthru", "Dhcp"]
        hint = _choices([*_quoted(units), static])
        tag0 = value if isinstance(value, str) else _tag(value)
        if static_only and tag0 in {"Passthru", "Dhcp"}:
            self.fail(path, f'"{tag0}" is not possible here; expected {static}')
        tag, sub, payload = self.variant(value, path, units, ["Static"], hint)
        if tag == "Passthru":
            return Ipv4Passthru()
        if tag == "Dhcp":
            return Ipv4Dhcp()
        obj = self.struct(payload, sub, ["ipv4", "sub", "gateway"])
        addr = self.ipv4_address(obj["ipv4"], _join(sub, "ipv4"))
        prefix = self.integer(obj["sub"], _join(sub, "sub"), 0, 32)
        gateway = self.ipv4_address(obj["gateway"], _join(sub, "gateway"))
        self.check_host(addr, _join(sub, "ipv4"))
        net = IPv4Interface((addr, prefix)).network
        if gateway == addr:
            self.fail(_join(sub, "gateway"), f"{gateway} is the stack's own address")
        if gateway not in net:
            self.fail(_join(sub, "gateway"), f"{gateway} is not inside {addr}/{prefix}")
        return Ipv4Static(addr, prefix, gateway)

    def check_host(self, addr: IPv4Address | IPv6Address, path: str) -> None:
        if addr.is_unspecified or addr.is_multicast or addr.is_loopback:
            self.fail(path, f"{addr} cannot be a host address")
        if isinstance(addr, IPv4Address) and addr == IPv4Address("255.255.255.255"):
            self.fail(path, f"{addr} cannot be a host address")

    def ipv6(self, value: Any, path: str, units: Iterable[str] = ("Passthru", "Slaac")) -> Ipv6:
        units = list(units)
        static = '{"Static": {"ipv6": ..., "prefix": ..., "gateway": ...}}'
        hint = _choices([*_quoted(units), static])
        tag0 = value if isinstance(value, str) else _tag(value)
        if tag0 in {"Passthru", "Slaac"} and tag0 not in units:
            self.fail(path, f'"{tag0}" is not possible here; expected {hint}')
        tag, sub, payload = self.variant(value, path, units, ["Static"], hint)
        if tag == "Passthru":
            return Ipv6Passthru()
        if tag == "Slaac":
            return Ipv6Slaac()
        obj = self.struct(payload, sub, ["ipv6", "prefix", "gateway"])
        addr = self.ipv6_address(obj["ipv6"], _join(sub, "ipv6"))
        prefix = self.integer(obj["prefix"], _join(sub, "prefix"), 0, 128)
        gateway = self.ipv6_address(obj["gateway"], _join(sub, "gateway"))
        self.check_host(addr, _join(sub, "ipv6"))
        if gateway == addr:
            self.fail(_join(sub, "gateway"), f"{gateway} is the stack's own address")
        net = IPv6Interface((addr, prefix)).network
        if gateway not in net and not gateway.is_link_local:
            self.fail(_join(sub, "gateway"), f"{gateway} is neither inside {net} nor link-local")
        return Ipv6Static(addr, prefix, gateway)

    def system_interface(self, value: Any, path: str) -> SystemInterface:
        hint = '"DiscoverFromRoute" or {"Interface": "eth0"}'
        tag, sub, payload = self.variant(value, path, ["DiscoverFromRoute"], ["Interface"], hint)
        if tag == "DiscoverFromRoute":
            return DiscoverFromRoute()
        return InterfaceName(self.ifname(payload, sub))

    def opt_ipv6(
        self, obj: Mapping[str, Any], path: str, units: Iterable[str] = ("Passthru", "Slaac")
    ) -> Any:
        return None if "ipv6" not in obj else self.ipv6(obj["ipv6"], _join(path, "ipv6"), units)

    # the backends

    def config(self, value: Any) -> StackConfig:
        backends: dict[str, Callable[[Any, str], StackConfig]] = {
            "MacVtapConfig": self.macvtap,
            "NetmapConfig": self.netmap,
            "UsnetConfig": self.usnet,
            "TapConfig": self.tap,
            "MemoryConfig": self.memory,
        }
        hint = _choices(['"RawConfig"', *(f'{{"{b}": ...}}' for b in backends)])
        tag, path, payload = self.variant(value, "", ["RawConfig"], list(backends), hint)
        if tag == "RawConfig":
            return RawConfig()
        return backends[tag](payload, path)

    def macvtap(self, value: Any, path: str) -> MacVtapConfig:
        tag, sub, payload = self.variant(value, path, (), ["Create", "Interface"])
        if tag == "Create":
            obj = self.struct(payload, sub, ["mac", "parent", "ipv4"], ["ipv6"])
            return MacVtapConfig(
                MacVtapCreate(
                    mac=self.mac(obj["mac"], _join(sub, "mac")),
                    parent=self.system_interface(obj["parent"], _join(sub, "parent")),
                    ipv4=self.ipv4(obj["ipv4"], _join(sub, "ipv4")),
                    ipv6=self.opt_ipv6(obj, sub),
                )
            )
        obj = self.struct(payload, sub, ["interface", "ipv4"], ["ipv6"])
        return MacVtapConfig(
            MacVtapInterface(
                interface=self.ifname(obj["interface"], _join(sub, "interface")),
                ipv4=self.ipv4(obj["ipv4"], _join(sub, "ipv4")),
                ipv6=self.opt_ipv6(obj, sub),
            )
        )

    def netmap(self, value: Any, path: str) -> NetmapConfig:
        _, sub, payload = self.variant(value, path, (), ["Interface"])
        obj = self.struct(payload, sub, ["interface", "mac", "ipv4"], ["ipv6"])
        ipath = _join(sub, "interface")
        hint = '"DiscoverFromRoute" or {"Interface": {"netmap_name": ..., "parent": ...}}'
        tag, ppath, port = self.variant(
            obj["interface"], ipath, ["DiscoverFromRoute"], ["Interface"], hint
        )
        interface: NetmapPort | DiscoverFromRoute
        if tag == "DiscoverFromRoute":
            interface = DiscoverFromRoute()
        else:
            pobj = self.struct(port, ppath, ["netmap_name", "parent"])
            name = self.string(pobj["netmap_name"], _join(ppath, "netmap_name"))
            if not re.fullmatch(r"(netmap:|vale[^:{}]*:)[^\s]+", name):
                self.fail(
                    _join(ppath, "netmap_name"),
                    f'expected a netmap port like "netmap:eth0" or "vale0:0", got {_show(name)}',
                )
            interface = NetmapPort(name, self.ifname(pobj["parent"], _join(ppath, "parent")))
        return NetmapConfig(
            NetmapInterface(
                interface=interface,
                mac=self.mac(obj["mac"], _join(sub, "mac")),
                ipv4=self.ipv4(obj["ipv4"], _join(sub, "ipv4")),
                ipv6=self.opt_ipv6(obj, sub),
            )
        )

    def usnet(self, value: Any, path: str) -> UsnetConfig:
        _, sub, payload = self.variant(value, path, (), ["Interface"])
        obj = self.struct(payload, sub, ["interface", "ipc", "mac", "ipv4"], ["ipv6"])
        ipc_path = _join(sub, "ipc")
        tag, _, _ = self.variant(obj["ipc"], ipc_path, [i.value for i in Ipc])
        return UsnetConfig(
            UsnetInterface(
                interface=self.system_interface(obj["interface"], _join(sub, "interface")),
                ipc=Ipc(tag),
                mac=self.mac(obj["mac"], _join(sub, "mac")),
                ipv4=self.ipv4(obj["ipv4"], _join(sub, "ipv4")),
                ipv6=self.opt_ipv6(obj, sub),
            )
        )

    def tap(self, value: Any, path: str) -> TapConfig:
        tag, sub, payload = self.variant(value, path, (), ["Create", "Interface"])
        if tag == "Create":
            obj = self.struct(
                payload, sub, ["mac", "ipv4", "host_ip"], ["name", "mtu", "ipv6", "host_ip6"]
            )
            ipv4 = self.ipv4(obj["ipv4"], _join(sub, "ipv4"), static_only=True)
            assert isinstance(ipv4, Ipv4Static)
            host_ip = self.ipv4_address(obj["host_ip"], _join(sub, "host_ip"))
            self.check_peer(ipv4.interface, host_ip, _join(sub, "host_ip"))
            ipv6 = self.opt_ipv6(obj, sub, ["Slaac"])
            host_ip6 = None
            if "host_ip6" in obj:
                host_ip6 = self.ipv6_address(obj["host_ip6"], _join(sub, "host_ip6"))
                if not isinstance(ipv6, Ipv6Static):
                    self.fail(_join(sub, "host_ip6"), 'needs "ipv6": {"Static": ...} beside it')
                self.check_peer(ipv6.interface, host_ip6, _join(sub, "host_ip6"))
            name = None if "name" not in obj else self.ifname(obj["name"], _join(sub, "name"))
            mtu = (
                None
                if "mtu" not in obj
                else self.integer(obj["mtu"], _join(sub, "mtu"), *_MTU_RANGE)
            )
            mac = self.mac(obj["mac"], _join(sub, "mac"), passthru=False)
            assert not isinstance(mac, MacPassthru)
            return TapConfig(TapCreate(mac, ipv4, host_ip, name, mtu, ipv6, host_ip6))
        obj = self.struct(payload, sub, ["interface", "mac", "ipv4"], ["ipv6"])
        mac = self.mac(obj["mac"], _join(sub, "mac"), passthru=False)
        assert not isinstance(mac, MacPassthru)
        ipv4 = self.ipv4(obj["ipv4"], _join(sub, "ipv4"), static_only=True)
        assert isinstance(ipv4, Ipv4Static)
        return TapConfig(
            TapInterface(
                interface=self.ifname(obj["interface"], _join(sub, "interface")),
                mac=mac,
                ipv4=ipv4,
                ipv6=self.opt_ipv6(obj, sub, ["Slaac"]),
            )
        )

    def check_peer(
        self, own: IPv4Interface | IPv6Interface, peer: IPv4Address | IPv6Address, path: str
    ) -> None:
        self.check_host(peer, path)
        if peer == own.ip:
            self.fail(path, f"{peer} is the stack's own address; the kernel's side needs another")
        if peer not in own.network:
            self.fail(path, f"{peer} is not inside {own.network}, the stack's subnet")

    def memory(self, value: Any, path: str) -> MemoryConfig:
        obj = self.struct(value, path, ["mac", "ipv4"], ["link", "mtu", "ipv6"])
        mac = self.mac(obj["mac"], _join(path, "mac"), passthru=False)
        assert not isinstance(mac, MacPassthru)
        ipv4 = self.ipv4(obj["ipv4"], _join(path, "ipv4"), static_only=True)
        assert isinstance(ipv4, Ipv4Static)
        link = "default"
        if "link" in obj:
            link = self.string(obj["link"], _join(path, "link"))
            if not link:
                self.fail(_join(path, "link"), "expected a non-empty link name")
        mtu = (
            None if "mtu" not in obj else self.integer(obj["mtu"], _join(path, "mtu"), *_MTU_RANGE)
        )
        ipv6 = None if "ipv6" not in obj else self.ipv6(obj["ipv6"], _join(path, "ipv6"), ())
        assert ipv6 is None or isinstance(ipv6, Ipv6Static)
        return MemoryConfig(mac, ipv4, link, mtu, ipv6)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _tag(value: object) -> object:
    """The single key of a one-key object (a variant's tag), else None."""
    if isinstance(value, dict) and len(value) == 1:
        return next(iter(value))
    return None


def check_config(
    text: str, *, source: str = ENV_VAR, strict: bool = False
) -> tuple[StackConfig, tuple[str, ...]]:
    """Parse `text` like `parse_config` and also return notes on the repairs it made."""
    parser = _Parser(source, strict)
    config = parser.config(parser.load(text))
    return config, tuple(parser.notes)


def parse_config(text: str, *, source: str = ENV_VAR, strict: bool = False) -> StackConfig:
    """Parse and validate a `USNET_SOCKETS` JSON value; raise `ConfigError` naming the field.

    Repairs (see the module docstring) are logged as warnings on the ``usnet.config``
    logger; ``strict=True`` makes them errors instead.
    """
    config, notes = check_config(text, source=source, strict=strict)
    for note in notes:
        _log.warning("%s: %s", source, note)
    return config


def config_from_env(
    environ: Mapping[str, str] | None = None, *, strict: bool = False
) -> StackConfig | None:
    """The configuration in ``USNET_SOCKETS`` (default: `os.environ`); None when unset."""
    env = os.environ if environ is None else environ
    text = env.get(ENV_VAR)
    return None if text is None else parse_config(text, strict=strict)


# --- serialising ------------------------------------------------------------------------

_UNIT_TAGS: dict[type, str] = {
    MacPassthru: "Passthru",
    MacRandom: "Random",
    Ipv4Passthru: "Passthru",
    Ipv4Dhcp: "Dhcp",
    Ipv6Passthru: "Passthru",
    Ipv6Slaac: "Slaac",
    DiscoverFromRoute: "DiscoverFromRoute",
    RawConfig: "RawConfig",
}
_WRAPPERS: dict[type, str] = {
    MacVtapConfig: "MacVtapConfig",
    NetmapConfig: "NetmapConfig",
    UsnetConfig: "UsnetConfig",
    TapConfig: "TapConfig",
}
_STRUCT_TAGS: dict[type, str] = {
    MacVtapCreate: "Create",
    MacVtapInterface: "Interface",
    NetmapInterface: "Interface",
    NetmapPort: "Interface",
    UsnetInterface: "Interface",
    TapCreate: "Create",
    TapInterface: "Interface",
    Ipv4Static: "Static",
    Ipv6Static: "Static",
    MemoryConfig: "MemoryConfig",
}


def _serde(value: object) -> Any:
    if type(value) in _UNIT_TAGS:
        return _UNIT_TAGS[type(value)]
    if isinstance(value, MacStatic):
        return {"Static": str(value)}
    if isinstance(value, InterfaceName):
        return {"Interface": value.name}
    if isinstance(value, Ipc):
        return value.value
    if isinstance(value, IPv4Address | IPv6Address):
        return str(value)
    if type(value) in _WRAPPERS:
        return {_WRAPPERS[type(value)]: _serde(value.device)}  # type: ignore[attr-defined]
    if type(value) in _STRUCT_TAGS and is_dataclass(value):
        body = {
            f.name: _serde(getattr(value, f.name))
            for f in fields(value)
            if getattr(value, f.name) is not None
        }
        return {_STRUCT_TAGS[type(value)]: body}
    return value


def to_json(config: StackConfig) -> str:
    """The canonical JSON of `config` (what usnet_sockets would write; parses back equal)."""
    return json.dumps(_serde(config), separators=(",", ":"))


# --- describing ---------------------------------------------------------------------------


def _mac_text(mac: Mac, owner: str) -> str:
    if isinstance(mac, MacPassthru):
        return f"take over the MAC address of {owner}"
    if isinstance(mac, MacRandom):
        return "a random locally administered MAC address, new at every start"
    return f"the static MAC address {mac}"


def _ipv4_text(ipv4: Ipv4, owner: str) -> str:
    if isinstance(ipv4, Ipv4Passthru):
        return f"take over the IPv4 address, prefix and default gateway of {owner}"
    if isinstance(ipv4, Ipv4Dhcp):
        return "obtain IPv4 by DHCP (not implemented yet in usnet)"
    return f"{ipv4.interface} with default gateway {ipv4.gateway}"


def _ipv6_text(ipv6: Ipv6 | None, owner: str) -> str:
    if ipv6 is None:
        return "none (IPv4 only)"
    if isinstance(ipv6, Ipv6Passthru):
        return f"take over the global IPv6 address and default router of {owner}"
    if isinstance(ipv6, Ipv6Slaac):
        return "stateless autoconfiguration (SLAAC) from router advertisements"
    return f"{ipv6.interface} with default gateway {ipv6.gateway}"


def _parent_text(parent: SystemInterface) -> str:
    if isinstance(parent, DiscoverFromRoute):
        return "the interface of the default route"
    return f"the interface {parent.name}"


def describe(config: StackConfig) -> str:
    """What `config` means, in a few lines of plain English (for ``usnet config``)."""
    lines: list[str] = []
    add = lines.append
    match config:
        case RawConfig():
            add("backend: AF_PACKET raw socket (RawConfig)")
            add("device: a raw socket on the interface of the default route")
            add("MAC: the kernel's MAC address of that interface (shared with the kernel)")
            add("IPv4: the kernel's IPv4 address, prefix and default gateway of that interface")
            add("note: the kernel sees the same traffic; keep it from answering our ports")
        case MacVtapConfig(device=MacVtapCreate() as dev):
            parent = _parent_text(dev.parent)
            passthru = isinstance(dev.mac, MacPassthru)
            mode = "passthru" if passthru else "bridge"
            add("backend: macvtap (MacVtapConfig.Create)")
            add(f"device: create a macvtap in {mode} mode on {parent}; removed on exit")
            if passthru:
                add("mode: dedicated NIC: the kernel no longer gets this NIC's traffic")
            else:
                add("mode: layer-2 bridge: the NIC is shared with the kernel and other ports")
            add(f"MAC: {_mac_text(dev.mac, parent)}")
            add(f"IPv4: {_ipv4_text(dev.ipv4, parent)}")
            add(f"IPv6: {_ipv6_text(dev.ipv6, parent)}")
            add("after a crash: usnet cleanup (or ip link delete <macvtap>) removes it")
        case MacVtapConfig(device=MacVtapInterface() as dev):
            owner = f"the parent of {dev.interface}"
            add("backend: macvtap (MacVtapConfig.Interface)")
            add(f"device: the existing macvtap {dev.interface}; left in place on exit")
            add(f"MAC: the MAC address of {dev.interface}")
            add(f"IPv4: {_ipv4_text(dev.ipv4, owner)}")
            add(f"IPv6: {_ipv6_text(dev.ipv6, owner)}")
        case NetmapConfig(device=dev):
            if isinstance(dev.interface, DiscoverFromRoute):
                port, owner = "netmap:<if>", "the interface of the default route"
                add("backend: netmap (NetmapConfig.Interface)")
                add(f"device: the netmap port of {owner} (a dedicated NIC)")
            else:
                port, owner = dev.interface.netmap_name, f"the interface {dev.interface.parent}"
                add("backend: netmap (NetmapConfig.Interface)")
                if port.startswith("vale"):
                    switch, _, vport = port.partition(":")
                    what = f"port {vport} of the VALE switch {switch} (a layer-2 bridge)"
                elif "{" in port:
                    what = f"the static netmap pipe {port} of usnetd (no dynamic port management)"
                else:
                    what = f"the NIC {port} taken over from the kernel (a dedicated NIC)"
                add(f"device: {what}")
            add("needs: the netmap kernel module")
            add(f"MAC: {_mac_text(dev.mac, owner)}")
            add(f"IPv4: {_ipv4_text(dev.ipv4, owner)}")
            add(f"IPv6: {_ipv6_text(dev.ipv6, owner)}")
        case UsnetConfig(device=dev):
            owner = _parent_text(dev.interface)
            via = "a netmap pipe" if dev.ipc is Ipc.NETMAP_PIPE else "a Unix domain socket"
            add("backend: usnetd client (UsnetConfig.Interface)")
            add(f"device: ask usnetd (/run/usnetd.socket) for frames of {owner} over {via}")
            add("mode: share the NIC and IP with the kernel; usnetd firewalls the kernel")
            add(f"MAC: {_mac_text(dev.mac, owner)}")
            add(f"IPv4: {_ipv4_text(dev.ipv4, owner)}")
            add(f"IPv6: {_ipv6_text(dev.ipv6, owner)}")
        case TapConfig(device=TapCreate() as dev):
            name = dev.name or "usnet<N> (the first free N)"
            add("backend: TAP (TapConfig.Create)")
            add(f"device: create a TAP in this network namespace, named {name}; removed on exit")
            add(f"MTU: {dev.mtu or 1500}")
            add(f"peer: the kernel of this namespace, at {dev.host_ip}/{dev.ipv4.sub} on the TAP")
            if dev.host_ip6 is not None and isinstance(dev.ipv6, Ipv6Static):
                add(f"peer IPv6: {dev.host_ip6}/{dev.ipv6.prefix}")
            add(f"MAC: {_mac_text(dev.mac, 'the TAP')}")
            add(f"IPv4: {_ipv4_text(dev.ipv4, 'the TAP')}")
            add(f"IPv6: {_ipv6_text(dev.ipv6, 'the TAP')}")
        case TapConfig(device=TapInterface() as dev):
            add("backend: TAP (TapConfig.Interface)")
            add(f"device: the existing TAP {dev.interface}; left in place on exit")
            add(f"MAC: {_mac_text(dev.mac, dev.interface)}")
            add(f"IPv4: {_ipv4_text(dev.ipv4, dev.interface)}")
            add(f"IPv6: {_ipv6_text(dev.ipv6, dev.interface)}")
        case MemoryConfig():
            add("backend: in-process memory link (MemoryConfig, a usnet-python extension)")
            add(f'device: one end of the memory link "{config.link}" (no root needed)')
            add(f"MTU: {config.mtu or 1500}")
            add(f"MAC: {_mac_text(config.mac, 'the link')}")
            add(f"IPv4: {_ipv4_text(config.ipv4, 'the link')}")
            add(f"IPv6: {_ipv6_text(config.ipv6, 'the link')}")
    return "\n".join(lines)


# --- the environment knobs ------------------------------------------------------------------


def _env_int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    text = env.get(name, "")
    if text == "":
        return default
    if not _INT_RE.fullmatch(text) or not lo <= int(text) <= hi:
        raise ConfigError(name, "", f"expected an integer {lo}..{hi}, got {_show(text)}")
    return int(text)


@dataclass(frozen=True, slots=True)
class EnvSettings:
    """The environment knobs beside ``USNET_SOCKETS`` (an empty value means the default)."""

    reduce_mtu_by: int = 0
    """REDUCE_MTU_BY: subtract from the device MTU (no path MTU discovery)."""
    socket_backlog: int = 32
    """SOCKET_BACKLOG: connections a listener queues before one is accepted."""
    socket_buffer: int = 500000
    """SOCKET_BUFFER: bytes per TCP socket buffer; the maximal receive window."""
    bg_thread_pin_cpu_id: int = -1
    """BG_THREAD_PIN_CPU_ID: the CPU for the background thread; negative: no pinning."""
    dns: tuple[IPv4Address, ...] = field(default=())
    """USNET_DNS: DNS servers (comma-separated IPv4); empty: read /etc/resolv.conf."""
    wait: bool = True
    """USNET_SOCKETS_WAIT: block in poll while idle ("true") or busy-poll ("false")."""

    @property
    def pin_cpu(self) -> int | None:
        """The CPU to pin the background thread to, or None."""
        return None if self.bg_thread_pin_cpu_id < 0 else self.bg_thread_pin_cpu_id

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EnvSettings:
        """Read the knobs from `environ` (default: `os.environ`); bad values raise ConfigError."""
        env = os.environ if environ is None else environ
        dns: list[IPv4Address] = []
        for part in env.get("USNET_DNS", "").split(","):
            if part.strip():
                try:
                    dns.append(IPv4Address(part.strip()))
                except ValueError:
                    raise ConfigError(
                        "USNET_DNS",
                        "",
                        f"expected comma-separated IPv4 addresses, got {_show(part)}",
                    ) from None
        wait_text = env.get("USNET_SOCKETS_WAIT", "")
        if wait_text not in {"", "true", "false"}:
            raise ConfigError(
                "USNET_SOCKETS_WAIT", "", f'expected "true" or "false", got {_show(wait_text)}'
            )
        return cls(
            reduce_mtu_by=_env_int(env, "REDUCE_MTU_BY", 0, 0, 65535 - 68),
            socket_backlog=_env_int(env, "SOCKET_BACKLOG", 32, 1, 65535),
            socket_buffer=_env_int(env, "SOCKET_BUFFER", 500000, 1, 1 << 30),
            bg_thread_pin_cpu_id=_env_int(env, "BG_THREAD_PIN_CPU_ID", -1, -32768, 32767),
            dns=tuple(dns),
            wait=wait_text != "false",
        )

    def describe(self) -> str:
        """One line per knob with its value, e.g. ``SOCKET_BACKLOG=32``."""
        dns = ",".join(map(str, self.dns)) or "(unset: use /etc/resolv.conf)"
        pin = "no pinning" if self.pin_cpu is None else f"CPU {self.pin_cpu}"
        return "\n".join(
            [
                f"REDUCE_MTU_BY={self.reduce_mtu_by}",
                f"SOCKET_BACKLOG={self.socket_backlog}",
                f"SOCKET_BUFFER={self.socket_buffer}",
                f"BG_THREAD_PIN_CPU_ID={self.bg_thread_pin_cpu_id} ({pin})",
                f"USNET_DNS={dns}",
                f"USNET_SOCKETS_WAIT={'true' if self.wait else 'false'}",
            ]
        )
