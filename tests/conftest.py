"""Shared pytest configuration: root-only tests skip with a reason when not root."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# CI runs the same examples every time (a red CI means a change broke something, not that
# this run happened upon an old bug); developers' runs explore new examples each time.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root: creates network namespaces and TAP devices")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


pytest_plugins = ["harness_plugin"]
