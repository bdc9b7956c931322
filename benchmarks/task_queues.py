"""Per-test cost of the task-queue fixtures, side by side with what a user would pick instead.

    uv run python -m benchmarks task-queues [--reps 30] [--quick] [--project DIR]

Renders a project with Redis and both task queues, installs it and runs
``in_project/test_task_queues.py`` in one process. Each test sends one task and waits
for its result; its cost is setup + call + teardown:

- Celery on a real embedded worker (``celery_worker``) vs eager mode (``task_always_eager``);
- Dramatiq on a real worker and the suite's Redis (``dramatiq_worker``) vs Dramatiq's
  documented test setup (``StubBroker`` with a real ``Worker``);
- ``redis_namespace`` vs ``redis_client`` alone.

The first repetition of each kind is left out (imports, first connection).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from .project import PROBES, Project, find_python
from .report import Report
from .stats import distribution, ratio
from .timings import timed_pytest

PAIRS = (
    (
        "Celery: real worker on Redis (`celery_worker`)",
        "celery_real_worker",
        "eager mode (`task_always_eager`)",
        "celery_eager_peer",
    ),
    (
        "Dramatiq: real worker on Redis (`dramatiq_worker`)",
        "dramatiq_real_worker",
        "`StubBroker` + a real `Worker`",
        "dramatiq_stub_broker_peer",
    ),
    ("`redis_namespace`", "redis_namespace", "`redis_client` alone", "redis_client_baseline"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks task-queues", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 tests of each kind")
    parser.add_argument("--project", type=Path, help="a project rendered with both task queues")
    args = parser.parse_args(argv)
    reps = 10 if args.quick else args.reps
    report = Report("task-queues", "Task-queue fixtures against their peers", quick=args.quick)
    work = Path(tempfile.mkdtemp(prefix="pg-bench-queues-"))
    python = find_python("3.11")
    try:
        if args.project:
            project = Project.existing(args.project, python)
        else:
            answers = {
                "backends": ["redis"],
                "task_queues": ["celery", "dramatiq"],
                "python_version": "3.11",
            }
            project = Project.create(work / "project", python, **answers)
        project.install_probes()
        with report.stage("tests"):
            run = timed_pytest(
                project,
                [f"{PROBES}/test_task_queues.py"],
                expect_passed=6 * (reps + 1),
                env={"BENCH_N_TASK_QUEUE": str(reps + 1)},
                timeout=1800,
            )
            rows = []
            for what, ours, peer_label, peer in PAIRS:
                mine, theirs = run.per_test_ms(ours, skip=1), run.per_test_ms(peer, skip=1)
                rows.append(
                    {
                        "what": what,
                        "ours": distribution(mine),
                        "peer": peer_label,
                        "theirs": distribution(theirs),
                    }
                )
            report.data["rows"] = rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
    body = [
        f"{reps} tests each (setup + call + teardown).",
        "",
        "| fixture | p50 | p95 | peer a user might pick | peer p50 | peer p95 | ratio (p50) |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for row in report.data.get("rows", []):
        ours, theirs = row["ours"], row["theirs"]
        body.append(
            f"| {row['what']} | {ours['p50']:.0f} ms | {ours['p95']:.0f} ms | {row['peer']} "
            f"| {theirs['p50']:.0f} ms | {theirs['p95']:.0f} ms "
            f"| {ratio(ours['p50'], theirs['p50']) or 0:.1f}x |"
        )
    report.write(body)
    return 0
