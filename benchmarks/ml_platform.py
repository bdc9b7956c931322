"""The ML-platform pieces: MLflow's server, Supabase auth, Beanie, AsyncOpenAI.

    uv run python -m benchmarks ml-platform [--reps 3] [--quick] [--project DIR]

Renders an async project with MongoDB (FerretDB, ``.ci/provision/ferretdb.sh``), MLflow
and the Supabase auth and OpenAI stand-ins, installs it, then measures:

- the MLflow server's start and idle memory: the suite's launcher against ``mlflow server
  --workers 1``, alternating in one run (``in_project/mlflow_starts.py``);
- the per-test cost (setup + teardown, net of a test with no fixture) of
  ``mlflow_experiment``, ``supabase_auth``, ``beanie_database``, ``async_openai_client``;
- the installed size of ``mlflow-skinny`` and ``mlflow``, each alone in a fresh venv.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .project import PROBES, Project, find_python, provision
from .report import Report
from .stats import distribution, percentile
from .timings import timed_pytest

ANSWERS = {
    "backends": ["mongo", "mlflow"],
    "third_party_apis": ["supabase_auth", "openai"],
    "async_fixtures": True,
    "python_version": "3.11",
}
MEASURED = ("mlflow_experiment", "supabase_auth", "beanie_database", "async_openai_client")


def server_starts(project: Project, reps: int) -> dict[str, Any]:
    module = f"{PROBES.replace('/', '.')}.mlflow_starts"
    _, done = project.python("-m", module, str(reps), timeout=3600)
    raw: dict[str, list[dict[str, float]]] = json.loads(done.stdout.strip().splitlines()[-1])
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


def per_test(project: Project, quick: bool) -> dict[str, Any]:
    counts = (
        {
            "baseline": 50,
            "mlflow_experiment": 20,
            "supabase_auth": 50,
            "beanie_database": 30,
            "async_openai_client": 50,
        }
        if quick
        else {}
    )
    run = timed_pytest(
        project,
        [
            f"{PROBES}/test_baseline.py",
            f"{PROBES}/test_ml_platform.py",
            f"{PROBES}/test_zz_cooldown.py",
        ],
        env={f"BENCH_N_{k.upper()}": str(v) for k, v in counts.items()},
    )
    phases = ("setup", "teardown")
    result: dict[str, Any] = {"wall_s": run.wall_s}
    for kind in ("baseline", *MEASURED):
        result[kind] = distribution(run.per_test_ms(kind, phases))
    for kind in MEASURED:
        for q in ("p50", "p95"):
            result[kind][f"net_{q}_ms"] = result[kind][q] - result["baseline"]["p50"]
    return result


def install_sizes(python: str) -> dict[str, float]:
    sizes: dict[str, float] = {}
    for package in ("mlflow-skinny", "mlflow"):
        with tempfile.TemporaryDirectory() as tmp:
            venv = Path(tmp) / "venv"
            subprocess.run(["uv", "venv", "-q", "--python", python, str(venv)], check=True)
            subprocess.run(
                ["uv", "pip", "install", "-q", "--python", str(venv), package], check=True
            )
            used = subprocess.run(["du", "-sm", str(venv)], capture_output=True, text=True)
            sizes[package] = float(used.stdout.split()[0])
    return sizes


def markdown(data: dict[str, Any]) -> list[str]:
    lines = []
    starts = data.get("starts")
    if starts:
        lines += [
            "| MLflow server | start p50 | idle PSS p50 | processes |",
            "|---|---:|---:|---:|",
        ]
        for kind, name in (
            ("suite", "suite's launcher (one process)"),
            ("command", "`mlflow server --workers 1`"),
        ):
            s = starts[kind]
            lines.append(
                f"| {name} | {s['start_p50_s']:.1f} s | {s['pss_p50_mib']:.0f} MiB "
                f"| {s['processes']} |"
            )
        lines += [
            "",
            f"`mlflow server` / launcher: start x{starts['start_ratio']:.2f}, "
            f"memory x{starts['pss_ratio']:.2f}.",
            "",
        ]
    tests = data.get("per_test")
    if tests:
        lines += ["| fixture | per test p50 / p95, net of a bare test |", "|---|---:|"]
        for kind in MEASURED:
            t = tests[kind]
            lines.append(f"| `{kind}` | {t['net_p50_ms']:.2f} / {t['net_p95_ms']:.2f} ms |")
    sizes = data.get("install_mib")
    if sizes:
        lines += [
            "",
            f"Installed size alone in a venv: mlflow-skinny "
            f"{sizes['mlflow-skinny']:.0f} MB, mlflow {sizes['mlflow']:.0f} MB.",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks ml-platform", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--reps", type=int, default=3, help="MLflow starts of each kind")
    parser.add_argument("--quick", action="store_true", help="1 start each, fewer tests, no sizes")
    parser.add_argument("--project", type=Path, help="reuse a project rendered with ANSWERS")
    args = parser.parse_args(argv)
    report = Report("ml-platform", "ML-platform pieces", quick=args.quick)
    python = find_python("3.11")
    work = Path(tempfile.mkdtemp(prefix="pg-bench-ml-"))
    try:
        if args.project:
            project = Project.existing(args.project, python)
        else:
            project = Project.create(work / "project", python, **ANSWERS)
        project.env.update(provision(["mongo"]), CI="true")
        project.install_probes()
        with report.stage("MLflow server starts"):
            report.data["starts"] = server_starts(project, 1 if args.quick else args.reps)
        with report.stage("per-test costs"):
            report.data["per_test"] = per_test(project, args.quick)
        if not args.quick:
            with report.stage("install sizes"):
                report.data["install_mib"] = install_sizes(python)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.notes.append("MongoDB is FerretDB standing in for MongoDB.")
    report.write(markdown(report.data))
    return 0
