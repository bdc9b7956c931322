"""Running benchmark tests in a project and reading what ``in_project/timing.py`` recorded."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .project import Project

PHASES = ("setup", "call", "teardown")
SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|skipped|deselected)")


def outcome(output: str) -> dict[str, int]:
    """Counts from pytest's last summary line, e.g. ``{'passed': 24}``."""
    for line in reversed(output.splitlines()):
        found = SUMMARY.findall(line)
        if found and " in " in line:
            return {word.rstrip("s") if word == "errors" else word: int(n) for n, word in found}
    return {}


@dataclass
class TimedRun:
    """One pytest process: its wall time, outcome and each test's phases in seconds."""

    wall_s: float
    outcome: dict[str, int]
    tests: dict[str, dict[str, float]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    def per_test_ms(self, kind: str, phases: Sequence[str] = PHASES, skip: int = 0) -> list[float]:
        """Summed phases of each test of ``kind``, in run order, the first ``skip`` left out."""
        values = [
            sum(p.get(phase, 0.0) for phase in phases) * 1000
            for nodeid, p in self.tests.items()
            if self.kinds[nodeid] == kind and all(phase in p for phase in phases)
        ]
        return values[skip:]


def timed_pytest(
    project: Project,
    args: Sequence[str],
    *,
    expect_passed: int | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
    user: str | None = None,
    scratch: Path | None = None,
) -> TimedRun:
    """Run pytest with the timing plugin; fails (RuntimeError) unless every test passed."""
    with tempfile.NamedTemporaryFile(suffix=".json", dir=scratch, delete=False) as handle:
        out = Path(handle.name)
    out.chmod(0o666)  # written by the run, which may be another user's
    try:
        wall, done = project.pytest(
            "-p",
            "tests.pg_bench.timing",
            *args,
            env={**(env or {}), "BENCH_TIMINGS_OUT": str(out)},
            timeout=timeout,
            check=False,
            user=user,
        )
        counts = outcome(done.stdout)
        failed = done.returncode != 0 or (
            expect_passed is not None and counts.get("passed") != expect_passed
        )
        if failed:
            raise RuntimeError(
                f"pytest {' '.join(args)}: exit {done.returncode}, {counts} "
                f"(expected {expect_passed} passed):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
            )
        records: list[dict[str, Any]] = json.loads(out.read_text() or "[]")
    finally:
        out.unlink(missing_ok=True)
    run = TimedRun(wall, counts)
    for record in records:
        run.tests.setdefault(record["nodeid"], {})[record["phase"]] = record["s"]
        run.kinds[record["nodeid"]] = record["kind"]
    return run
