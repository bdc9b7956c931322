"""Benchmark a freshly rendered Proving Ground project.

Renders the template (defaults, python_version=3.11) into a temporary directory,
installs it, and measures what a user of the generated suite waits for:

* render and install (``uv sync``) times, reported apart;
* time to first test: ``uv run pytest`` on the unit tests (no services) and on one
  Postgres test, cold (each run starts its own servers);
* local server start times for Postgres and Redis, each into a fresh run directory,
  and the idle memory (PSS and RSS) of the Postgres server and all its children;
* per-test fixture overhead (setup + teardown) of ``db_session``, ``clean_database``
  and ``redis_client``, from a benchmark test folder written into the rendered project;
* wall time of the project's own suite at ``-n 0`` and ``-n 2``.

Results go to ``benchmarks/results.json`` and ``benchmarks/results.md`` and a table is
printed. Targets are reported as PASS/MISS; a miss never changes the exit status.

Usage::

    uv run python benchmarks/run.py            # full run (~2-3 minutes on 2 cores)
    python3 benchmarks/run.py --quick          # fewer repetitions (~1 minute)
    python3 benchmarks/run.py --project DIR    # reuse an already rendered, synced project

Only the standard library is used here; everything that touches the generated project
runs inside it through ``uv run``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MIB = 1024 * 1024
BENCH_DIR = "bench_overhead"
PG_TEST = "test_added_user_is_found_by_normalized_email"

# Environment that would point the generated suite somewhere other than its local,
# wheel-provided servers, or at another virtualenv.
STRIPPED_ENV = (
    "VIRTUAL_ENV",
    "CI",
    "TEST_SERVICES",
    "TEST_POSTGRES_URL",
    "TEST_REDIS_URL",
    "DATABASE_URL",
    "REDIS_URL",
    "PYTEST_ADDOPTS",
    "PYTEST_XDIST_AUTO_NUM_WORKERS",
)

TARGETS = {
    "rollback_isolation_p50_ms": 2.0,
    "clean_database_p50_ms": 100.0,
    "local_cold_start_pg_plus_redis_s": 1.0,
    "idle_postgres_mib": 100.0,
}


# --------------------------------------------------------------------------- helpers


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
    env.setdefault("NO_COLOR", "1")
    return env


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_timed(
    argv: Sequence[str],
    cwd: Path,
    *,
    timeout: float = 600,
    check: bool = True,
    extra_env: dict[str, str] | None = None,
) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = child_env() | (extra_env or {})
    start = time.perf_counter()
    proc = subprocess.run(
        list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    elapsed = time.perf_counter() - start
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"command failed ({proc.returncode}): {' '.join(argv)}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
        )
    return elapsed, proc


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values: Sequence[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "min": min(values) if values else None,
        "p50": percentile(values, 50) if values else None,
        "max": max(values) if values else None,
        "samples": [round(v, 6) for v in values],
    }


def dist(values: Sequence[float]) -> dict[str, Any]:
    """Summary of a larger sample (per-test durations), without the raw samples."""
    return {
        "n": len(values),
        "min": min(values) if values else None,
        "p50": percentile(values, 50) if values else None,
        "p95": percentile(values, 95) if values else None,
        "max": max(values) if values else None,
        "mean": sum(values) / len(values) if values else None,
    }


PYTEST_SUMMARY = re.compile(r"=*\s*((?:\d+ \w+(?:, )?)+) in ([\d.]+)s")


def pytest_outcome(output: str) -> dict[str, Any]:
    """Counts from pytest's last summary line, e.g. {'passed': 24, 'seconds': 8.5}."""
    outcome: dict[str, Any] = {}
    for line in reversed(output.splitlines()):
        match = PYTEST_SUMMARY.search(line)
        if match:
            for part in match.group(1).split(", "):
                count, word = part.split(" ", 1)
                outcome[word] = int(count)
            outcome["seconds"] = float(match.group(2))
            break
    started = re.findall(r"^(\w+): local .*?started in ([\d.]+) s by (\S+)", output, re.M)
    if started:
        outcome["server_start_s"] = {name: float(sec) for name, sec, _ in started}
    return outcome


# --------------------------------------------------------------------------- stages


