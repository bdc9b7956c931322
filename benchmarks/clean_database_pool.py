"""Per-test cost of ``clean_database`` (the warm pool) and ``db_session``, in a project.

Writes a benchmark folder into an already rendered and synced project with PostgreSQL
(``--project DIR``), runs it with ``uv run pytest`` and prints, per fixture, the p50,
p95 and p99 of each test's setup + teardown phases (all its fixtures), with the load
average. Each clean-database test connects and runs ``SELECT 1`` (what the overhead
benchmark in run.py does), each db_session test runs ``SELECT 1``.

Usage::

    python3 benchmarks/clean_database_pool.py --project DIR [--pool-size 4] [-n 0]
        [--clean 200] [--sessions 500]

``--pool-size 0`` turns the pool off (each test clones and drops on its own path).
Only the standard library is used here.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

FOLDER = "bench_clean_database_pool"

CONFTEST = textwrap.dedent(
    '''
    """Times each test's setup and teardown phases."""

    import json
    import os
    import time

    import pytest

    _DURATIONS: dict[str, dict[str, float]] = {}


    def _record(item: pytest.Item, phase: str, seconds: float) -> None:
        _DURATIONS.setdefault(item.nodeid, {})[phase] = seconds


    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(item):
        start = time.perf_counter()
        try:
            return (yield)
        finally:
            _record(item, "setup", time.perf_counter() - start)


    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(item):
        start = time.perf_counter()
        try:
            return (yield)
        finally:
            _record(item, "teardown", time.perf_counter() - start)


    def pytest_sessionfinish(session):
        out = os.environ["BENCH_POOL_OUT"]
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with open(f"{out}.{worker}", "w") as fh:
            json.dump(_DURATIONS, fh)
    '''
).lstrip()

TESTS = textwrap.dedent(
    '''
    import os

    import psycopg
    import pytest
    from sqlalchemy import text


    def test_warmup(db_session, clean_database):
        pass


    @pytest.mark.parametrize("i", range(int(os.environ["BENCH_CLEAN"])))
    def test_clean_database(clean_database, i):
        with psycopg.connect(clean_database) as conn:
            conn.execute("SELECT 1")


    @pytest.mark.parametrize("i", range(int(os.environ["BENCH_SESSIONS"])))
    def test_db_session(db_session, i):
        db_session.execute(text("SELECT 1"))


    @pytest.mark.parametrize("i", range(int(os.environ["BENCH_SESSIONS"])))
    def test_baseline(i):
        pass
    '''
).lstrip()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--pool-size", type=int, default=None)
    parser.add_argument("-n", dest="workers", default="0")
    parser.add_argument("--clean", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=500)
    args = parser.parse_args()

    folder = args.project / "tests" / FOLDER
    folder.mkdir(exist_ok=True)
    (folder / "__init__.py").write_text("")
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "test_bench.py").write_text(TESTS)
    out = Path(tempfile.mkdtemp()) / "durations"
    env = {
        **os.environ,
        "BENCH_POOL_OUT": str(out),
        "BENCH_CLEAN": str(args.clean),
        "BENCH_SESSIONS": str(args.sessions),
    }
    if args.pool_size is not None:
        env["TEST_POSTGRES_POOL_SIZE"] = str(args.pool_size)
    argv = ["uv", "run", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    argv += ["-n", args.workers, f"tests/{FOLDER}"]
    try:
        done = subprocess.run(argv, cwd=args.project, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stdout[-3000:] + done.stderr[-2000:])
        durations: dict[str, dict[str, float]] = {}
        for part in out.parent.glob("durations.*"):
            durations.update(json.loads(part.read_text()))
    finally:
        shutil.rmtree(folder)
        shutil.rmtree(out.parent)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; -n {args.workers}; "
          f"pool size {args.pool_size if args.pool_size is not None else 'default'}")
    print(next((line for line in done.stdout.splitlines() if "clean databases" in line), ""))
    for kind in ("baseline", "db_session", "clean_database"):
        totals = [
            (phases["setup"] + phases["teardown"]) * 1000
            for nodeid, phases in durations.items()
            if f"test_{kind}[" in nodeid and len(phases) == 2
        ]
        print(
            f"{kind:15} n={len(totals):4}  p50 {percentile(totals, 0.5):6.2f} ms  "
            f"p95 {percentile(totals, 0.95):6.2f} ms  p99 {percentile(totals, 0.99):6.2f} ms"
        )


if __name__ == "__main__":
    main()
