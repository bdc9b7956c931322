"""A freshly rendered project with all five backends: what a user of its suite waits for.

    uv run python -m benchmarks suite [--quick] [--project DIR] [--keep]

Renders the template (Python 3.11; postgres, redis, mongo, kafka, s3), installs it and
measures:

* render and install (``uv sync``), reported apart;
* time to first test: ``uv run pytest`` on the unit tests (no services) and on one test
  of each backend, cold (each run starts its own server);
* local server starts of every backend into a fresh run directory (``started_in``, as
  the plumbing records it; PostgreSQL's split into phases from its launch record and
  log), the first start on an empty cache, and each server's idle memory;
* the per-test cost (setup + teardown, net of a test with no fixture) of ``db_session``,
  ``clean_database``, ``redis_client``, ``mongo_database``, ``kafka_topic`` +
  ``kafka_group_id`` and ``s3_bucket``;
* the project's own suite at ``-n 0`` and ``-n 2``.

Kafka comes from ``KAFKA_HOME`` and MongoDB from FerretDB (``.ci/provision``): **the
Mongo figures are FerretDB's**. Targets are reported as PASS/MISS; a miss never fails
the run: timings on a shared machine are not a correctness check.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .in_project.timing import FIRST_TEST_ENV
from .project import PROBES, Project, find_python, provision, run
from .report import Report, log
from .stats import distribution, fmt
from .timings import outcome, timed_pytest

MIB = 1024 * 1024
BACKENDS = ("postgres", "redis", "mongo", "kafka", "s3")
# One example test per backend, run alone and cold for the time to first test.
FIRST_TESTS = {
    "postgres": "test_added_user_is_found_by_normalized_email",
    "redis": "test_get_or_load_loads_once_then_serves_from_redis",
    "mongo": "test_added_product_is_found_by_normalized_sku",
    "kafka": "test_published_event_round_trips_through_kafka",
    "s3": "test_put_then_get_returns_the_bytes_and_keeps_the_type",
}
# The fixture kinds measured per backend (in_project/test_<backend>.py) and what they do.
ISOLATION = {
    "postgres": {
        "db_session": "a transaction rolled back after the test",
        "clean_database": "`CREATE DATABASE ... TEMPLATE` of the migrated database, dropped after",
    },
    "redis": {"redis_client": "`FLUSHDB` of the worker's database before and after"},
    "mongo": {"mongo_database": "a database per test, dropped after"},
    "kafka": {"kafka_topic_group": "a topic and a consumer group id per test, deleted after"},
    "s3": {"s3_bucket": "a bucket per test, emptied (all versions) and deleted after"},
}
# What each fixture's work costs at the least, done by hand on an open connection
# (in_project/test_floors.py): fixture kind -> (floor, how many the fixture needs, what).
FLOORS = {
    "db_session": ("postgres_begin_rollback", 1, "`BEGIN` + `ROLLBACK`"),
    "clean_database": (
        "postgres_clone_drop",
        1,
        "`CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY` + `DROP`",
    ),
    "redis_client": ("redis_flushdb", 2, "`FLUSHDB`, before and after (x2)"),
    "mongo_database": ("mongo_drop_database", 1, "`dropDatabase` of a one-document database"),
    "kafka_topic_group": ("kafka_create_delete_topic", 1, "create + delete a topic"),
    "s3_bucket": ("s3_create_delete_bucket", 1, "create + delete an empty bucket"),
}
# One request that does nothing, per backend: the round trip itself.
ROUND_TRIPS = {
    "postgres": ("postgres_select_1", "`SELECT 1`"),
    "redis": ("redis_ping", "`PING`"),
    "mongo": ("mongo_ping", "`ping`"),
    "kafka": ("kafka_metadata", "metadata request"),
    "s3": ("s3_list_buckets", "`ListBuckets`"),
}
LABELS = {
    "postgres": "PostgreSQL",
    "redis": "Redis",
    "mongo": "MongoDB",
    "kafka": "Kafka",
    "s3": "S3 (moto)",
}
TARGETS = {  # name: (label, limit, unit)
    "rollback_p50_ms": ("rollback isolation (`db_session`), per test", 2.0, "ms"),
    "clean_database_p50_ms": (
        "clean database (`clean_database`), per test (`suite`: back-to-back tests that "
        "connect and `SELECT 1`; setup + teardown net of a bare test, the body left out)",
        2.0,
        "ms",
    ),
    "clean_database_p99_ms": ("clean database, per test, p99 (the same tests)", 10.0, "ms"),
    "warm_first_test_s": (
        "warm run (`--services-up`): `uv run pytest` to the first of one PostgreSQL and "
        "one Redis test",
        0.3,
        "s",
    ),
    "warm_own_cost_s": (
        "the same warm run less bare pytest with the same installed plugins (the suite's own cost)",
        0.3,
        "s",
    ),
    "pg_redis_start_s": ("Postgres + Redis local cold start, together", 1.0, "s"),
    "idle_postgres_mib": ("idle Postgres memory (PSS)", 100.0, "MiB"),
}
PYTEST = ("uv", "run", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly")


def time_to_first_test(project: Project, reps: int, backends: list[str]) -> dict[str, Any]:
    ignore = f"--ignore={PROBES}"
    commands = {"unit": [*PYTEST, "-x", "-q", "tests/unit", ignore]}
    for backend in backends:
        commands[backend] = [*PYTEST, "-x", "-q", "tests", ignore, "-k", FIRST_TESTS[backend]]
    results: dict[str, Any] = {}
    for name, argv in commands.items():
        times, counts = [], []
        for _ in range(min(reps, 3) if name == "kafka" else reps):
            wall, done = run(argv, project.path, project.env, check=False)
            times.append(wall)
            counts.append(outcome(done.stdout) | {"exit": done.returncode})
        results[name] = distribution(times, samples=True) | {"outcomes": counts}
        if any(c["exit"] != 0 for c in counts) or (
            name != "unit" and any(c.get("passed") != 1 for c in counts)
        ):
            raise RuntimeError(f"first test {name}: {counts}")
        log(f"first test, {name}: p50 {results[name]['p50']:.2f} s")
    return results


# The floors a warm run is read against, measured in the same run (``warm_runs``).
WARM_CASES = {
    "cold": "the project's run, servers of its own",
    "warm": "the project's run on warm servers (`--services-up`)",
    "bare_plugins": "bare pytest, the project's installed plugins (no conftest, one test)",
    "bare": "bare pytest, no third-party plugin (no conftest, one test)",
    "imports": "`python -c 'import pytest, sqlalchemy'` (process exit, not a first test)",
}
BYTECODE_NOTE = (
    "bytecode caches usable: `PYTHONDONTWRITEBYTECODE` removed from the runs' environment, "
    "so one untimed run of each case first writes them, as on a developer's machine"
)


def installed_plugins(project: Project) -> list[str]:
    """The pytest plugins installed in the project's environment (entry point names)."""
    _, done = project.python(
        "-c",
        "import importlib.metadata as m; "
        "print(' '.join(e.name for e in m.entry_points(group='pytest11')))",
    )
    return done.stdout.split()


