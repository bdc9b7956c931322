"""Stop a test run's servers (processes and the docker provider's containers) and remove
its directory once the run's owner is gone.

Started by the first server of a run as ``python -I -S reaper.py OWNER_PID RUN_DIR``.
It covers what pytest's own teardown cannot: ``kill -9`` of pytest, a crash, a closed
terminal. It also kills the run's xdist workers, which would otherwise finish their
current test against servers that are gone. Standard library only, so it starts in
milliseconds.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import select
import shutil
import signal
import sys
import time
from pathlib import Path


def wait_for_exit(pid: int) -> None:
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:  # macOS: poll
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
    try:
        fd = pidfd_open(pid)
    except ProcessLookupError:
        return
    select.select([fd], [], [])
    os.close(fd)


def reap(run_dir: Path) -> None:
    for state_file in run_dir.glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            state = json.loads(state_file.read_text())
            pid = state.get("pid")
            if isinstance(pid, int) and state_file.stem != "reaper":
                # Servers lead process groups of their own; xdist workers do not.
                kill = os.kill if state.get("worker") else os.killpg
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill(pid, signal.SIGKILL)
    time.sleep(0.1)  # let the killed servers release their files
    remove_containers(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)


# --- containers of the docker provider ------------------------------------------------
# After the processes above (so no worker is left to start another one): every container
# the run's <backend>-container.json states name, by id and by the run's labels, with
# its volumes. docker_api.py is loaded by path: -I keeps this file's folder off sys.path.


def remove_containers(run_dir: Path) -> None:
    if not any(run_dir.glob("*-container.json")):
        return
    source = Path(__file__).with_name("docker_api.py")
    spec = importlib.util.spec_from_file_location("docker_api", source)
    if spec is None or spec.loader is None:
        return
    docker_api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(docker_api)
    for error in docker_api.remove_run_containers(run_dir):
        print(f"reaper: {error}", file=sys.stderr)


# --- end of the docker provider's part ------------------------------------------------


def main() -> None:
    owner, run_dir = int(sys.argv[1]), Path(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the owner cleaned up itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    wait_for_exit(owner)
    reap(run_dir)


if __name__ == "__main__":
    main()
