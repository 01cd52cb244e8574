"""The readiness fd: select sees exactly the state the stack sets."""

from __future__ import annotations

import os
import select
import selectors

import pytest
from usnet_sync.readiness import ReadinessFd


def _poll(fd: int) -> tuple[bool, bool]:
    r, w, _ = select.select([fd], [fd], [], 0)
    return bool(r), bool(w)


@pytest.mark.parametrize("readable", [False, True])
@pytest.mark.parametrize("writable", [False, True])
def test_every_combination(readable: bool, writable: bool) -> None:
    rfd = ReadinessFd()
    try:
        rfd.set(readable, writable)
        assert _poll(rfd.fileno()) == (readable, writable)
    finally:
        rfd.close()


def test_transitions_back_and_forth() -> None:
    rfd = ReadinessFd()
    try:
        assert _poll(rfd.fileno()) == (False, True)
        for state in [(True, True), (True, False), (False, False), (False, True), (True, False),
                      (False, True), (True, True), (False, False)] * 3:  # fmt: skip
            rfd.set(*state)
            assert _poll(rfd.fileno()) == state
    finally:
        rfd.close()


def test_selectors_and_epoll_agree() -> None:
    rfd = ReadinessFd()
    try:
        rfd.set(True, False)
        with selectors.DefaultSelector() as sel:
            sel.register(rfd.fileno(), selectors.EVENT_READ | selectors.EVENT_WRITE)
            [(_, events)] = sel.select(0)
            assert events == selectors.EVENT_READ
            rfd.set(False, True)
            [(_, events)] = sel.select(0)
            assert events == selectors.EVENT_WRITE
            rfd.set(False, False)
            assert sel.select(0) == []
    finally:
        rfd.close()


def test_close_releases_both_fds() -> None:
    before = len(os.listdir("/proc/self/fd"))
    fds = [ReadinessFd() for _ in range(10)]
    for f in fds:
        f.set(True, False)
        f.close()
    assert len(os.listdir("/proc/self/fd")) == before
