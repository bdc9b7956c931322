"""Keep one core busy for a bounded time: ``python -m benchmarks.cpu_hog SECONDS``."""

from __future__ import annotations

import sys
import time


def spin(seconds: float) -> int:
    deadline = time.monotonic() + seconds
    turns = 0
    while time.monotonic() < deadline:
        turns += 1
    return turns


if __name__ == "__main__":
    spin(float(sys.argv[1]))
