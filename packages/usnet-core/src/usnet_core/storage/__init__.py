"""Storage building blocks for TCP: a byte ring buffer and an out-of-order assembler."""

from __future__ import annotations

from usnet_core.storage.assembler import Assembler
from usnet_core.storage.ring_buffer import RingBuffer

__all__ = ["Assembler", "RingBuffer"]
