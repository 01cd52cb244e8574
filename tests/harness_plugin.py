"""pytest plugin: the `kernel_peer` fixture (see netns_harness) for every test directory."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from netns_harness import KernelPeer, kernel_peer_session


def pytest_sessionstart(session: pytest.Session) -> None:
    """Remove namespaces that a crashed earlier run left behind."""
    if os.geteuid() == 0:
        from usnet_backends.netns import cleanup_stale

        cleanup_stale()


@pytest.fixture
def kernel_peer() -> Iterator[KernelPeer]:
    """A private netns whose kernel is at 10.99.0.1 on a TAP that usnet drives (10.99.0.2)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: creates a network namespace and a TAP device")
    with kernel_peer_session() as peer:
        yield peer
