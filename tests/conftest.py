"""Shared pytest configuration: root-only tests skip with a reason when not root."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root: creates network namespaces and TAP devices")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


pytest_plugins = ["harness_plugin"]
