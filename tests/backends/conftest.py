"""Fixtures for the backend tests: the shared kernel-peer harness."""

from __future__ import annotations

from harness_plugin import kernel_peer

__all__ = ["kernel_peer"]