def render(dest: Path) -> float:
    argv = [
        "uvx", "--with", "copier-template-extensions", "copier", "copy",
        "--trust", "--defaults", "--data", "python_version=3.11", str(REPO), str(dest),
    ]  # fmt: skip
    elapsed, _ = run_timed(argv, cwd=dest.parent)
    return elapsed


def install(project: Path) -> float:
    elapsed, _ = run_timed(["uv", "sync"], cwd=project)
    return elapsed


PYTEST = ["uv", "run", "pytest", "-p", "no:cacheprovider"]


def time_to_first_test(project: Path, reps: int) -> dict[str, Any]:
    ignore = f"--ignore=tests/{BENCH_DIR}"
    commands = {
        "uv_run_python_noop": ["uv", "run", "python", "-c", "pass"],
        "unit": [*PYTEST, "-x", "-q", "tests/unit", ignore],
        "one_postgres_test": [*PYTEST, "-x", "-q", "tests", ignore, "-k", PG_TEST],
    }
    results: dict[str, Any] = {}
    for name, argv in commands.items():
        times: list[float] = []
        outcomes: list[dict[str, Any]] = []
        for _ in range(reps):
            elapsed, proc = run_timed(argv, cwd=project, check=False)
            times.append(elapsed)
            if argv[2] == "pytest":
                outcome = pytest_outcome(proc.stdout)
                outcome["returncode"] = proc.returncode
                outcomes.append(outcome)
        results[name] = summary(times) | {"command": " ".join(argv)}
        if outcomes:
            results[name]["outcomes"] = outcomes
            if any(o["returncode"] != 0 for o in outcomes):
                results[name]["error"] = "pytest exited non-zero; see outcomes"
        log(f"time to first test, {name}: p50 {results[name]['p50']:.2f} s")
    return results


# Runs inside the generated project (``uv run python -c``), so ``tests`` is importable.
SERVER_PROBE = textwrap.dedent(
    r'''
    import json, os, signal, subprocess, sys, time
    from pathlib import Path

    t0 = time.perf_counter()
    from tests.support import postgres as pg
    from tests.support import redis as rd
    from tests.support.processes import stop_process_group
    from tests.support.run import Run
    import_s = time.perf_counter() - t0

    REPS = int(sys.argv[1])
    IDLE_S = float(sys.argv[2])


    def tree(root):
        """root and all its descendants, from /proc."""
        children = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], [root]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found


    def memory(root):
        pss = rss = 0
        pids = tree(root)
        for pid in pids:
            try:
                text = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            for line in text.splitlines():
                key, _, rest = line.partition(":")
                if key == "Pss":
                    pss += int(rest.split()[0]) * 1024
                elif key == "Rss":
                    rss += int(rest.split()[0]) * 1024
        return {"processes": len(pids), "pss_bytes": pss, "rss_bytes": rss}


    # Optional breakdown of the Postgres start into its phases. Wrapped, not required:
    # if the module's internals change, the totals are still measured.
    phases = {}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - start
        return wrapper

    class _Subprocess:
        def __getattr__(self, name):
            return getattr(subprocess, name)

        def run(self, argv, *args, **kwargs):
            tool = Path(str(argv[0])).name
            if tool == "postgres" and "--version" in map(str, argv):
                tool = "postgres_version"
            return timed(tool, subprocess.run)(argv, *args, **kwargs)

    for attr, name in (
        ("stage_for", "stage_binaries"),
        ("new_cluster", "new_cluster"),
        ("wait_until_ready", "wait_ready"),
    ):
        if hasattr(pg, attr):
            setattr(pg, attr, timed(name, getattr(pg, attr)))
    if hasattr(pg, "subprocess"):
        pg.subprocess = _Subprocess()

    reps = []
    for _ in range(REPS):
        run = Run.create(1)
        endpoints = []
        rep = {}
        try:
            phases.clear()
            start = time.perf_counter()
            pg_ep = pg.start_local(run)
            rep["postgres_start_s"] = time.perf_counter() - start
            pg_ready_at = time.perf_counter()
            endpoints.append(pg_ep)
            rep["postgres_phases_s"] = dict(phases)

            start = time.perf_counter()
            rd_ep = rd.start_local(run)
            rep["redis_start_s"] = time.perf_counter() - start
            endpoints.append(rd_ep)

            idle = IDLE_S - (time.perf_counter() - pg_ready_at)
            if idle > 0:
                time.sleep(idle)
            rep["postgres_memory"] = memory(pg_ep.pid)
            rep["redis_memory"] = memory(rd_ep.pid)
            rep["versions"] = {"postgres": pg_ep.version, "redis": rd_ep.version}
            rep["sources"] = {"postgres": pg_ep.source, "redis": rd_ep.source}
        finally:
            for ep in reversed(endpoints):
                start = time.perf_counter()
                stop_process_group(ep.pid, ep.stop_signal or signal.SIGTERM)
                rep[f"{ep.backend}_stop_s"] = time.perf_counter() - start
            run.remove()
        reps.append(rep)

    print("BENCH-JSON " + json.dumps({"import_s": import_s, "reps": reps}))
    '''
)


