"""usnet_backends: layer-2 devices (TAP, in-memory links) and wrappers (faults, pcap)."""

from .config import (
    ConfigError,
    EnvSettings,
    MacVtapConfig,
    MemoryConfig,
    NetmapConfig,
    RawConfig,
    StackConfig,
    TapConfig,
    UsnetConfig,
    check_config,
    config_from_env,
    describe,
    parse_config,
    to_json,
)
from .device import Device, DeviceBase, DeviceStats, Frame, Offloads
from .fault import FaultCounters, FaultInjector
from .memory import MemoryEnd, memory_pair
from .pcap import PcapWriter, read_pcap
from .tap import TapDevice

__all__ = [
    "ConfigError",
    "EnvSettings",
    "MacVtapConfig",
    "MemoryConfig",
    "NetmapConfig",
    "RawConfig",
    "StackConfig",
    "TapConfig",
    "UsnetConfig",
    "check_config",
    "config_from_env",
    "describe",
    "parse_config",
    "to_json",
    "Device",
    "DeviceBase",
    "DeviceStats",
    "FaultCounters",
    "FaultInjector",
    "Frame",
    "MemoryEnd",
    "Offloads",
    "PcapWriter",
    "TapDevice",
    "memory_pair",
    "read_pcap",
]
