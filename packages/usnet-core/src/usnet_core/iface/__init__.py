"""The Interface and its parts: configuration, neighbour cache, counters."""

from __future__ import annotations

from usnet_core.iface.config import InterfaceConfig
from usnet_core.iface.interface import Interface, TransportLayer
from usnet_core.iface.neighbor import NeighborCache
from usnet_core.iface.stats import Stats

__all__ = ["Interface", "InterfaceConfig", "NeighborCache", "Stats", "TransportLayer"]
