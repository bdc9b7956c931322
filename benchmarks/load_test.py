"""The generated locust test, run repeatedly while busy loops take every core.

    uv run python -m benchmarks load-test [--runs 10] [--hogs 2] [--project DIR]

Renders a web project with the performance layer (or reuses ``--project``), then runs
its ``pytest -m load`` ``--runs`` times with ``--hogs`` busy loops (one per core by
default) running beside it, and reports each run's outcome and locust's summary line
(requests in the measured window, req/s, median, p95) with the load average.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .project import REPO, Project, find_python
from .report import Report, load_average, log
from .stats import distribution

LOCUST_LINE = re.compile(
    r"locust: (\d+) requests in .*?, (\d+) failures, (\d+) req/s, median (\d+) ms, p95 (\d+) ms"
)
ANSWERS = {
    "web_app": True,
    "python_version": "3.11",
    "test_layers": ["unit", "integration", "e2e", "performance", "security"],
}


def hogs(count: int, seconds: float) -> list[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "benchmarks.cpu_hog", str(seconds)]
    return [subprocess.Popen(argv, cwd=REPO) for _ in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks load-test", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--hogs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument(
        "--project", type=Path, help="a rendered web project with performance tests"
    )
    parser.add_argument("--quick", action="store_true", help="3 runs")
    args = parser.parse_args(argv)
    runs = 3 if args.quick else args.runs
    report = Report("load-test", "The locust load test under a CPU hog", quick=args.quick)
    work = Path(tempfile.mkdtemp(prefix="pg-bench-load-"))
    python = find_python("3.11")
    project = (
        Project.existing(args.project, python)
        if args.project
        else Project.create(work / "project", python, **ANSWERS)
    )
    results = []
    busy = hogs(args.hogs, 3600)
    try:
        for i in range(runs):
            before = load_average()
            wall, done = project.pytest("-m", "load", "-rP", check=False, timeout=600)
            found = LOCUST_LINE.search(done.stdout)
            result: dict[str, Any] = {
                "passed": done.returncode == 0 and "1 passed" in done.stdout,
                "wall_s": wall,
                "load_before": before,
                "load_after": load_average(),
            }
            if found:
                keys = ("requests", "failures", "rps", "median_ms", "p95_ms")
                result |= dict(zip(keys, map(int, found.groups()), strict=True))
            else:
                result["output"] = done.stdout[-2000:]
            results.append(result)
            log(f"run {i + 1}/{runs}: {result}")
    finally:
        for hog in busy:
            hog.kill()
            hog.wait()
        shutil.rmtree(work, ignore_errors=True)
    report.data |= {"hogs": args.hogs, "runs": results}
    passed = sum(r["passed"] for r in results)
    body = [
        f"{passed} of {len(results)} runs passed with {args.hogs} busy loops beside them.",
        "",
        "| run | outcome | requests (5 s window) | req/s | median ms | p95 ms | wall s | load |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(results, 1):
        body.append(
            f"| {i} | {'pass' if r['passed'] else 'FAIL'} | {r.get('requests', '-')} "
            f"| {r.get('rps', '-')} | {r.get('median_ms', '-')} | {r.get('p95_ms', '-')} "
            f"| {r['wall_s']:.1f} | {r['load_before']}-{r['load_after']} |"
        )
    requests = distribution([r["requests"] for r in results if "requests" in r])
    report.data["requests"] = requests
    report.write(body)
    return 0 if passed == len(results) else 1
