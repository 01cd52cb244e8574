"""TCP for usnet_core: the connection machine, listeners, congestion control, the layer."""

from __future__ import annotations

from usnet_core.tcp.config import TcpConfig
from usnet_core.tcp.congestion import CongestionControl, Cubic, NewReno, make_congestion
from usnet_core.tcp.connection import State, TcpSocket
from usnet_core.tcp.isn import IsnGenerator
from usnet_core.tcp.layer import EPHEMERAL_PORTS, TcpLayer, TcpStats
from usnet_core.tcp.listener import TcpListener
from usnet_core.tcp.rtt import RttEstimator

__all__ = [
    "EPHEMERAL_PORTS",
    "CongestionControl",
    "Cubic",
    "IsnGenerator",
    "NewReno",
    "RttEstimator",
    "State",
    "TcpConfig",
    "TcpLayer",
    "TcpListener",
    "TcpSocket",
    "TcpStats",
    "make_congestion",
]