def warm_runs(project: Project, reps: int, backends: list[str]) -> dict[str, Any]:
    """From starting ``uv run pytest`` to its first test's setup, for one PostgreSQL and
    one Redis test: with servers of its own (cold), then with the servers ``--services-up``
    keeps (warm: the migrated template reused), interleaved with the floors under it:
    pytest with the project's installed plugins and no conftest, pytest with no
    third-party plugin, and the imports any test of an SQLAlchemy app needs."""
    chosen = [b for b in ("postgres", "redis") if b in backends]
    # `python -m pytest`: the project folder on sys.path for `-p tests.pg_bench.timing`.
    # Random order stays on (as `uv run pytest` runs): pytest-randomly is a plugin the
    # project installs, and what it imports is part of every run.
    timed = ["uv", "run", "python", "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    timed += ["-p", "tests.pg_bench.timing"]
    argv = [*timed, "tests", f"--ignore={PROBES}"]
    argv += ["-k", " or ".join(FIRST_TESTS[b] for b in chosen)]
    # The floors: pytest itself, without the project's conftest, addopts or xdist's
    # workers; then without any plugin the project installed.
    one_test = f"{PROBES}/test_baseline.py::test_baseline[0]"
    bare_plugins = [*timed, "--noconftest", "-o", "addopts=", "-p", "no:xdist", one_test]
    off = [a for name in installed_plugins(project) for a in ("-p", f"no:{name}")]
    bare = [*timed, "--noconftest", "-o", "addopts=", *off, one_test]
    imports = ["uv", "run", "python", "-c", "import pytest, sqlalchemy"]
    # CPU time of the pytest process up to its first test, per case: on a loaded machine
    # the wall clock mostly measures the other processes; this hardly moves with them.
    cpu: dict[str, list[float]] = {"warm": [], "bare_plugins": [], "bare": []}

    def to_first_test(command: list[str], passed: int, case: str = "") -> float:
        with tempfile.TemporaryDirectory() as scratch:
            stamp = Path(scratch) / "first-test"
            started = time.time()
            _, done = run(command, project.path, {**project.env, FIRST_TEST_ENV: str(stamp)})
            if outcome(done.stdout).get("passed") != passed:
                raise RuntimeError(f"{' '.join(command)}: {done.stdout[-2000:]}")
            wall, used = stamp.read_text().split()
            if case:
                cpu[case].append(float(used))
            return float(wall) - started

    cases: dict[str, Callable[[], float]] = {
        "warm": lambda: to_first_test(argv, len(chosen), "warm"),
        "bare_plugins": lambda: to_first_test(bare_plugins, 1, "bare_plugins"),
        "bare": lambda: to_first_test(bare, 1, "bare"),
        "imports": lambda: run(imports, project.path, project.env)[0],
    }
    results: dict[str, Any] = {"backends": chosen, "disabled_plugins": [a[3:] for a in off[1::2]]}
    results["bytecode"] = BYTECODE_NOTE
    to_first_test(argv, len(chosen))  # bytecode of the project's own modules: not counted
    results["cold"] = distribution([to_first_test(argv, len(chosen)) for _ in range(reps)])
    samples: dict[str, list[float]] = {case: [] for case in cases}
    run([*PYTEST, "--services-up"], project.path, project.env, timeout=300)
    try:
        for measure in cases.values():  # the template under its key, caches: not counted
            measure()
        for values in cpu.values():
            values.clear()
        for i in range(reps):
            # Interleaved, each round starting with another case: the load drifts alike.
            names = list(cases)
            for case in names[i % len(names) :] + names[: i % len(names)]:
                samples[case].append(cases[case]())
    finally:
        run([*PYTEST, "--services-down"], project.path, project.env, timeout=300)
    for case, values in samples.items():
        results[case] = distribution(values)
    # Our own cost: each round's warm run less the same round's bare run (same plugins).
    results["own_cost"] = distribution(
        [w - b for w, b in zip(samples["warm"], samples["bare_plugins"], strict=True)]
    )
    results["cpu"] = {case: distribution(values) for case, values in cpu.items()}
    results["own_cost_cpu"] = distribution(
        [w - b for w, b in zip(cpu["warm"], cpu["bare_plugins"], strict=True)]
    )
    for case in (*WARM_CASES, "own_cost"):
        log(f"to first test, {case}: p50 {results[case]['p50']:.2f} s")
    log(f"own cost, CPU to first test: p50 {results['own_cost_cpu']['p50']:.2f} s")
    return results


def server_starts(project: Project, reps: int, backends: list[str]) -> dict[str, Any]:
    counts = {b: min(reps, 3) if b == "kafka" else reps for b in backends}
    data = probe_starts(project, counts, idle_s=1.0)
    # Once more on an empty cache: the first start on a machine runs initdb (Postgres)
    # and kafka-storage.sh format (Kafka).
    cached: dict[str, int] = {b: 1 for b in ("postgres", "kafka") if b in backends}
    with tempfile.TemporaryDirectory() as empty:
        first = probe_starts(project, cached, 0.0, {"XDG_CACHE_HOME": empty}) if cached else None
    reps_data = data["reps"]
    result: dict[str, Any] = {
        "import_s": data["import_s"],
        "versions": reps_data[0]["versions"],
        "sources": reps_data[0]["sources"],
        "first_start_s": first["reps"][0]["start_s"] if first else {},
    }
    for b in backends:
        mem = [r["memory"][b] for r in reps_data if b in r["memory"]]
        result[b] = {
            "start_s": distribution([r["start_s"][b] for r in reps_data if b in r["start_s"]]),
            "stop_s": distribution([r["stop_s"][b] for r in reps_data if b in r["stop_s"]]),
            "idle_pss_mib": distribution([m["pss_bytes"] / MIB for m in mem]),
            "idle_rss_mib": distribution([m["rss_bytes"] / MIB for m in mem]),
            "processes": mem[0]["processes"] if mem else None,
        }
    for b in backends:
        own = [r["phases_s"][b] for r in reps_data if b in r.get("phases_s", {})]
        if own:  # the plumbing's Endpoint.timings
            result[b]["phases_s"] = {
                name: distribution([p[name] for p in own if name in p]) for name in own[0]
            }
    if any("phases_s" in result[b] for b in backends):
        result["phases_source"] = "timings"
    phased = [r["postgres_phases_s"] for r in reps_data if "postgres_phases_s" in r]
    if phased and "phases_s" not in result.get("postgres", {}):
        result["phases_source"] = "postgres log"
        result["postgres"]["phases_s"] = {
            name: distribution([p[name] for p in phased]) for name in phased[0]
        }
    missing = {r["postgres_phases_error"] for r in reps_data if "postgres_phases_error" in r}
    if missing:
        result["postgres"]["phases_missing"] = sorted(missing)
    if "postgres" in backends and "redis" in backends:
        both = [r["start_s"]["postgres"] + r["start_s"]["redis"] for r in reps_data]
        result["pg_plus_redis_start_s"] = distribution(both)
    return result


def probe_starts(
    project: Project, reps: dict[str, int], idle_s: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """``in_project/server_starts.py`` inside the project; its JSON."""
    module = f"{PROBES.replace('/', '.')}.server_starts"
    _, done = project.python("-m", module, json.dumps(reps), str(idle_s), env=env or {})
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def fixture_costs(project: Project, counts: dict[str, int], backends: list[str]) -> dict[str, Any]:
    files = [f"{PROBES}/test_baseline.py", *(f"{PROBES}/test_{b}.py" for b in backends)]
    # The floors run in the same session, on the same servers, after the fixtures.
    files += [f"{PROBES}/test_floors.py::test_{b}_floors" for b in backends]
    env = {f"BENCH_N_{kind.upper()}": str(n) for kind, n in counts.items()}
    with tempfile.TemporaryDirectory() as scratch:
        floors_out = Path(scratch) / "floors.json"
        env["BENCH_FLOORS_OUT"] = str(floors_out)
        run = timed_pytest(project, [*files, f"{PROBES}/test_zz_cooldown.py"], env=env)
        floors: dict[str, list[float]] = json.loads(floors_out.read_text())
    kinds = ["baseline", *(k for b in backends for k in ISOLATION[b])]
    costs: dict[str, Any] = {"wall_s": run.wall_s, "outcome": run.outcome, "counts": counts}
    costs["floors"] = {name: distribution(samples) for name, samples in floors.items()}
    for kind in kinds:
        costs[kind] = {
            phase: distribution(run.per_test_ms(kind, phases))
            for phase, phases in (
                ("setup", ("setup",)),
                ("teardown", ("teardown",)),
                ("total", ("setup", "teardown")),
            )
        }
    base = costs["baseline"]
    for kind in kinds[1:]:
        # pytest's own typical per-test cost (the bare test's median) taken out of each
        # percentile; the bare test's own tail is the machine's, not a cost to subtract.
        costs[kind]["net"] = {
            f"{phase}_{q}": costs[kind][phase][q] - (base[phase]["p50"] or 0.0)
            for phase in ("setup", "teardown", "total")
            for q in ("p50", "p95", "p99")
            if costs[kind][phase][q] is not None
        }
    log(
        "per test p50, net: "
        + ", ".join(f"{k} {costs[k]['net'].get('total_p50', 0):.2f} ms" for k in kinds[1:])
    )
    return costs


def suite_wall(project: Project, reps: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for workers in ("0", "2"):
        argv = [*PYTEST, "-q", "-n", workers, f"--ignore={PROBES}"]
        times, counts = [], []
        for _ in range(reps):
            wall, done = run(argv, project.path, project.env, check=False)
            times.append(wall)
            counts.append(outcome(done.stdout) | {"exit": done.returncode})
        results[f"n{workers}"] = distribution(times, samples=True) | {"outcomes": counts}
        log(f"suite -n {workers}: p50 {results[f'n{workers}']['p50']:.1f} s, {counts[0]}")
    return results


def verdicts(data: dict[str, Any]) -> list[dict[str, Any]]:
    costs, servers = data.get("fixture_costs", {}), data.get("servers", {})

    def net(kind: str) -> float | None:
        value: float | None = costs.get(kind, {}).get("net", {}).get("total_p50")
        return value

    values = {
        "rollback_p50_ms": net("db_session"),
        "clean_database_p50_ms": net("clean_database"),
        "clean_database_p99_ms": costs.get("clean_database", {}).get("net", {}).get("total_p99"),
        "warm_first_test_s": data.get("warm_runs", {}).get("warm", {}).get("p50"),
        "warm_own_cost_s": data.get("warm_runs", {}).get("own_cost", {}).get("p50"),
        "pg_redis_start_s": servers.get("pg_plus_redis_start_s", {}).get("p50"),
        "idle_postgres_mib": servers.get("postgres", {}).get("idle_pss_mib", {}).get("p50"),
    }
    out = []
    for name, (label, limit, unit) in TARGETS.items():
        value = values[name]
        status = "n/a" if value is None else ("PASS" if value <= limit else "MISS")
        out.append(
            {
                "target": name,
                "label": label,
                "value": value,
                "limit": limit,
                "unit": unit,
                "status": status,
            }
        )
    return out


def label(backend: str, servers: dict[str, Any]) -> str:
    version = servers.get("versions", {}).get(backend, "")
    if backend == "mongo" and version.startswith("FerretDB"):
        return "MongoDB (FerretDB standing in)"
    return LABELS[backend]


def markdown(data: dict[str, Any]) -> list[str]:
    servers, costs = data.get("servers", {}), data.get("fixture_costs", {})
    backends: list[str] = data["backends"]
    lines = [
        "## Targets",
        "",
        "| target | measured (p50) | limit | result |",
        "|---|---:|---:|---|",
    ]
    for t in data.get("targets", []):
        lines.append(
            f"| {t['label']} | {fmt(t['value'])} {t['unit']} "
            f"| ≤ {t['limit']:g} {t['unit']} | {t['status']} |"
        )
    lines += [
        "",
        "## Per backend",
        "",
        "| backend | version | start p50 | idle PSS (RSS) | fixture | per test p50 / p99, net "
        "| what the isolation is |",
        "|---|---|---:|---:|---|---:|---|",
    ]
    for b in backends:
        s = servers.get(b, {})
        for i, (kind, what) in enumerate(ISOLATION[b].items()):
            net = costs.get(kind, {}).get("net", {})
            head = (
                f"| {label(b, servers)} | {servers.get('versions', {}).get(b, '?')} "
                f"| {fmt(s.get('start_s', {}).get('p50'), 3)} s "
                f"| {fmt(s.get('idle_pss_mib', {}).get('p50'), 1)} "
                f"({fmt(s.get('idle_rss_mib', {}).get('p50'), 1)}) MiB"
                if i == 0
                else "| | | |"
            )
            lines.append(
                f"{head} | `{kind}` | {fmt(net.get('total_p50'))} / "
                f"{fmt(net.get('total_p99'))} ms | {what} |"
            )
    lines += floor_table(data, backends)
    lines += [
        "",
        "## Timings (s)",
        "",
        "| measure | n | min | p50 | max |",
        "|---|---:|---:|---:|---:|",
    ]

    def row(name: str, d: dict[str, Any] | None) -> None:
        if d and d.get("n"):
            lines.append(
                f"| {name} | {d['n']} | {fmt(d['min'], 3)} | {fmt(d['p50'], 3)} "
                f"| {fmt(d['max'], 3)} |"
            )

    setup = data.get("setup", {})
    for key, name in (("render_s", "render (copier copy)"), ("install_s", "install (uv sync)")):
        if key in setup:
            lines.append(f"| {name} | 1 | | {setup[key]:.3f} | |")
    first = data.get("time_to_first_test", {})
    row("first test: `tests/unit` (no services)", first.get("unit"))
    for b in backends:
        row(f"first test: one {label(b, servers)} test, cold", first.get(b))
    warm = data.get("warm_runs", {})
    tests = " + ".join(label(b, servers) for b in warm.get("backends", []))
    for case, what in WARM_CASES.items():
        if case in ("cold", "warm"):
            what = f"{what}, {tests} tests"
        row(f"to first test: {what}", warm.get(case))
    row(
        "warm run less bare pytest with the same plugins, per round (our own cost)",
        warm.get("own_cost"),
    )
    for case in ("warm", "bare_plugins", "bare"):
        row(
            f"CPU time to first test (the pytest process): {WARM_CASES[case]}",
            warm.get("cpu", {}).get(case),
        )
    row(
        "CPU time to first test, warm less bare with the same plugins (our own cost)",
        warm.get("own_cost_cpu"),
    )
    for b in backends:
        row(f"{label(b, servers)} start (fresh run directory)", servers.get(b, {}).get("start_s"))
        for phase, d in servers.get(b, {}).get("phases_s", {}).items():
            row(f"&nbsp;&nbsp;{phase}", d)
    for b, seconds in servers.get("first_start_s", {}).items():
        lines.append(
            f"| {label(b, servers)} first start on a machine (empty cache) "
            f"| 1 | | {seconds:.3f} | |"
        )
    for b in backends:
        row(f"{label(b, servers)} stop", servers.get(b, {}).get("stop_s"))
    for key, d in data.get("suite", {}).items():
        row(f"project suite `-n {key[1:]}` ({d['outcomes'][0].get('passed', '?')} tests)", d)
    for missing in servers.get("postgres", {}).get("phases_missing", []):
        lines.append(f"\nPostgreSQL start phases missing: {missing}")
    return lines


def floor_table(data: dict[str, Any], backends: list[str]) -> list[str]:
    """Each fixture's per-test cost beside the same work done by hand (its floor)."""
    costs = data.get("fixture_costs", {})
    floors = costs.get("floors", {})
    servers = data.get("servers", {})
    lines = [
        "",
        "## Per-test cost against its floor",
        "",
        "| backend | round trip p50 | fixture | per test p50 / p99, net | floor: the same work "
        "by hand | floor p50 / p99 | cost / floor (p50) |",
        "|---|---:|---|---:|---|---:|---:|",
    ]
    for b in backends:
        trip_key, trip_what = ROUND_TRIPS[b]
        trip = floors.get(trip_key, {})
        for i, kind in enumerate(ISOLATION[b]):
            floor_key, times, what = FLOORS[kind]
            floor, net = floors.get(floor_key, {}), costs.get(kind, {}).get("net", {})
            floor_p50 = floor.get("p50")
            cost = net.get("total_p50")
            ratio = None if cost is None or not floor_p50 else cost / (times * floor_p50)
            head = (
                f"| {label(b, servers)} | {fmt(trip.get('p50'))} ms ({trip_what})"
                if i == 0
                else "| |"
            )
            lines.append(
                f"{head} | `{kind}` | {fmt(cost)} / {fmt(net.get('total_p99'))} ms | {what} "
                f"| {fmt(floor_p50)} / {fmt(floor.get('p99'))} ms "
                f"| {'-' if ratio is None else f'{ratio:.1f}x'} |"
            )
    return lines


def phases_note(servers: dict[str, Any]) -> str:
    """Where the start phases came from."""
    if servers.get("phases_source") == "postgres log":
        return (
            "Start phases: the plumbing records none (`Endpoint.timings`), so PostgreSQL's "
            "come from its launch record (start time in clock ticks, 10 ms) and its log "
            "(millisecond timestamps). Nothing is patched."
        )
    return "Start phases: the plumbing's own record of each start (`Endpoint.timings`)."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks suite", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (~4 min)")
    parser.add_argument("--project", type=Path, help="reuse a rendered, synced project")
    parser.add_argument("--keep", action="store_true", help="keep the rendered project")
    args = parser.parse_args(argv)
    reps = (
        {"first": 2, "servers": 2, "suite": 1, "warm": 5}
        if args.quick
        else {"first": 5, "servers": 5, "suite": 3, "warm": 11}
    )
    n = 50 if args.quick else 200
    counts = {
        "baseline": n,
        "db_session": n,
        "clean_database": n // 4,
        "redis_client": n,
        "mongo_database": n,
        "kafka_topic_group": n // 4,
        "s3_bucket": n,
        "floors": n // 2,
    }
    report = Report("suite", "A five-backend project", quick=args.quick)
    python = find_python("3.11")
    work = Path(tempfile.mkdtemp(prefix="pg-bench-suite-"))
    if args.project:
        project = Project.existing(args.project, python)
    else:
        answers = {"python_version": "3.11", "backends": list(BACKENDS)}
        project = Project.create(work / "project", python, **answers)
        report.data["setup"] = project.timings
    backends = [b for b in BACKENDS if b in project.backends()]
    report.data["backends"] = backends
    project.env.update(provision(backends))
    project.install_probes()
    if "mongo" in backends:
        report.notes.append(
            "MongoDB figures are FerretDB's (MongoDB wire protocol on SQLite), "
            "standing in for MongoDB: no mongod is installed here."
        )
    try:
        with report.stage("time to first test"):
            report.data["time_to_first_test"] = time_to_first_test(project, reps["first"], backends)
        with report.stage("warm runs"):
            report.data["warm_runs"] = warm_runs(project, reps["warm"], backends)
        with report.stage("server starts"):
            report.data["servers"] = server_starts(project, reps["servers"], backends)
        with report.stage("per-test costs"):
            report.data["fixture_costs"] = fixture_costs(project, counts, backends)
        with report.stage("project suite"):
            report.data["suite"] = suite_wall(project, reps["suite"])
    finally:
        if args.keep and not args.project:
            log(f"kept {project.path}")
        else:  # with --project the scratch directory holds nothing of it
            shutil.rmtree(work, ignore_errors=True)
    report.data["targets"] = verdicts(report.data)
    report.notes += [
        "Server starts go through the suite's own `acquire` (local provider pinned) into a "
        "fresh run directory; the time is the `started_in` it records.",
        phases_note(report.data.get("servers", {})),
        "Per-test cost: a test's setup + teardown phases, net of a test with no fixtures; "
        "bodies do one operation so the cleanup is real.",
        "Warm runs and their floors: interleaved rounds on the same warm servers, "
        f"{BYTECODE_NOTE}; random order on (pytest-randomly is one of the project's plugins). "
        "Plugins off for bare pytest: "
        + (", ".join(report.data.get("warm_runs", {}).get("disabled_plugins", [])) or "-")
        + ".",
    ]
    report.write(markdown(report.data))
    return 0
