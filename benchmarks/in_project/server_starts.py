"""Start each backend's local server into a fresh run directory, as a run does; print JSON.

    python -m tests.pg_bench.server_starts '{"postgres": 5, "redis": 5}' IDLE_SECONDS

Each start goes through the suite's own ``acquire`` with the ``local`` provider pinned,
so its time is the ``started_in`` the plumbing records for the summary line. Its phases
are the plumbing's own, ``Endpoint.timings``, where the plumbing records them; without
them, the PostgreSQL start is split from what the run leaves anyway: the launch
record of the server process (its start time, in clock ticks since boot) and the
server's own log (millisecond timestamps of "starting PostgreSQL" and "ready to accept
connections"). Nothing in the plumbing is patched: if those records change shape, the
phases are reported missing, with the reason, and the totals still stand.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any

from tests.support.processes import stop_process_group
from tests.support.providers import acquire
from tests.support.run import Run

from .process_tree import memory

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# Lines start with the server log's default prefix ('%m [%p] '):
# "2026-11-28 23:30:01.123 UTC [42] LOG:  starting PostgreSQL 18.6 ...".


def _logged_at(line: str) -> float:
    """Epoch seconds of a log line; its zone is UTC/GMT or else this machine's."""
    day, clock, zone = line.split()[:3]
    stamp = datetime.strptime(f"{day} {clock}", "%Y-%m-%d %H:%M:%S.%f")
    if zone in ("UTC", "GMT"):
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def postgres_phases(run: Run, called_wall: float, called_boot: float) -> dict[str, float]:
    """Seconds from the call to the launch, to the server logging its start, to ready."""
    record = run.read_state("postgres-process")
    if record is None or not isinstance(record.get("started"), int):
        raise LookupError("no launch record with a start time (postgres-process.json)")
    launched = record["started"] / TICKS_PER_SECOND - called_boot  # since the call
    starting = ready = None
    for line in (run.dir / "postgres.log").read_text(errors="replace").splitlines():
        if "starting PostgreSQL" in line:
            starting = _logged_at(line) - called_wall
        elif "ready to accept connections" in line:
            ready = _logged_at(line) - called_wall
    if starting is None or ready is None:
        raise LookupError("postgres.log has no 'starting PostgreSQL' or 'ready' line")
    return {
        "prepare (binaries staged if root, cached cluster copied)": launched,
        "launch to 'starting PostgreSQL'": starting - launched,
        "'starting' to 'ready to accept connections'": ready - starting,
        "ready to endpoint (readiness poll, version query)": -ready,  # completed by caller
    }


def start_all(reps: dict[str, int], idle_s: float) -> list[dict[str, Any]]:
    modules = {name: importlib.import_module(f"tests.support.{name}") for name in reps}
    results = []
    for i in range(max(reps.values())):
        run = Run.create(1)
        endpoints = []
        rep: dict[str, Any] = {"start_s": {}, "memory": {}, "stop_s": {}, "versions": {}}
        rep["sources"] = {}
        try:
            for name, module in modules.items():
                if i >= reps[name]:
                    continue
                called_wall, called_boot = time.time(), time.clock_gettime(time.CLOCK_BOOTTIME)
                endpoint = acquire(module.BACKEND, run, {"*": "local"})
                rep["start_s"][name] = endpoint.started_in
                rep["versions"][name] = endpoint.version
                rep["sources"][name] = endpoint.source
                endpoints.append(endpoint)
                # The plumbing's own record of a local start's phases, where it keeps one
                # (``Endpoint.timings``); read defensively, as older plumbing has none.
                timings = getattr(endpoint, "timings", None)
                if isinstance(timings, dict) and timings:
                    rep.setdefault("phases_s", {})[name] = {
                        str(phase): float(seconds) for phase, seconds in timings.items()
                    }
                elif name == "postgres":
                    try:
                        phases = postgres_phases(run, called_wall, called_boot)
                        last = "ready to endpoint (readiness poll, version query)"
                        phases[last] += endpoint.started_in or 0.0
                        rep["postgres_phases_s"] = phases
                    except (LookupError, OSError, ValueError) as missing:
                        rep["postgres_phases_error"] = str(missing)
            time.sleep(idle_s)  # what a server holds once idle, not while starting
            for endpoint in endpoints:
                if endpoint.pid is not None:
                    rep["memory"][endpoint.backend] = memory(endpoint.pid)
        finally:
            for endpoint in reversed(endpoints):
                started = time.perf_counter()
                if endpoint.pid is not None:
                    stop_process_group(endpoint.pid, endpoint.stop_signal or signal.SIGTERM)
                rep["stop_s"][endpoint.backend] = time.perf_counter() - started
            run.remove()
        results.append(rep)
    return results


def main() -> None:
    started = time.perf_counter()
    for name in json.loads(sys.argv[1]):
        importlib.import_module(f"tests.support.{name}")
    import_s = time.perf_counter() - started
    reps = start_all(json.loads(sys.argv[1]), float(sys.argv[2]))
    print(json.dumps({"import_s": import_s, "reps": reps}))


if __name__ == "__main__":
    main()
