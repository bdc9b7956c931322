"""Benchmark a freshly rendered Proving Ground project with all five backends.

Renders the template (python_version=3.11, backends postgres, redis, mongo, kafka, s3)
into a temporary directory, installs it, and measures what a user of the generated
suite waits for:

* render and install (``uv sync``) times, reported apart;
* time to first test: ``uv run pytest`` on the unit tests (no services) and on one test
  of each backend, cold (each run starts its own server);
* local server start times of every backend, each repetition into a fresh run
  directory, and the idle memory (PSS and RSS) of each server's process tree;
* per-test isolation overhead (setup + teardown) of ``db_session``, ``clean_database``,
  ``redis_client``, ``mongo_database``, ``kafka_topic`` + ``kafka_group_id`` and
  ``s3_bucket``, from a benchmark test folder written into the rendered project;
* wall time of the project's own suite at ``-n 0`` and ``-n 2``.

Kafka comes from ``KAFKA_HOME`` (``.ci/provision/kafka.sh``) and MongoDB from FerretDB
(``.ci/provision/ferretdb.sh``; its directory is put on PATH, so the suite's local
provider runs it when there is no ``mongod``): the Mongo figures are FerretDB's. S3 is
moto's server, installed by ``uv sync``.

Results go to ``benchmarks/results.json`` and ``benchmarks/results.md`` and a table is
printed. Targets are reported as PASS/MISS; a miss never changes the exit status.

Usage::

    uv run python benchmarks/run.py            # full run (~6-8 minutes on 2 cores)
    python3 benchmarks/run.py --quick          # fewer repetitions (~3 minutes)
    python3 benchmarks/run.py --project DIR    # reuse an already rendered, synced project
                                               # (benchmarks the backends it was made with)

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
BACKENDS = ("postgres", "redis", "mongo", "kafka", "s3")
# One test of each backend (from the template's example integration tests), run alone
# and cold for time to first test.
FIRST_TESTS = {
    "postgres": PG_TEST,
    "redis": "test_get_or_load_loads_once_then_serves_from_redis",
    "mongo": "test_added_product_is_found_by_normalized_sku",
    "kafka": "test_published_event_round_trips_through_kafka",
    "s3": "test_put_then_get_returns_the_bytes_and_keeps_the_type",
}
# What each backend's per-test isolation is; the fixture kinds measured for it.
ISOLATION = {
    "postgres": (
        ("db_session", "clean_database"),
        "db_session: a transaction rolled back after the test (SAVEPOINT for the test's "
        "commits); clean_database: CREATE DATABASE ... TEMPLATE of the migrated database, "
        "dropped after",
    ),
    "redis": (("redis_client",), "FLUSHDB of the worker's database before and after"),
    "mongo": (("mongo_database",), "a database per test, dropped after"),
    "kafka": (
        ("kafka_topic_group",),
        "a topic per test (created, waited for a leader, deleted) and a consumer group "
        "id per test (deleted after)",
    ),
    "s3": (("s3_bucket",), "a bucket per test, emptied (all versions) and deleted after"),
}
LABELS = {
    "postgres": "PostgreSQL",
    "redis": "Redis",
    "mongo": "MongoDB",
    "kafka": "Kafka",
    "s3": "S3",
}

# Environment that would point the generated suite somewhere other than its local,
# wheel-provided servers, or at another virtualenv.
STRIPPED_ENV = (
    "VIRTUAL_ENV",
    "CI",
    "TEST_SERVICES",
    "TEST_POSTGRES_URL",
    "TEST_REDIS_URL",
    "TEST_MONGO_URL",
    "TEST_KAFKA_URL",
    "TEST_S3_URL",
    "DATABASE_URL",
    "REDIS_URL",
    "MONGODB_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "AWS_ENDPOINT_URL",
    "FERRETDB_BIN",  # the provisioned ferretdb goes on PATH instead
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


# Set by provision(): KAFKA_HOME and a PATH with FerretDB's directory first.
PROJECT_ENV: dict[str, str] = {}


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
    env.setdefault("NO_COLOR", "1")
    return env | PROJECT_ENV


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
        "--trust", "--defaults", "--data", "python_version=3.11",
        "--data", f"backends=[{', '.join(BACKENDS)}]", str(REPO), str(dest),
    ]  # fmt: skip
    elapsed, _ = run_timed(argv, cwd=dest.parent)
    return elapsed


def project_backends(project: Path) -> list[str]:
    """The backends a rendered project was made with, from its Copier answers file."""
    answers = project / ".copier-answers.yml"
    found: list[str] = []
    with contextlib.suppress(OSError):
        lines = answers.read_text().splitlines()
        start = lines.index("backends:") + 1
        for line in lines[start:]:
            if not line.startswith("- "):
                break
            found.append(line[2:].strip().strip("'\""))
    return [b for b in BACKENDS if b in found]


def provision(backends: Sequence[str]) -> dict[str, Any]:
    """KAFKA_HOME and FerretDB from .ci/provision (cached after the first build)."""
    info: dict[str, Any] = {}
    path_dirs: list[str] = []
    scripts = {"kafka": "kafka.sh", "mongo": "ferretdb.sh"}
    for backend, script in scripts.items():
        if backend not in backends:
            continue
        argv = ["bash", str(REPO / ".ci" / "provision" / script)]
        elapsed, proc = run_timed(argv, cwd=REPO, timeout=1800)
        lines = proc.stdout.strip().splitlines()
        if not lines:
            raise RuntimeError(f"{script} printed no path")
        found = lines[-1].strip()
        info[f"{backend}_provision_s"] = elapsed
        if backend == "kafka":
            PROJECT_ENV["KAFKA_HOME"] = info["KAFKA_HOME"] = found
        else:
            info["ferretdb"] = found
            path_dirs.append(str(Path(found).parent))
    if path_dirs:
        PROJECT_ENV["PATH"] = os.pathsep.join([*path_dirs, os.environ.get("PATH", "")])
    mongod = shutil.which("mongod", path=PROJECT_ENV.get("PATH"))
    info["mongod_on_path"] = mongod
    if mongod and "mongo" in backends:
        log(f"note: {mongod} is on PATH; the suite prefers it to FerretDB")
    return info


def install(project: Path) -> float:
    elapsed, _ = run_timed(["uv", "sync"], cwd=project)
    return elapsed


PYTEST = ["uv", "run", "pytest", "-p", "no:cacheprovider"]


def time_to_first_test(project: Path, reps: int, backends: Sequence[str]) -> dict[str, Any]:
    ignore = f"--ignore=tests/{BENCH_DIR}"
    commands: dict[str, tuple[list[str], int]] = {
        "uv_run_python_noop": (["uv", "run", "python", "-c", "pass"], reps),
        "unit": ([*PYTEST, "-x", "-q", "tests/unit", ignore], reps),
    }
    for backend in backends:
        argv = [*PYTEST, "-x", "-q", "tests", ignore, "-k", FIRST_TESTS[backend]]
        # A Kafka run is several seconds (broker start, a consumer joining a group).
        commands[f"one_{backend}_test"] = (argv, min(reps, 3) if backend == "kafka" else reps)
    results: dict[str, Any] = {}
    for name, (argv, n) in commands.items():
        times: list[float] = []
        outcomes: list[dict[str, Any]] = []
        for _ in range(n):
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
            if any(o.get("passed", 0) != 1 for o in outcomes) and name != "unit":
                results[name]["error"] = "expected exactly one test to pass; see outcomes"
        log(f"time to first test, {name}: p50 {results[name]['p50']:.2f} s")
    return results


# Runs inside the generated project (``uv run python -c``), so ``tests`` is importable.
SERVER_PROBE = textwrap.dedent(
    r'''
    import json, os, signal, subprocess, sys, time
    from pathlib import Path

    import importlib

    # {"postgres": 5, "kafka": 3, ...}: starts per backend, in this order.
    REPS = json.loads(sys.argv[1])
    IDLE_S = float(sys.argv[2])

    t0 = time.perf_counter()
    modules = {name: importlib.import_module(f"tests.support.{name}") for name in REPS}
    from tests.support.processes import stop_process_group
    from tests.support.run import Run
    import_s = time.perf_counter() - t0
    pg = modules.get("postgres")


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

    if pg is not None:
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
    for i in range(max(REPS.values())):
        run = Run.create(1)
        endpoints = []
        rep = {"start_s": {}, "memory": {}, "stop_s": {}, "versions": {}, "sources": {}}
        try:
            for name, module in modules.items():
                if i >= REPS[name]:
                    continue
                phases.clear()
                start = time.perf_counter()
                ep = module.start_local(run)
                rep["start_s"][name] = time.perf_counter() - start
                endpoints.append(ep)
                rep["versions"][name] = ep.version
                rep["sources"][name] = ep.source
                if name == "postgres":
                    rep["postgres_phases_s"] = dict(phases)
            time.sleep(IDLE_S)  # idle time after the last server was ready
            for ep in endpoints:
                rep["memory"][ep.backend] = memory(ep.pid)
        finally:
            for ep in reversed(endpoints):
                start = time.perf_counter()
                stop_process_group(ep.pid, ep.stop_signal or signal.SIGTERM)
                rep["stop_s"][ep.backend] = time.perf_counter() - start
            run.remove()
        reps.append(rep)

    print("BENCH-JSON " + json.dumps({"import_s": import_s, "reps": reps}))
    '''
)


def _probe(project: Path, reps: dict[str, int], idle_s: float, **kw: Any) -> dict[str, Any]:
    argv = ["uv", "run", "python", "-c", SERVER_PROBE, json.dumps(reps), str(idle_s)]
    _, proc = run_timed(argv, cwd=project, timeout=600, **kw)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-JSON "))
    return json.loads(line.removeprefix("BENCH-JSON "))  # type: ignore[no-any-return]


def server_starts(
    project: Path, reps: int, backends: Sequence[str], idle_s: float = 1.0
) -> dict[str, Any]:
    # Kafka starts take seconds each: fewer repetitions.
    counts = {b: min(reps, 3) if b == "kafka" else reps for b in backends}
    data = _probe(project, counts, idle_s)
    reps_data = data["reps"]
    # Once more with an empty cache: the first start on a machine runs initdb (Postgres)
    # and kafka-storage.sh format (Kafka); the other servers keep nothing between runs.
    first_start: dict[str, float] = {}
    cached = {b: 1 for b in ("postgres", "kafka") if b in backends}
    if cached:
        with tempfile.TemporaryDirectory() as empty_cache:
            first = _probe(project, cached, 0, extra_env={"XDG_CACHE_HOME": empty_cache})
        first_start = first["reps"][0]["start_s"]

    def col(section: str, backend: str) -> list[float]:
        return [r[section][backend] for r in reps_data if backend in r[section]]

    def mem(backend: str, key: str) -> list[float]:
        return [r["memory"][backend][key] / MIB for r in reps_data if backend in r["memory"]]

    result: dict[str, Any] = {
        "import_s": data["import_s"],
        "idle_wait_s": idle_s,
        "repetitions": counts,
        "versions": reps_data[0]["versions"],
        "sources": reps_data[0]["sources"],
        "first_start_s": first_start,
    }
    for b in backends:
        result[b] = {
            "start_s": summary(col("start_s", b)),
            "stop_s": summary(col("stop_s", b)),
            "idle_pss_mib": summary(mem(b, "pss_bytes")),
            "idle_rss_mib": summary(mem(b, "rss_bytes")),
            "processes": reps_data[0]["memory"][b]["processes"],
        }
    if "postgres" in backends:
        phase_names = sorted({p for r in reps_data for p in r.get("postgres_phases_s", {})})
        result["postgres"]["phases_s"] = {
            p: summary([r["postgres_phases_s"].get(p, 0.0) for r in reps_data]) for p in phase_names
        }
    if "postgres" in backends and "redis" in backends:
        result["pg_plus_redis_start_s"] = summary(
            [r["start_s"]["postgres"] + r["start_s"]["redis"] for r in reps_data]
        )
    log(
        "server start p50: "
        + ", ".join(f"{b} {result[b]['start_s']['p50']:.3f} s" for b in backends)
        + "; idle PSS p50: "
        + ", ".join(f"{b} {result[b]['idle_pss_mib']['p50']:.1f} MiB" for b in backends)
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

OVERHEAD_HEAD = textwrap.dedent(
    '''
    """Per-test fixture overhead benchmark; each test body does one trivial operation.

    ``warmup`` pays for the session fixtures (server start, migration) and ``cooldown``
    for their teardown, so the measured kinds see only per-test costs.
    """

    from __future__ import annotations

    import os
    from typing import Any

    import pytest


    def _count(name: str, default: int) -> range:
        return range(int(os.environ.get(f"BENCH_N_{name}", default)))


    @pytest.mark.parametrize("i", _count("BASELINE", 200))
    def test_baseline(i: int) -> None:
        pass
    '''
).lstrip()

# Per backend: the fixtures warmup and cooldown request, and the measured tests.
OVERHEAD_PARTS: dict[str, tuple[tuple[str, ...], str]] = {
    "postgres": (
        ("db_session", "clean_database"),
        """
        @pytest.mark.parametrize("i", _count("DB_SESSION", 200))
        def test_db_session(db_session: Any, i: int) -> None:
            from sqlalchemy import text

            db_session.execute(text("SELECT 1"))


        @pytest.mark.parametrize("i", _count("CLEAN_DATABASE", 50))
        def test_clean_database(clean_database: str, i: int) -> None:
            import psycopg

            with psycopg.connect(clean_database) as conn:
                conn.execute("SELECT 1")
        """,
    ),
    "redis": (
        ("redis_client",),
        """
        @pytest.mark.parametrize("i", _count("REDIS_CLIENT", 200))
        def test_redis_client(redis_client: Any, i: int) -> None:
            redis_client.set("bench", i)
        """,
    ),
    "mongo": (
        ("mongo_database",),
        """
        @pytest.mark.parametrize("i", _count("MONGO_DATABASE", 200))
        def test_mongo_database(mongo_database: Any, i: int) -> None:
            # A write creates the database, so the drop after the test is a real one.
            mongo_database.bench.insert_one({"i": i})
        """,
    ),
    "kafka": (
        ("kafka_topic", "kafka_group_id"),
        """
        @pytest.mark.parametrize("i", _count("KAFKA_TOPIC_GROUP", 50))
        def test_kafka_topic_group(
            kafka_topic: str, kafka_group_id: str, kafka_topics: Any, i: int
        ) -> None:
            kafka_topics.admin.list_topics(topic=kafka_topic, timeout=5)
        """,
    ),
    "s3": (
        ("s3_bucket", "s3_client"),
        """
        @pytest.mark.parametrize("i", _count("S3_BUCKET", 200))
        def test_s3_bucket(s3_bucket: str, s3_client: Any, i: int) -> None:
            # One object, so the teardown empties a bucket that has something in it.
            s3_client.put_object(Bucket=s3_bucket, Key="bench", Body=b"x")
        """,
    ),
}


def overhead_tests(backends: Sequence[str]) -> str:
    fixtures = [f for b in backends for f in OVERHEAD_PARTS[b][0]]
    params = ", ".join(f"{f}: Any" for f in fixtures)
    parts = [OVERHEAD_HEAD]
    parts.append(f"\n\ndef test_warmup({params}) -> None:\n    pass\n")
    parts += ["\n" + textwrap.dedent(OVERHEAD_PARTS[b][1]) for b in backends]
    parts.append(f"\n\ndef test_cooldown({params}) -> None:\n    pass\n")
    return "".join(parts)


def fixture_overhead(
    project: Path, counts: dict[str, int], backends: Sequence[str]
) -> dict[str, Any]:
    folder = project / "tests" / BENCH_DIR
    folder.mkdir(exist_ok=True)
    (folder / "__init__.py").write_text("")
    (folder / "conftest.py").write_text(OVERHEAD_CONFTEST)
    (folder / "test_overhead.py").write_text(overhead_tests(backends))
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
    measured = [k for b in backends for k in ISOLATION[b][0]]
    for kind in ("baseline", *measured):
        tests = [p for nid, p in by_test.items() if kinds[nid] == kind]
        setup = [p["setup"] * 1000 for p in tests if "setup" in p]
        teardown = [p["teardown"] * 1000 for p in tests if "teardown" in p]
        total = [(p["setup"] + p["teardown"]) * 1000 for p in tests if len(p) == 2]
        fixtures[kind] = {
            "setup_ms": dist(setup),
            "teardown_ms": dist(teardown),
            "total_ms": dist(total),
        }
    base = fixtures["baseline"]
    for kind in measured:
        # Each percentile minus the same percentile of the baseline (pytest's own cost).
        net: dict[str, float | None] = {}
        for phase in ("setup_ms", "teardown_ms", "total_ms"):
            for q in ("p50", "p95"):
                value, floor = fixtures[kind][phase][q], base[phase][q] or 0.0
                net[f"{phase.removesuffix('_ms')}_{q}_ms"] = (
                    None if value is None else value - floor
                )
        fixtures[kind]["net_of_baseline_ms"] = net
        fixtures[kind]["net_of_baseline_p50_ms"] = net["total_p50_ms"]
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
    pg = srv.get("postgres", {}).get("start_s", {}).get("p50")
    rd = srv.get("redis", {}).get("start_s", {}).get("p50")
    add("local_cold_start_pg_plus_redis_s", "Postgres + Redis local cold start (p50 sum)",
        None if pg is None or rd is None else pg + rd, "s")  # fmt: skip
    add("idle_postgres_mib", "idle Postgres PSS (p50)",
        srv.get("postgres", {}).get("idle_pss_mib", {}).get("p50"), "MiB")  # fmt: skip
    return out


def backend_label(backend: str, srv: dict[str, Any]) -> str:
    """``MongoDB (FerretDB 1.24 standing in for MongoDB)`` when FerretDB served it."""
    version = srv.get("versions", {}).get(backend, "")
    if backend == "mongo" and version.startswith("FerretDB"):
        found = re.match(r"FerretDB (\d+\.\d+)", version)
        return f"MongoDB (FerretDB {found[1] if found else '?'} standing in for MongoDB)"
    return LABELS[backend]


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    srv = results.get("servers", {})
    backends: list[str] = results.get("backends", [])
    lines = [
        "# Proving Ground benchmark",
        "",
        f"Run {m['time_utc']} ({'quick' if results['quick'] else 'full'} mode), "
        f"total {results.get('total_s', 0):.0f} s; backends: {', '.join(backends)}.",
        "",
        "## Machine",
        "",
        f"- nproc: {m['nproc']} (cpu_count {m['cpu_count']}), {m.get('cpu_model', '?')}, "
        f"{m.get('mem_total_mib', '?')} MiB RAM",
        f"- load average at start: {' / '.join(f'{x:.2f}' for x in m['loadavg_start'])}"
        f" (1/5/15 min); at end: "
        f"{' / '.join(f'{x:.2f}' for x in m.get('loadavg_end', []))}",
        "- 1-min load average after each stage: "
        + (
            ", ".join(f"{k} {v[0]:.2f}" for k, v in m.get("loadavg_after_stage", {}).items()) or "-"
        ),
        f"- platform: {m['platform']}; {m.get('uv', 'uv ?')}",
        f"- Python: project {results.get('project_python', '?')}, runner {m['runner_python']}",
    ]
    for b in backends:
        lines.append(
            f"- {backend_label(b, srv)}: {srv.get('versions', {}).get(b, '?')} "
            f"({srv.get('sources', {}).get(b, '?')})"
        )
    lines += [
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

    fx = results.get("fixture_overhead", {}).get("fixtures", {})
    if srv or fx:
        lines += [
            "",
            "## Per backend",
            "",
            "| backend | start p50 (s) | idle PSS p50 (MiB) | idle RSS p50 (MiB) "
            "| isolation fixture | per-test cost p50 / p95 (ms, net of baseline) "
            "| what the isolation is |",
            "|---|---:|---:|---:|---|---:|---|",
        ]
        for b in backends:
            d = srv.get(b, {})
            kinds, what = ISOLATION[b]
            costs = []
            for kind in kinds:
                net = fx.get(kind, {}).get("net_of_baseline_ms", {})
                costs.append(f"{fmt(net.get('total_p50_ms'))} / {fmt(net.get('total_p95_ms'))}")
            names = "<br>".join(
                "`kafka_topic` + `kafka_group_id`" if k == "kafka_topic_group" else f"`{k}`"
                for k in kinds
            )
            lines.append(
                f"| {backend_label(b, srv)} | {fmt(d.get('start_s', {}).get('p50'), 3)} "
                f"| {fmt(d.get('idle_pss_mib', {}).get('p50'), 1)} "
                f"| {fmt(d.get('idle_rss_mib', {}).get('p50'), 1)} "
                f"| {names} | {'<br>'.join(costs)} | {what} |"
            )

    lines += [
        "",
        "## Timings (seconds)",
        "",
        "| measure | n | min | p50 | max |",
        "|---|---:|---:|---:|---:|",
    ]

    def row(label: str, s: dict[str, Any] | None) -> None:
        if s and s.get("n"):
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
    for b in backends:
        row(
            f"first test: one {backend_label(b, srv)} test (cold, incl. server start)",
            ttft.get(f"one_{b}_test"),
        )
    for b in backends:
        d = srv.get(b, {})
        row(f"{backend_label(b, srv)} local start (fresh run dir)", d.get("start_s"))
        for phase, s in d.get("phases_s", {}).items():
            row(f"&nbsp;&nbsp;phase: {phase}", s)
    row("Postgres + Redis start", srv.get("pg_plus_redis_start_s"))
    first = srv.get("first_start_s", {})
    if "postgres" in first:
        lines.append(
            f"| Postgres first start on a machine (initdb, fills the cluster cache) "
            f"| 1 | | {first['postgres']:.3f} | |"
        )
    if "kafka" in first:
        lines.append(
            f"| Kafka first start on a machine (kafka-storage.sh format, fills the cache) "
            f"| 1 | | {first['kafka']:.3f} | |"
        )
    for b in backends:
        row(f"{backend_label(b, srv)} stop", srv.get(b, {}).get("stop_s"))
    for key, s in results.get("suite", {}).items():
        tests = s.get("outcomes", [{}])[0].get("passed", "?")
        row(f"project suite `-n {key[1:]}` ({tests} tests)", s)

    lines += [
        "",
        f"## Idle memory (MiB, ~{srv.get('idle_wait_s', 1):g} s after the last server was ready)",
        "",
        "| server | processes | PSS n | PSS min | PSS p50 | PSS max | RSS p50 (summed) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for b in backends:
        d = srv.get(b, {})
        pss, rss = d.get("idle_pss_mib"), d.get("idle_rss_mib")
        if pss and pss.get("n"):
            cells = " | ".join(fmt(pss[k], 1) for k in ("min", "p50", "max"))
            lines.append(
                f"| {backend_label(b, srv)} | {d.get('processes', '?')} | {pss['n']} | {cells} "
                f"| {fmt(rss['p50'], 1) if rss else '-'} |"
            )

    fo = results.get("fixture_overhead")
    if fo:
        lines += [
            "",
            "## Per-test fixture overhead (ms, setup and teardown phases, measured by "
            "hookwrappers)",
            "",
            "Net = the fixture's percentile minus the same percentile of `baseline` "
            "(a test with no fixtures: pytest's own per-test cost).",
            "",
            "| fixture | n | setup p50 | teardown p50 | total p50 | total p95 | total max "
            "| net setup p50 / p95 | net teardown p50 / p95 | net total p50 / p95 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for kind, d in fo["fixtures"].items():
            t = d["total_ms"]
            net = d.get("net_of_baseline_ms", {})

            def pair(phase: str, net: dict[str, Any] = net) -> str:
                if not net:
                    return "-"
                return f"{fmt(net[f'{phase}_p50_ms'])} / {fmt(net[f'{phase}_p95_ms'])}"

            label = "kafka_topic + kafka_group_id" if kind == "kafka_topic_group" else kind
            lines.append(
                f"| {label} | {t['n']} | {fmt(d['setup_ms']['p50'])} "
                f"| {fmt(d['teardown_ms']['p50'])} "
                f"| {fmt(t['p50'])} | {fmt(t['p95'])} | {fmt(t['max'])} "
                f"| {pair('setup')} | {pair('teardown')} | {pair('total')} |"
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
        {"baseline": 50, "db_session": 50, "clean_database": 20, "redis_client": 50,
         "mongo_database": 50, "kafka_topic_group": 15, "s3_bucket": 50}
        if args.quick
        else {"baseline": 200, "db_session": 200, "clean_database": 50, "redis_client": 200,
              "mongo_database": 200, "kafka_topic_group": 50, "s3_bucket": 200}
    )  # fmt: skip
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
            "operation so the cleanup is real: a query (rollback), a SET, a Mongo insert "
            "(the database exists when dropped), a PUT of one object (the bucket is "
            "emptied before it is deleted); the Kafka body only reads the topic's "
            "metadata, so its group is never joined and deleting it is one round trip.",
            f"Kafka is measured with fewer repetitions ({min(reps['servers'], 3)} starts, "
            f"{min(reps['ttft'], 3)} cold first tests): each takes seconds.",
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

    backends = project_backends(project)
    results["backends"] = backends
    log(f"backends: {', '.join(backends)}")
    if "mongo" in backends:
        results["notes"].append(
            "MongoDB figures are FerretDB's (1.x, SQLite backend) standing in for MongoDB: "
            "no mongod is installed here; the suite's local provider runs FerretDB when "
            "ferretdb is on PATH and mongod is not."
        )
    try:
        results["environment"] = provision(backends)
    except Exception as error:  # the stages report what is missing
        results["errors"].append(f"provision: {type(error).__name__}: {error}")
        log(f"provisioning failed: {error}")

    try:
        _, proc = run_timed(["uv", "run", "python", "-V"], cwd=project)
        results["project_python"] = proc.stdout.strip().removeprefix("Python ")

        stages: tuple[tuple[str, Callable[[], dict[str, Any]]], ...] = (
            ("time_to_first_test", lambda: time_to_first_test(project, reps["ttft"], backends)),
            ("servers", lambda: server_starts(project, reps["servers"], backends)),
            ("fixture_overhead", lambda: fixture_overhead(project, counts, backends)),
            ("suite", lambda: suite_wall(project, reps["suite"], ("0", "2"))),
        )
        for name, stage in stages:
            try:
                results[name] = stage()
            except Exception as error:  # report and carry on with the other stages
                results["errors"].append(f"{name}: {type(error).__name__}: {error}")
                log(f"stage {name} failed: {error}")
            # Other work may share the machine: the load after each stage shows when.
            results["machine"].setdefault("loadavg_after_stage", {})[name] = list(os.getloadavg())
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
