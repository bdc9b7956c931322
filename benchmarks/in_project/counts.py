"""How many repetitions of each benchmark test run: ``BENCH_N_<KIND>`` or a default."""

from __future__ import annotations

import os


def repetitions(kind: str, default: int) -> range:
    return range(int(os.environ.get(f"BENCH_N_{kind.upper()}", default)))
