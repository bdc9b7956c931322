"""A test with no fixtures: pytest's own per-test cost, subtracted from the others."""

from __future__ import annotations

import pytest

from .counts import repetitions


@pytest.mark.parametrize("i", repetitions("baseline", 200))
def test_baseline(i: int) -> None:
    """Empty on purpose: what pytest itself costs per test."""
