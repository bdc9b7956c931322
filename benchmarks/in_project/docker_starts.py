"""Each backend's docker and local start, interleaved, into a fresh run directory; JSON.

    python -m tests.pg_bench.docker_starts '["postgres", "redis"]' REPS

The docker figure is what ``--services=docker`` waits for per backend: container create
and start, the image's own initialisation, readiness through the suite's client, the
version query. The container is then removed with its volumes, as the end of a run does.
"""

from __future__ import annotations

import importlib
import json
import signal
import sys
import time
from typing import Any

from tests.support.docker import remove_run_containers
from tests.support.processes import stop_process_group
from tests.support.run import Run


def measure(backends: list[str], reps: int) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {
        b: {"docker_s": [], "remove_s": [], "local_s": [], "version": {}} for b in backends
    }
    for _ in range(reps):
        for name in backends:
            module = importlib.import_module(f"tests.support.{name}")
            for provider in ("docker", "local"):
                run = Run.create(1)
                try:
                    started = time.perf_counter()
                    endpoint = getattr(module, f"start_{provider}")(run)
                    results[name][f"{provider}_s"].append(time.perf_counter() - started)
                    results[name]["version"][provider] = endpoint.version
                    started = time.perf_counter()
                    if provider == "docker":
                        left = remove_run_containers(run)
                        if left:
                            raise RuntimeError(f"containers not removed: {left}")
                        results[name]["remove_s"].append(time.perf_counter() - started)
                    else:
                        stop_process_group(endpoint.pid, endpoint.stop_signal or signal.SIGTERM)
                finally:
                    remove_run_containers(run)
                    run.remove()
    return results


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]), int(sys.argv[2]))))
