"""Start times of the docker provider, per backend, side by side with the local provider.

Renders a project with all five backends (or reuses ``--project DIR``), and inside it
calls each backend's ``start_docker()`` and ``start_local()`` directly, interleaved,
``--reps`` times into a fresh run directory each: the docker figure is what a user who
pins ``--services=docker`` waits for per backend (container create and start, the
image's own initialisation, readiness polling through the suite's client, the version
query); the removal of the container (with its volumes, as the end of a run does it)
is measured too. Local Kafka comes from ``KAFKA_HOME`` and local MongoDB from FerretDB
(``.ci/provision/``); the docker images are whatever the daemon has under the catalog's
names: on our machines the stand-ins of ``.ci/docker/`` (MongoDB's is FerretDB).

Without ``DOCKER_HOST`` it provisions podman and the images (``.ci/docker/provision.sh``)
and serves the Docker API from ``podman system service`` for the run.

Writes ``benchmarks/docker-results.json`` and ``docker-results.md`` (not committed).

    uv run python benchmarks/docker_starts.py [--reps 5] [--project DIR]
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
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BACKENDS = ("postgres", "redis", "mongo", "kafka", "s3")

PROBE = r"""
import json, signal, sys, time
from importlib import import_module
from tests.support.docker import remove_run_containers
from tests.support.processes import stop_process_group
from tests.support.run import Run

backends, reps = json.loads(sys.argv[1]), int(sys.argv[2])
results = {b: {"docker_s": [], "remove_s": [], "local_s": [], "version": {}} for b in backends}
for _ in range(reps):
    for name in backends:
        module = import_module(f"tests.support.{name}")
        for provider in ("docker", "local"):
            run = Run.create(1)
            try:
                start = time.perf_counter()
                ep = getattr(module, f"start_{provider}")(run)
                results[name][f"{provider}_s"].append(time.perf_counter() - start)
                results[name]["version"][provider] = ep.version
                start = time.perf_counter()
                if provider == "docker":
                    assert not remove_run_containers(run)
                    results[name]["remove_s"].append(time.perf_counter() - start)
                else:
                    stop_process_group(ep.pid, ep.stop_signal or signal.SIGTERM)
            finally:
                remove_run_containers(run)
                run.remove()
print("BENCH-JSON " + json.dumps(results))
"""


def log(message: str) -> None:
    print(f"[docker-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sh(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 1800) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def python311() -> str:
    found = sorted(Path.home().glob(".pyenv/versions/3.11.*/bin/python3.11"))
    return str(found[-1]) if found else "python3.11"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--project", type=Path, help="a rendered, synced five-backend project")
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST_"))}
    env.update(UV_PYTHON=python311(), UV_PYTHON_DOWNLOADS="never", VIRTUAL_ENV="")
    work = Path(tempfile.mkdtemp(prefix="docker-bench-"))
    project = args.project
    if project is None:
        project = work / "project"
        log("rendering and installing a five-backend project")
        backends = f"backends=[{', '.join(BACKENDS)}]"
        copier = ["uvx", "--with", "copier-template-extensions", "copier", "copy", "--trust"]
        options = ["--defaults", "--vcs-ref", "HEAD", "-d", "python_version=3.11", "-d", backends]
        sh([*copier, *options, str(REPO), str(project)], REPO, env)
        sh(["uv", "sync", "-q"], project, env)
    env["KAFKA_HOME"] = sh(["bash", ".ci/provision/kafka.sh"], REPO, env).split()[-1]
    ferretdb = sh(["bash", ".ci/provision/ferretdb.sh"], REPO, env).split()[-1]
    env["PATH"] = f"{Path(ferretdb).parent}{os.pathsep}{env['PATH']}"
    service = None
    if not env.get("DOCKER_HOST"):
        log("provisioning podman and the stand-in images (.ci/docker/provision.sh)")
        sh(["bash", ".ci/docker/provision.sh"], REPO, env)
        env["CONTAINERS_CONF"] = str(REPO / ".ci" / "docker" / "containers.conf")
        socket = work / "podman.sock"
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{socket}"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        while not socket.exists():
            time.sleep(0.05)
        env.update(
            DOCKER_HOST=f"unix://{socket}",
            TESTCONTAINERS_HOST_OVERRIDE="localhost",
            TESTCONTAINERS_CONNECTION_MODE="docker_host",
            TESTCONTAINERS_RYUK_DISABLED="true",
        )
    try:
        load_before = os.getloadavg()
        log(f"{args.reps} repetitions of docker and local starts, interleaved")
        out = sh(["uv", "run", "python", "-c", PROBE, json.dumps(BACKENDS), str(args.reps)],
                 project, env | {"PYTHONPATH": str(project)})  # fmt: skip
        load_after = os.getloadavg()
    finally:
        if service is not None:
            service.terminate()
            service.wait(10)
    results = json.loads(
        next(line for line in out.splitlines() if line.startswith("BENCH-JSON "))[11:]
    )
    report: dict[str, Any] = {
        "reps": args.reps,
        "load_average_1m": [load_before[0], load_after[0]],
        "ryuk": env.get("TESTCONTAINERS_RYUK_DISABLED") != "true",
        "backends": results,
    }
    lines = [
        f"Docker vs local start, {args.reps} repetitions, interleaved; 1-minute load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after; Ryuk "
        f"{'on' if report['ryuk'] else 'off'}.",
        "",
        "| backend | docker start p50 (min-max) | container removal p50 | local start p50 "
        "| docker / local |",
        "|---|---:|---:|---:|---:|",
    ]  # fmt: skip
    for name, data in results.items():
        docker, local = statistics.median(data["docker_s"]), statistics.median(data["local_s"])
        remove = statistics.median(data["remove_s"])
        lines.append(
            f"| {name} ({data['version']['docker']}) | {docker:.2f} s "
            f"({min(data['docker_s']):.2f}-{max(data['docker_s']):.2f}) | {remove:.2f} s "
            f"| {local:.2f} s | {docker / local:.1f}x |"
        )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "docker-results.json").write_text(json.dumps(report, indent=2))
    (args.out_dir / "docker-results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