def server_starts(project: Path, reps: int, idle_s: float = 1.0) -> dict[str, Any]:
    argv = ["uv", "run", "python", "-c", SERVER_PROBE, str(reps), str(idle_s)]
    _, proc = run_timed(argv, cwd=project, timeout=300)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-JSON "))
    data = json.loads(line.removeprefix("BENCH-JSON "))
    reps_data = data["reps"]
    # Once more with an empty cache: the first start on a machine runs initdb.
    with tempfile.TemporaryDirectory() as empty_cache:
        first = ["uv", "run", "python", "-c", SERVER_PROBE, "1", "0"]
        _, proc = run_timed(first, cwd=project, extra_env={"XDG_CACHE_HOME": empty_cache})
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-JSON "))
    first_start = json.loads(line.removeprefix("BENCH-JSON "))["reps"][0]["postgres_start_s"]

    def col(key: str) -> list[float]:
        return [r[key] for r in reps_data]

    def mem(backend: str, key: str) -> list[float]:
        return [r[f"{backend}_memory"][key] / MIB for r in reps_data]

    phase_names = sorted({p for r in reps_data for p in r.get("postgres_phases_s", {})})
    combined = [r["postgres_start_s"] + r["redis_start_s"] for r in reps_data]
    result = {
        "import_s": data["import_s"],
        "postgres_start_s": summary(col("postgres_start_s")),
        "redis_start_s": summary(col("redis_start_s")),
        "combined_start_s": summary(combined),
        "postgres_first_start_s": first_start,
        "postgres_phases_s": {
            p: summary([r["postgres_phases_s"].get(p, 0.0) for r in reps_data]) for p in phase_names
        },
        "postgres_stop_s": summary(col("postgres_stop_s")),
        "redis_stop_s": summary(col("redis_stop_s")),
        "postgres_idle_pss_mib": summary(mem("postgres", "pss_bytes")),
        "postgres_idle_rss_mib": summary(mem("postgres", "rss_bytes")),
        "postgres_processes": reps_data[0]["postgres_memory"]["processes"],
        "redis_idle_pss_mib": summary(mem("redis", "pss_bytes")),
        "redis_idle_rss_mib": summary(mem("redis", "rss_bytes")),
        "idle_wait_s": idle_s,
        "versions": reps_data[0]["versions"],
        "sources": reps_data[0]["sources"],
    }
    log(
        f"server start: postgres p50 {result['postgres_start_s']['p50']:.3f} s, "
        f"redis p50 {result['redis_start_s']['p50']:.3f} s, "
        f"idle postgres PSS p50 {result['postgres_idle_pss_mib']['p50']:.1f} MiB"
    )
    return result


