"""Per-test cost of the task-queue fixtures, side by side with what a user would pick instead.

Renders a project with Redis and both task queues (Celery, Dramatiq), installs it, adds
a benchmark test module and runs it in one process. Each test sends one task and waits
for its result; its cost is the JUnit time of the test (setup + call + teardown):

- Celery on a real embedded worker (``celery_worker``) vs Celery's eager mode
  (``task_always_eager``: the task runs inline, no broker, no worker);
- Dramatiq on a real worker and the suite's Redis (``dramatiq_worker``) vs Dramatiq's
  documented test setup (``StubBroker``, an in-memory broker, with a real ``Worker``);
- ``redis_namespace`` vs ``redis_client`` alone (what the namespace adds).

The first repetition of each kind is left out (imports, first connection). Writes
``benchmarks/task_queues.md`` and ``.json`` (not committed); a slower figure never fails
the run: timings on a shared machine are not a correctness check.

    uv run python benchmarks/task_queues.py [--reps 30] [--project DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BENCH_TESTS = """
from __future__ import annotations

import pytest

REPS = range({reps})


@pytest.mark.parametrize("i", REPS)
def test_celery_real_worker(i, celery_worker) -> None:
    from tests.support.celery_results import wait_for_result
    from {package}.celery_tasks import normalize_signup

    assert wait_for_result(normalize_signup.delay("Ada@Example.com")) == "ada@example.com"


@pytest.mark.parametrize("i", REPS)
def test_celery_eager_peer(i, celery_app) -> None:
    from {package}.celery_tasks import normalize_signup

    celery_app.conf.task_always_eager = True
    assert normalize_signup.delay("Ada@Example.com").get() == "ada@example.com"


@pytest.mark.parametrize("i", REPS)
def test_dramatiq_real_worker(i, dramatiq_broker, dramatiq_worker) -> None:
    from tests.support.dramatiq_results import wait_for_result
    from {package}.dramatiq_tasks import normalize_signup

    message = normalize_signup.send("Ada@Example.com")
    assert wait_for_result(message, dramatiq_broker) == "ada@example.com"


@pytest.mark.parametrize("i", REPS)
def test_dramatiq_stub_broker_peer(i) -> None:
    import dramatiq
    from dramatiq import Worker
    from dramatiq.brokers.stub import StubBroker
    from dramatiq.results import Results
    from dramatiq.results.backends.stub import StubBackend

    from {package} import dramatiq_tasks
    from {package}.dramatiq_tasks import normalize_signup

    app_broker = dramatiq.get_broker()
    broker = StubBroker()
    backend = StubBackend()
    broker.add_middleware(Results(backend=backend))
    actors = list(app_broker.actors.values())
    for actor in actors:
        actor.broker = broker
        broker.declare_actor(actor)
    worker = Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        message = normalize_signup.send("Ada@Example.com")
        broker.join(message.queue_name)
        worker.join()
        assert message.get_result(backend=backend) == "ada@example.com"
    finally:
        worker.stop()
        for actor in actors:
            actor.broker = app_broker
        assert dramatiq_tasks


@pytest.mark.parametrize("i", REPS)
def test_redis_namespace(i, redis_namespace) -> None:
    assert redis_namespace.prefix


@pytest.mark.parametrize("i", REPS)
def test_redis_client_baseline(i, redis_client) -> None:
    assert redis_client.ping()
"""

PAIRS = [
    (
        "Celery: real worker on Redis",
        "test_celery_real_worker",
        "eager mode",
        "test_celery_eager_peer",
    ),
    (
        "Dramatiq: real worker on Redis",
        "test_dramatiq_real_worker",
        "StubBroker + Worker",
        "test_dramatiq_stub_broker_peer",
    ),
    ("redis_namespace", "test_redis_namespace", "redis_client alone", "test_redis_client_baseline"),
]


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST_"))}
    env.pop("CI", None)
    env.update(VIRTUAL_ENV="", UV_PYTHON_DOWNLOADS="never")
    if "UV_PYTHON" not in env:
        from tests.test_generated_suites import find_python

        env["UV_PYTHON"] = find_python("3.11")
    return env


def prepare(project: Path | None) -> Path:
    if project is not None:
        return project
    from tests.conftest import render

    root = Path(tempfile.mkdtemp(prefix="pg-queues-bench-")) / "project"
    render(root, backends=["redis"], task_queues=["celery", "dramatiq"], python_version="3.11")
    subprocess.run(["uv", "sync", "-q"], cwd=root, env=child_env(), check=True)
    return root


def run(project: Path, reps: int) -> dict[str, list[float]]:
    package = next(p.name for p in (project / "src").iterdir() if p.is_dir())
    module = project / "tests" / "test_zz_queue_bench.py"
    module.write_text(BENCH_TESTS.format(reps=reps + 1, package=package))
    report = project / "queue-bench.xml"
    try:
        done = subprocess.run(
            ["uv", "run", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
             str(module), f"--junitxml={report}"],
            cwd=project, env=child_env(), capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
        if done.returncode != 0:
            sys.exit(f"benchmark tests failed:\n{done.stdout[-4000:]}")
        times: dict[str, list[float]] = defaultdict(list)
        for case in ET.parse(report).getroot().iter("testcase"):
            name, _, param = case.get("name", "").partition("[")
            if param != "0]":  # the first repetition pays for imports and connections
                times[name].append(float(case.get("time", "0")))
        return times
    finally:
        module.unlink(missing_ok=True)
        report.unlink(missing_ok=True)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--project", type=Path)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    times = run(prepare(args.project), args.reps)
    load_after = os.getloadavg()[0]
    rows = []
    for label, name, peer_label, peer in PAIRS:
        ours, theirs = statistics.median(times[name]), statistics.median(times[peer])
        rows.append({
            "what": label, "p50_s": ours, "p95_s": quantile(times[name], 0.95),
            "peer": peer_label, "peer_p50_s": theirs, "peer_p95_s": quantile(times[peer], 0.95),
            "ratio_p50": ours / theirs if theirs else None,
        })  # fmt: skip
    results = {
        "reps": args.reps,
        "load_average_1m": [load_before, load_after],
        "wall_s": time.perf_counter() - started,
        "rows": rows,
    }
    lines = [
        f"Task-queue fixtures, per test (setup + call + teardown), {args.reps} tests each; "
        f"1-minute load average {load_before:.1f} before, {load_after:.1f} after.",
        "",
        "| fixture | p50 | p95 | peer a user might pick | peer p50 | peer p95 | ratio (p50) |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['what']} | {row['p50_s'] * 1000:.0f} ms | {row['p95_s'] * 1000:.0f} ms | "
            f"{row['peer']} | {row['peer_p50_s'] * 1000:.0f} ms | "
            f"{row['peer_p95_s'] * 1000:.0f} ms | {row['ratio_p50']:.1f}x |"
        )
    text = "\n".join(lines) + "\n"
    (REPO / "benchmarks" / "task_queues.md").write_text(text)
    (REPO / "benchmarks" / "task_queues.json").write_text(json.dumps(results, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
