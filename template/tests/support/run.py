"""The state one pytest run shares between its processes.

A run is the controller plus its xdist workers. They share a run directory (in
/dev/shm where there is one, else the temp dir), named with a run id: servers, their
data and a JSON state file per backend live there. The process that owns the run
removes it at the end; the reaper (see ``reaper.py``) removes it if that process dies
first.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from filelock import FileLock

RUN_DIR_PREFIX = "pytest-services-"
BASE_DIR_ENV = "TEST_SERVICES_DIR"


def base_dir() -> Path:
    """Where run directories go: memory-backed /dev/shm when there is one.

    Server data in memory makes cloning a Postgres database about ten times faster
    than on a virtual disk, and a test server's data is thrown away anyway.
    """
    configured = os.environ.get(BASE_DIR_ENV)
    if configured:
        return Path(configured)
    shm = Path("/dev/shm")  # noqa: S108 - Run.create's mkdir fails on an existing name
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return Path(tempfile.gettempdir())


@dataclass(frozen=True)
class Run:
    id: str
    dir: Path
    owner_pid: int
    worker: str
    worker_count: int

    @classmethod
    def create(cls, worker_count: int) -> Run:
        run_id = secrets.token_hex(3)
        run_dir = base_dir() / f"{RUN_DIR_PREFIX}{run_id}"
        run_dir.mkdir(mode=0o700)
        if os.geteuid() == 0:
            # Postgres runs as an unprivileged user and must reach its data below here.
            run_dir.chmod(0o711)
        return cls(run_id, run_dir, os.getpid(), "main", worker_count)

    @classmethod
    def from_shared(cls, shared: dict[str, Any], worker: str) -> Run:
        return cls(
            shared["id"],
            Path(shared["dir"]),
            shared["owner_pid"],
            worker,
            shared["worker_count"],
        )

    def shared(self) -> dict[str, Any]:
        """What a worker needs to join this run (sent through xdist's workerinput)."""
        data = asdict(self)
        data["dir"] = str(self.dir)
        del data["worker"]
        return data

    @property
    def is_owner(self) -> bool:
        return os.getpid() == self.owner_pid

    def lock(self, name: str) -> FileLock:
        from filelock import FileLock  # imported on first use: loading stays cheap

        return FileLock(self.dir / f"{name}.lock")

    def state_path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def read_state(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_path(name).read_text())
        except FileNotFoundError:
            return None

    def write_state(self, name: str, state: dict[str, Any]) -> None:
        path = self.state_path(name)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(state, indent=2))
        partial.replace(path)  # atomic: readers never see half a file

    def states(self) -> dict[str, dict[str, Any]]:
        return {path.stem: json.loads(path.read_text()) for path in self.dir.glob("*.json")}

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
