"""Benchmarks for the ML-platform pieces: MLflow's server, Supabase auth, Beanie, AsyncOpenAI.

    uv run python benchmarks/ml_platform.py [--reps 3] [--project DIR]

Renders an async project with MongoDB (FerretDB, from .ci/provision/ferretdb.sh) and
MLflow, and the Supabase auth and OpenAI stand-ins; installs it; then measures

- the MLflow server's start and idle memory: the suite's launcher
  (``tests/support/mlflow_server.py``, one process) against ``mlflow server --workers 1``
  (what a user would start by hand), alternating in one run, with their ratio;
- the per-test cost (setup + teardown, net of a test with no fixture) of
  ``mlflow_experiment``, ``supabase_auth``, ``beanie_database`` and
  ``async_openai_client``;
- the installed size of ``mlflow-skinny`` (the app's dependency) and ``mlflow`` (the
  tests', with the server), each alone in a fresh virtual environment.

Writes ``benchmarks/ml-platform-results.md`` and ``.json`` (not committed). Timings on a
shared machine are noisy: the load average is recorded with them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from run import (  # the general benchmark's helpers (benchmarks/run.py)
    OVERHEAD_CONFTEST,
    OVERHEAD_HEAD,
    PYTEST,
    dist,
    log,
    machine_info,
    percentile,
    run_timed,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ANSWERS = {
    "backends": ["mongo", "mlflow"],
    "third_party_apis": ["supabase_auth", "openai"],
    "async_fixtures": True,
    "python_version": "3.11",
}

START_PROBE = textwrap.dedent(
    '''
    """Start MLflow's server both ways, alternately; print JSON."""

    import json, os, signal, sys, time
    from pathlib import Path

    from tests.support import mlflow as suite_mlflow
    from tests.support.processes import free_port, start_server, stop_process_group
    from tests.support.processes import wait_until_ready
    from tests.support.run import Run


    def tree(root: int) -> list[int]:
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, todo = [], [root]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found


    def pss_mib(root: int) -> float:
        total = 0
        for pid in tree(root):
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024


    def suite(run: Run) -> int:
        return suite_mlflow.start_local(run).pid


    def command(run: Run) -> int:
        data = run.dir / "mlflow"
        data.mkdir()
        port = free_port()
        argv = [
            str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{data / 'mlflow.db'}",
            "--artifacts-destination", str(data / "artifacts"),
        ]
        env = {**os.environ, **suite_mlflow.NO_TELEMETRY}
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        log = run.dir / "peer.log"
        process = start_server(run, "peer", argv, log, env=env)
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(lambda: suite_mlflow._answers(url), process, log, timeout=300)
        return process.pid


    results: dict[str, list[dict[str, float]]] = {"suite": [], "command": []}
    for rep in range(int(sys.argv[1])):
        kinds = sorted({"suite": suite, "command": command}.items(), reverse=rep % 2 == 1)
        for kind, start in kinds:
            run = Run.create(worker_count=1)
            pid = None
            try:
                started = time.perf_counter()
                pid = start(run)
                seconds = time.perf_counter() - started
                time.sleep(1.0)
                sample = {"start_s": seconds, "pss_mib": pss_mib(pid), "processes": len(tree(pid))}
                results[kind].append(sample)
            finally:
                if pid is not None:
                    stop_process_group(pid, signal.SIGTERM)
                run.remove()
    print(json.dumps(results))
    '''
).lstrip()

OVERHEAD_TESTS = textwrap.dedent(
    """

    from beanie import Document

    from tests.support.openai_stand_in import OpenAIStandIn


    class Item(Document):
        n: int


    @pytest.fixture
    def beanie_document_models() -> list[type[Document]]:
        return [Item]


    def test_warmup(mlflow_experiment: Any, supabase_auth: Any, beanie_database: Any,
                    async_openai_client: Any) -> None:
        pass


    @pytest.mark.parametrize("i", _count("MLFLOW_EXPERIMENT", 100))
    def test_mlflow_experiment(mlflow_experiment: Any, i: int) -> None:
        assert mlflow_experiment.experiment_id


    @pytest.mark.parametrize("i", _count("SUPABASE_AUTH", 200))
    def test_supabase_auth(supabase_auth: Any, i: int) -> None:
        assert supabase_auth.anon_key


    @pytest.mark.parametrize("i", _count("BEANIE_DATABASE", 100))
    async def test_beanie_database(beanie_database: Any, i: int) -> None:
        # A write creates the database, so the drop after the test is a real one.
        await Item(n=i).insert()


    @pytest.mark.parametrize("i", _count("ASYNC_OPENAI_CLIENT", 200))
    async def test_async_openai_client(
        async_openai_client: Any, openai_api: OpenAIStandIn, i: int
    ) -> None:
        assert openai_api.base_url


    def test_cooldown(mlflow_experiment: Any, supabase_auth: Any) -> None:
        pass
    """
)
MEASURED = ("mlflow_experiment", "supabase_auth", "beanie_database", "async_openai_client")


def provision_ferretdb() -> Path:
    done = subprocess.run(
        ["bash", str(REPO / ".ci" / "provision" / "ferretdb.sh")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return Path(done.stdout.strip().splitlines()[-1])


def project_env(ferretdb: Path) -> dict[str, str]:
    return {"PATH": f"{ferretdb.parent}{os.pathsep}{os.environ['PATH']}", "CI": "true"}


def render_and_install(dest: Path) -> None:
    sys.path.insert(0, str(REPO))
    from tests.conftest import render

    render(dest, **ANSWERS)
    run_timed(["uv", "sync", "-q"], cwd=dest)


def server_starts(project: Path, reps: int) -> dict[str, Any]:
    probe = project / "bench_mlflow_start.py"
    probe.write_text(START_PROBE)
    try:
        _, proc = run_timed(
            ["uv", "run", "python", probe.name, str(reps)], cwd=project, timeout=3600
        )
    finally:
        probe.unlink()
    raw = json.loads(proc.stdout.strip().splitlines()[-1])
    out: dict[str, Any] = {"raw": raw}
    for kind, samples in raw.items():
        out[kind] = {
            "start_p50_s": percentile([s["start_s"] for s in samples], 50),
            "pss_p50_mib": percentile([s["pss_mib"] for s in samples], 50),
            "processes": samples[0]["processes"],
        }
    out["start_ratio"] = out["command"]["start_p50_s"] / out["suite"]["start_p50_s"]
    out["pss_ratio"] = out["command"]["pss_p50_mib"] / out["suite"]["pss_p50_mib"]
    return out


def per_test(project: Path, env: dict[str, str]) -> dict[str, Any]:
    folder = project / "tests" / "bench_platform"
    folder.mkdir(exist_ok=True)
    (folder / "__init__.py").write_text("")
    (folder / "conftest.py").write_text(OVERHEAD_CONFTEST)
    (folder / "test_overhead.py").write_text(OVERHEAD_HEAD + OVERHEAD_TESTS)
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    argv = [*PYTEST, "-q", "-n", "0", "-p", "no:randomly", "tests/bench_platform"]
    elapsed, proc = run_timed(
        argv, cwd=project, check=False, extra_env=env | {"BENCH_OVERHEAD_OUT": str(out)}
    )
    records = json.loads(out.read_text() or "[]")
    out.unlink()
    if proc.returncode != 0:
        raise RuntimeError(f"overhead run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    phases: dict[str, dict[str, float]] = {}
    kinds: dict[str, str] = {}
    for record in records:
        phases.setdefault(record["nodeid"], {})[record["phase"]] = record["s"]
        kinds[record["nodeid"]] = record["kind"]
    result: dict[str, Any] = {"wall_s": elapsed}
    for kind in ("baseline", *MEASURED):
        totals = [
            (p["setup"] + p["teardown"]) * 1000
            for nid, p in phases.items()
            if kinds[nid] == kind and len(p) == 2
        ]
        result[kind] = dist(totals)
    for kind in MEASURED:
        for q in ("p50", "p95"):
            result[kind][f"net_{q}_ms"] = result[kind][q] - result["baseline"][q]
    return result


def install_sizes() -> dict[str, float]:
    sizes: dict[str, float] = {}
    python = shutil.which("python3.11") or sys.executable
    for package in ("mlflow-skinny", "mlflow"):
        with tempfile.TemporaryDirectory() as tmp:
            venv = Path(tmp) / "venv"
            subprocess.run(["uv", "venv", "-q", "--python", python, str(venv)], check=True)
            subprocess.run(
                ["uv", "pip", "install", "-q", "--python", str(venv / "bin" / "python"), package],
                check=True,
            )
            used = subprocess.run(["du", "-sm", str(venv)], capture_output=True, text=True)
            sizes[package] = float(used.stdout.split()[0])
    return sizes


def markdown(results: dict[str, Any]) -> str:
    starts, tests, sizes = results["starts"], results["per_test"], results["install_mib"]
    lines = [
        "# ML-platform benchmarks",
        "",
        f"Load average at start / end: {results['load_start']} / {results['load_end']}.",
        "",
        "| MLflow server | start p50 | idle PSS p50 | processes |",
        "|---|---:|---:|---:|",
    ]
    for kind, label in (
        ("suite", "suite's launcher (one process)"),
        ("command", "`mlflow server --workers 1`"),
    ):
        s = starts[kind]
        start, pss = f"{s['start_p50_s']:.1f} s", f"{s['pss_p50_mib']:.0f} MiB"
        lines.append(f"| {label} | {start} | {pss} | {s['processes']} |")
    lines += [
        "",
        f"`mlflow server` / launcher: start x{starts['start_ratio']:.2f}, "
        f"memory x{starts['pss_ratio']:.2f}.",
        "",
        "| fixture | per test p50 / p95, net of a bare test |",
        "|---|---:|",
    ]
    for kind in MEASURED:
        t = tests[kind]
        lines.append(f"| `{kind}` | {t['net_p50_ms']:.2f} / {t['net_p95_ms']:.2f} ms |")
    lines += [
        "",
        f"Installed size alone in a venv: mlflow-skinny {sizes['mlflow-skinny']:.0f} MB, "
        f"mlflow {sizes['mlflow']:.0f} MB.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--project", type=Path, help="reuse a project rendered with ANSWERS")
    parser.add_argument("--keep", type=Path, help="render the project here and keep it")
    args = parser.parse_args()
    env = project_env(provision_ferretdb())
    os.environ.update(env)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        project = args.project or args.keep or Path(tmp) / "project"
        if args.project is None:
            log("rendering and installing")
            render_and_install(project)
        log("MLflow server starts")
        starts = server_starts(project, args.reps)
        log("per-test costs")
        tests = per_test(project, env)
    log("install sizes")
    results = {
        "machine": machine_info(),
        "load_start": round(load_start, 2),
        "starts": starts,
        "per_test": tests,
        "install_mib": install_sizes(),
    }
    results["load_end"] = round(os.getloadavg()[0], 2)
    (HERE / "ml-platform-results.json").write_text(json.dumps(results, indent=2))
    (HERE / "ml-platform-results.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
