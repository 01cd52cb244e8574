"""The demo runs end to end (in memory always; over TAP against the kernel as root)."""

from __future__ import annotations

import os

import pytest
from usnet_sync import demo


def test_demo_in_memory(capsys: pytest.CaptureFixture[str]) -> None:
    demo.demo_memory()
    out = capsys.readouterr().out
    assert "sha256 matches" in out
    assert "in-memory link" in out


@pytest.mark.root
def test_demo_over_tap(capsys: pytest.CaptureFixture[str]) -> None:
    assert os.geteuid() == 0
    demo.demo_tap()
    out = capsys.readouterr().out
    assert "sha256 matches" in out
    assert "via 127.0.0.1:8080 got: HTTP/1.1 200 OK" in out
    assert "namespace and TAP removed" in out