OVERHEAD_CONFTEST = textwrap.dedent(
    '''
    """Times each test's setup and teardown phase (fixtures included) for the benchmark."""

    from __future__ import annotations

    import json
    import os
    import time
    from collections.abc import Generator

    import pytest

    _DURATIONS: list[dict[str, object]] = []


    def _record(item: pytest.Item, phase: str, seconds: float) -> None:
        kind = getattr(item, "originalname", item.name).removeprefix("test_")
        _DURATIONS.append({"kind": kind, "phase": phase, "nodeid": item.nodeid, "s": seconds})


    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
        start = time.perf_counter()
        try:
            return (yield)
        finally:
            _record(item, "setup", time.perf_counter() - start)


    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
        start = time.perf_counter()
        try:
            return (yield)
        finally:
            _record(item, "teardown", time.perf_counter() - start)


    def pytest_sessionfinish(session: pytest.Session) -> None:
        out = os.environ.get("BENCH_OVERHEAD_OUT")
        if out and _DURATIONS:
            with open(out, "w") as fh:
                json.dump(_DURATIONS, fh)
    '''
).lstrip()

OVERHEAD_TESTS = textwrap.dedent(
    '''
    """Per-test fixture overhead benchmark; each test body does one trivial operation.

    ``warmup`` pays for the session fixtures (server start, migration) and ``cooldown``
    for their teardown, so the measured kinds see only per-test costs.
    """

    from __future__ import annotations

    import os

    import psycopg
    import pytest
    import redis
    from sqlalchemy import text
    from sqlalchemy.orm import Session


    def _count(name: str, default: int) -> range:
        return range(int(os.environ.get(f"BENCH_N_{name}", default)))


    def test_warmup(db_session: Session, clean_database: str, redis_client: redis.Redis) -> None:
        db_session.execute(text("SELECT 1"))
        redis_client.ping()


    @pytest.mark.parametrize("i", _count("BASELINE", 200))
    def test_baseline(i: int) -> None:
        pass


    @pytest.mark.parametrize("i", _count("DB_SESSION", 200))
    def test_db_session(db_session: Session, i: int) -> None:
        db_session.execute(text("SELECT 1"))


    @pytest.mark.parametrize("i", _count("CLEAN_DATABASE", 50))
    def test_clean_database(clean_database: str, i: int) -> None:
        with psycopg.connect(clean_database) as conn:
            conn.execute("SELECT 1")


    @pytest.mark.parametrize("i", _count("REDIS_CLIENT", 200))
    def test_redis_client(redis_client: redis.Redis, i: int) -> None:
        redis_client.set("bench", i)


    def test_cooldown(db_session: Session, clean_database: str, redis_client: redis.Redis) -> None:
        pass
    '''
).lstrip()


def fixture_overhead(project: Path, counts: dict[str, int]) -> dict[str, Any]:
    folder = project / "tests" / BENCH_DIR
    folder.mkdir(exist_ok=True)
    (folder / "__init__.py").write_text("")
    (folder / "conftest.py").write_text(OVERHEAD_CONFTEST)
    (folder / "test_overhead.py").write_text(OVERHEAD_TESTS)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    env_counts = {f"BENCH_N_{k.upper()}": str(v) for k, v in counts.items()}
    argv = [*PYTEST, "-q", "-n", "0", f"tests/{BENCH_DIR}"]
    elapsed, proc = run_timed(
        argv, cwd=project, check=False, extra_env=env_counts | {"BENCH_OVERHEAD_OUT": str(out)}
    )
    outcome = pytest_outcome(proc.stdout) | {"returncode": proc.returncode}
    try:
        records = json.loads(out.read_text() or "[]")
    finally:
        out.unlink(missing_ok=True)
    if proc.returncode != 0:
        log(f"overhead run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")

    by_test: dict[str, dict[str, float]] = {}
    kinds: dict[str, str] = {}
    for rec in records:
        by_test.setdefault(rec["nodeid"], {})[rec["phase"]] = rec["s"]
        kinds[rec["nodeid"]] = rec["kind"]
    result: dict[str, Any] = {
        "command": " ".join(argv),
        "wall_s": elapsed,
        "outcome": outcome,
        "counts": counts,
    }
    fixtures: dict[str, Any] = {}
    for kind in ("baseline", "db_session", "clean_database", "redis_client"):
        tests = [p for nid, p in by_test.items() if kinds[nid] == kind]
        setup = [p["setup"] * 1000 for p in tests if "setup" in p]
        teardown = [p["teardown"] * 1000 for p in tests if "teardown" in p]
        total = [(p["setup"] + p["teardown"]) * 1000 for p in tests if len(p) == 2]
        fixtures[kind] = {
            "setup_ms": dist(setup),
            "teardown_ms": dist(teardown),
            "total_ms": dist(total),
        }
    base_p50 = fixtures["baseline"]["total_ms"]["p50"] or 0.0
    for kind in ("db_session", "clean_database", "redis_client"):
        p50 = fixtures[kind]["total_ms"]["p50"]
        fixtures[kind]["net_of_baseline_p50_ms"] = None if p50 is None else p50 - base_p50
    warm = [p for nid, p in by_test.items() if kinds[nid] == "warmup"]
    if warm:
        result["warmup_setup_s"] = warm[0].get("setup")
    result["fixtures"] = fixtures
    log(
        "fixture overhead p50: "
        + ", ".join(
            f"{k} {v['total_ms']['p50']:.2f} ms"
            for k, v in fixtures.items()
            if v["total_ms"]["p50"] is not None
        )
    )
    return result


