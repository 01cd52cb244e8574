"""storage.Assembler against a set-of-offsets reference model."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from usnet_core.storage import Assembler


def runs(offsets: set[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive offsets as (start, end) pairs."""
    out: list[tuple[int, int]] = []
    for x in sorted(offsets):
        if out and out[-1][1] == x:
            out[-1] = (out[-1][0], x + 1)
        else:
            out.append((x, x + 1))
    return out


def test_merge_overlap_and_adjacent() -> None:
    a = Assembler()
    assert a.is_empty() and len(a) == 0
    assert a.add(10, 5)
    assert a.add(20, 5)
    assert a.ranges() == [(10, 15), (20, 25)]
    assert a.add(15, 5)  # adjacent on both sides: one range
    assert a.ranges() == [(10, 25)]
    assert a.add(0, 0) and a.ranges() == [(10, 25)]
    assert a.remove_front() == 0
    assert a.add(2, 9)
    assert a.add(0, 2)
    assert a.remove_front() == 25
    assert a.is_empty()


def test_remove_front_shifts() -> None:
    a = Assembler()
    a.add(0, 4)
    a.add(6, 2)
    a.add(10, 1)
    assert a.remove_front() == 4
    assert a.ranges() == [(2, 4), (6, 7)]
    a.clear()
    assert a.ranges() == [] and len(a) == 0


def test_bound_refuses_and_changes_nothing() -> None:
    a = Assembler(max_ranges=2)
    assert a.add(0, 1) and a.add(10, 1)
    assert not a.add(5, 1)
    assert a.ranges() == [(0, 1), (10, 11)]
    assert a.add(1, 2)  # merges: still two ranges
    assert a.add(3, 7)  # bridges the gap: one range
    assert a.ranges() == [(0, 11)]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Assembler(0)
    with pytest.raises(ValueError):
        Assembler().add(-1, 3)
    with pytest.raises(ValueError):
        Assembler().add(1, -3)


class AssemblerModel(RuleBasedStateMachine):
    """The model: the set of received offsets relative to the front."""

    def __init__(self) -> None:
        super().__init__()
        self.asm = Assembler(1)
        self.max_ranges = 1
        self.have: set[int] = set()

    @initialize(max_ranges=st.integers(1, 6))
    def setup(self, max_ranges: int) -> None:
        self.asm = Assembler(max_ranges)
        self.max_ranges = max_ranges

    @rule(offset=st.integers(0, 120), size=st.integers(0, 25))
    def add(self, offset: int, size: int) -> None:
        after = self.have | set(range(offset, offset + size))
        fits = len(runs(after)) <= self.max_ranges
        assert self.asm.add(offset, size) == fits
        if fits:
            self.have = after

    @rule()
    def remove_front(self) -> None:
        n = 0
        while n in self.have:
            n += 1
        assert self.asm.remove_front() == n
        self.have = {x - n for x in self.have if x >= n}

    @rule()
    def clear(self) -> None:
        self.asm.clear()
        self.have = set()

    @invariant()
    def ranges_agree(self) -> None:
        assert self.asm.ranges() == runs(self.have)
        assert len(self.asm) == len(runs(self.have)) <= self.max_ranges
        assert self.asm.is_empty() == (not self.have)


TestAssemblerModel = AssemblerModel.TestCase
TestAssemblerModel.settings = settings(max_examples=300, stateful_step_count=50)
