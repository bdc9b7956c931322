"""Start times of the docker provider, per backend, side by side with the local provider.

    uv run python -m benchmarks docker [--reps 5] [--project DIR]

Renders a five-backend project (or reuses ``--project``) and, inside it, calls each
backend's ``start_docker()`` and ``start_local()`` directly, interleaved, ``--reps``
times into a fresh run directory each (``in_project/docker_starts.py``); the container's
removal (with its volumes, as the end of a run does it) is timed too. Local Kafka comes
from ``KAFKA_HOME`` and local MongoDB from FerretDB (``.ci/provision``); the images are
the stand-ins of ``.ci/docker/`` (MongoDB's is FerretDB), served by podman.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from .project import PROBES, Project, find_python, podman_docker_api, provision
from .report import Report
from .stats import distribution

BACKENDS = ("postgres", "redis", "mongo", "kafka", "s3")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks docker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 repetitions")
    parser.add_argument("--project", type=Path, help="a rendered, synced five-backend project")
    args = parser.parse_args(argv)
    reps = 2 if args.quick else args.reps
    report = Report("docker", "Docker provider against local starts", quick=args.quick)
    work = Path(tempfile.mkdtemp(prefix="pg-bench-docker-"))
    python = find_python("3.11")
    try:
        if args.project:
            project = Project.existing(args.project, python)
        else:
            answers = {"python_version": "3.11", "backends": list(BACKENDS)}
            project = Project.create(work / "project", python, **answers)
        backends = [b for b in BACKENDS if b in project.backends()]
        project.env.update(provision(backends))
        project.install_probes()
        with report.stage("starts"), podman_docker_api(work) as docker:
            module = f"{PROBES.replace('/', '.')}.docker_starts"
            _, done = project.python(
                "-m", module, json.dumps(backends), str(reps), env=docker, timeout=3600
            )
            raw = json.loads(done.stdout.strip().splitlines()[-1])
            report.data["backends"] = {
                name: {
                    key: distribution(values, samples=True)
                    for key, values in d.items()
                    if key.endswith("_s")
                }
                | {"version": d["version"]}
                for name, d in raw.items()
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.notes.append(
        "Ryuk off; images are the local stand-ins of .ci/docker (MongoDB's "
        "is FerretDB), not Docker Hub's."
    )
    body = [
        "| backend | docker start p50 (min-max) | container removal p50 | local start p50 "
        "| docker / local |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, d in report.data.get("backends", {}).items():
        docker, local, remove = d["docker_s"], d["local_s"], d["remove_s"]
        body.append(
            f"| {name} ({d['version'].get('docker', '?')}) | {docker['p50']:.2f} s "
            f"({docker['min']:.2f}-{docker['max']:.2f}) | {remove['p50']:.2f} s "
            f"| {local['p50']:.2f} s | {docker['p50'] / local['p50']:.1f}x |"
        )
    report.write(body)
    return 0