def suite_wall(project: Path, reps: int, workers: Sequence[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for n in workers:
        argv = [*PYTEST, "-q", "-n", n, f"--ignore=tests/{BENCH_DIR}"]
        times: list[float] = []
        outcomes: list[dict[str, Any]] = []
        for _ in range(reps):
            elapsed, proc = run_timed(argv, cwd=project, check=False)
            times.append(elapsed)
            outcomes.append(pytest_outcome(proc.stdout) | {"returncode": proc.returncode})
        results[f"n{n}"] = summary(times) | {"command": " ".join(argv), "outcomes": outcomes}
        if any(o["returncode"] != 0 for o in outcomes):
            results[f"n{n}"]["error"] = "pytest exited non-zero; see outcomes"
        log(f"suite -n {n}: p50 {results[f'n{n}']['p50']:.2f} s")
    return results


# --------------------------------------------------------------------------- report


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "loadavg_start": list(os.getloadavg()),
        "platform": platform.platform(),
        "runner_python": platform.python_version(),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with contextlib.suppress(OSError, StopIteration):
        info["cpu_model"] = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    with contextlib.suppress(OSError, AttributeError):
        meminfo = Path("/proc/meminfo").read_text()
        found = re.search(r"MemTotal:\s+(\d+)", meminfo)
        info["mem_total_mib"] = int(found.group(1)) // 1024  # type: ignore[union-attr]
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        info["uv"] = subprocess.run(
            ["uv", "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
    return info


def fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def fmt(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    fx = results.get("fixture_overhead", {}).get("fixtures", {})
    srv = results.get("servers", {})

    def add(name: str, label: str, value: float | None, unit: str) -> None:
        target = TARGETS[name]
        status = "n/a" if value is None else ("PASS" if value <= target else "MISS")
        out.append(
            {"target": name, "label": label, "value": value, "limit": target,
             "unit": unit, "status": status}
        )  # fmt: skip

    add("rollback_isolation_p50_ms", "rollback isolation (db_session) p50",
        fx.get("db_session", {}).get("total_ms", {}).get("p50"), "ms")  # fmt: skip
    add("clean_database_p50_ms", "clean database (clone) p50",
        fx.get("clean_database", {}).get("total_ms", {}).get("p50"), "ms")  # fmt: skip
    pg = srv.get("postgres_start_s", {}).get("p50")
    rd = srv.get("redis_start_s", {}).get("p50")
    add("local_cold_start_pg_plus_redis_s", "Postgres + Redis local cold start (p50 sum)",
        None if pg is None or rd is None else pg + rd, "s")  # fmt: skip
    add("idle_postgres_mib", "idle Postgres PSS (p50)",
        srv.get("postgres_idle_pss_mib", {}).get("p50"), "MiB")  # fmt: skip
    return out


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    srv = results.get("servers", {})
    lines = [
        "# Proving Ground benchmark",
        "",
        f"Run {m['time_utc']} ({'quick' if results['quick'] else 'full'} mode), "
        f"total {results.get('total_s', 0):.0f} s.",
        "",
        "## Machine",
        "",
        f"- nproc: {m['nproc']} (cpu_count {m['cpu_count']}), {m.get('cpu_model', '?')}, "
        f"{m.get('mem_total_mib', '?')} MiB RAM",
        f"- load average at start: {' / '.join(f'{x:.2f}' for x in m['loadavg_start'])}"
        f" (1/5/15 min); at end: "
        f"{' / '.join(f'{x:.2f}' for x in m.get('loadavg_end', []))}",
        f"- platform: {m['platform']}; {m.get('uv', 'uv ?')}",
        f"- Python: project {results.get('project_python', '?')}, runner {m['runner_python']}",
        f"- PostgreSQL: {srv.get('versions', {}).get('postgres', '?')} "
        f"({srv.get('sources', {}).get('postgres', '?')})",
        f"- Redis: {srv.get('versions', {}).get('redis', '?')} "
        f"({srv.get('sources', {}).get('redis', '?')})",
        "",
        "## Targets",
        "",
        "| target | value | limit | result |",
        "|---|---:|---:|---|",
    ]
    for v in results["targets"]:
        lines.append(
            f"| {v['label']} | {fmt(v['value'])} {v['unit']} | ≤ {v['limit']:g} {v['unit']} "
            f"| {v['status']} |"
        )
    lines += [
        "",
        "## Timings (seconds)",
        "",
        "| measure | n | min | p50 | max |",
        "|---|---:|---:|---:|---:|",
    ]

    def row(label: str, s: dict[str, Any] | None) -> None:
        if s:
            cells = " | ".join(fmt_s(s[k]) for k in ("min", "p50", "max"))
            lines.append(f"| {label} | {s['n']} | {cells} |")

    setup = results.get("setup", {})
    if "render_s" in setup:
        lines.append(f"| render (copier copy) | 1 | | {setup['render_s']:.3f} | |")
    if "install_s" in setup:
        lines.append(
            f"| install (uv sync; not in time to first test) | 1 | | {setup['install_s']:.3f} | |"
        )
    ttft = results.get("time_to_first_test", {})
    row("`uv run python -c pass` (uv + interpreter floor)", ttft.get("uv_run_python_noop"))
    row("first test: `tests/unit` (no services)", ttft.get("unit"))
    row("first test: one Postgres test (cold, incl. server start)", ttft.get("one_postgres_test"))
    row("Postgres local start (fresh run dir)", srv.get("postgres_start_s"))
    for phase, s in srv.get("postgres_phases_s", {}).items():
        row(f"&nbsp;&nbsp;phase: {phase}", s)
    row("Redis local start (fresh run dir)", srv.get("redis_start_s"))
    row("Postgres + Redis start", srv.get("combined_start_s"))
    first = srv.get("postgres_first_start_s")
    if first is not None:
        lines.append(
            f"| Postgres first start on a machine (initdb, fills the cluster cache) "
            f"| 1 | | {first:.3f} | |"
        )
    row("Postgres stop (SIGINT, fast shutdown)", srv.get("postgres_stop_s"))
    row("Redis stop", srv.get("redis_stop_s"))
    for key, s in results.get("suite", {}).items():
        row(f"project suite `-n {key[1:]}`", s)

    lines += [
        "",
        "## Idle memory (MiB, after ~1 s idle)",
        "",
        "| server | n | min | p50 | max |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, key in (
        (
            f"Postgres PSS (postmaster + {srv.get('postgres_processes', '?')} processes total)",
            "postgres_idle_pss_mib",
        ),
        ("Postgres RSS (summed, double counts shared pages)", "postgres_idle_rss_mib"),
        ("Redis PSS", "redis_idle_pss_mib"),
        ("Redis RSS", "redis_idle_rss_mib"),
    ):
        s = srv.get(key)
        if s:
            cells = " | ".join(fmt(s[k], 1) for k in ("min", "p50", "max"))
            lines.append(f"| {label} | {s['n']} | {cells} |")

    fo = results.get("fixture_overhead")
    if fo:
        lines += [
            "",
            "## Per-test fixture overhead (ms, setup + teardown phase, measured by hookwrappers)",
            "",
            "| fixture | n | setup p50 | teardown p50 | total p50 | total p95 | total max "
            "| p50 net of baseline |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for kind, d in fo["fixtures"].items():
            t = d["total_ms"]
            lines.append(
                f"| {kind} | {t['n']} | {fmt(d['setup_ms']['p50'])} "
                f"| {fmt(d['teardown_ms']['p50'])} "
                f"| {fmt(t['p50'])} | {fmt(t['p95'])} | {fmt(t['max'])} "
                f"| {fmt(d.get('net_of_baseline_p50_ms'))} |"
            )
        lines += [
            "",
            f"Benchmark run: `{fo['command']}`, wall {fo['wall_s']:.1f} s, "
            f"outcome {json.dumps(fo['outcome'])}; first test (session setup: servers, "
            f"migration) {fmt(fo.get('warmup_setup_s'))} s, excluded.",
        ]
    if results.get("errors"):
        lines += ["", "## Errors", ""] + [f"- {e}" for e in results["errors"]]
    notes = results.get("notes", [])
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--project", type=Path, help="reuse a rendered and synced project "
                        "(skips render/install; writes tests/bench_overhead into it)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the rendered project")
    parser.add_argument("--out-dir", type=Path, default=HERE, help="where results go")
    args = parser.parse_args()

    started = time.perf_counter()
    reps = {
        "ttft": 2 if args.quick else 5,
        "servers": 2 if args.quick else 5,
        "suite": 1 if args.quick else 3,
    }
    counts = (
        {"baseline": 50, "db_session": 50, "clean_database": 20, "redis_client": 50}
        if args.quick
        else {"baseline": 200, "db_session": 200, "clean_database": 50, "redis_client": 200}
    )
    results: dict[str, Any] = {
        "quick": args.quick,
        "repetitions": reps,
        "machine": machine_info(),
        "setup": {},
        "errors": [],
        "notes": [
            "time to first test includes `uv run` start-up and pytest collection; servers "
            "start lazily on first use, so the Postgres figure includes initdb and start.",
            "server start figures come from start_local() called directly, each repetition "
            "with a fresh run directory (Run.create); OS page cache is warm after the first.",
            "fixture overhead = the test's setup phase + teardown phase (all its fixtures, "
            "plus pytest's own per-test cost, shown as 'baseline'); bodies run one trivial "
            "query so the rollback is a real round trip.",
        ],
        "targets": [],
    }
    log(f"machine: nproc {results['machine']['nproc']}, load {results['machine']['loadavg_start']}")

    tmp: Path | None = None
    if args.project:
        project = args.project.resolve()
        results["project"] = str(project)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="pg-bench-"))
        project = tmp / "project"
        results["project"] = str(project)
        log(f"rendering {REPO} into {project}")
        results["setup"]["render_s"] = render(project)
        log(f"render {results['setup']['render_s']:.2f} s; uv sync ...")
        results["setup"]["install_s"] = install(project)
        log(f"install {results['setup']['install_s']:.2f} s")

    try:
        _, proc = run_timed(["uv", "run", "python", "-V"], cwd=project)
        results["project_python"] = proc.stdout.strip().removeprefix("Python ")

        stages: tuple[tuple[str, Callable[[], dict[str, Any]]], ...] = (
            ("time_to_first_test", lambda: time_to_first_test(project, reps["ttft"])),
            ("servers", lambda: server_starts(project, reps["servers"])),
            ("fixture_overhead", lambda: fixture_overhead(project, counts)),
            ("suite", lambda: suite_wall(project, reps["suite"], ("0", "2"))),
        )
        for name, stage in stages:
            try:
                results[name] = stage()
            except Exception as error:  # report and carry on with the other stages
                results["errors"].append(f"{name}: {type(error).__name__}: {error}")
                log(f"stage {name} failed: {error}")
    finally:
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp is not None:
            log(f"kept {project}")

    results["machine"]["loadavg_end"] = list(os.getloadavg())
    results["total_s"] = time.perf_counter() - started
    results["targets"] = verdicts(results)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report = markdown(results)
    (args.out_dir / "results.md").write_text(report)
    print(report)
    for v in results["targets"]:
        print(
            f"{v['status']:4}  {v['label']}: {fmt(v['value'])} {v['unit']} "
            f"(target ≤ {v['limit']:g} {v['unit']})"
        )
    log(f"wrote {args.out_dir / 'results.json'} and results.md in {results['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
