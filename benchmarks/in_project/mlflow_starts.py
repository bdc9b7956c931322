"""Start MLflow's tracking server both ways, alternately, into fresh run directories; JSON.

    python -m tests.pg_bench.mlflow_starts REPS

``suite``: the suite's launcher (``tests/support/mlflow.py``, one process);
``command``: ``mlflow server --workers 1``, what a user would start by hand.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.support import mlflow as suite_mlflow
from tests.support.processes import free_port, start_server, stop_process_group, wait_until_ready
from tests.support.run import Run

from .process_tree import memory, tree


def suite(run: Run) -> int:
    pid = suite_mlflow.start_local(run).pid
    assert pid is not None
    return int(pid)


def command(run: Run) -> int:
    data = run.dir / "mlflow"
    data.mkdir()
    port = free_port()
    argv = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{data / 'mlflow.db'}",
        "--artifacts-destination",
        str(data / "artifacts"),
    ]
    env = {**os.environ, **suite_mlflow.NO_TELEMETRY, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = run.dir / "peer.log"
    process = start_server(run, "peer", argv, log, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(lambda: suite_mlflow._answers(url), process, log, timeout=300)
    return int(process.pid)


def measure(reps: int) -> dict[str, list[dict[str, float]]]:
    starters: dict[str, Callable[[Run], int]] = {"suite": suite, "command": command}
    results: dict[str, list[dict[str, float]]] = {"suite": [], "command": []}
    for rep in range(reps):
        for kind, start in sorted(starters.items(), reverse=rep % 2 == 1):
            run = Run.create(worker_count=1)
            pid = None
            try:
                started = time.perf_counter()
                pid = start(run)
                seconds = time.perf_counter() - started
                time.sleep(1.0)
                used = memory(pid)
                results[kind].append(
                    {
                        "start_s": seconds,
                        "pss_mib": used["pss_bytes"] / 2**20,
                        "processes": len(tree(pid)),
                    }
                )
            finally:
                if pid is not None:
                    stop_process_group(pid, signal.SIGTERM)
                run.remove()
    return results


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]))))
