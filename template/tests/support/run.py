"""The state one pytest run shares between its processes.

A run is the controller plus its xdist workers. They share a run directory (in
/dev/shm where there is one, else the temp dir), named with a run id: servers, their
data, a JSON state file per backend and the records of everything the run started
live there. The reaper (see ``reaper.py``) starts before the directory exists and
removes it once the run's owner has exited, however it exits; at a normal end the
owner removes it itself first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .reaper import identity, process_state, reap, records, write_record

RUN_DIR_PREFIX = "pytest-services-"
BASE_DIR_ENV = "TEST_SERVICES_DIR"
# Set in the environment of every process a run starts: `ps eww` tells whose it is.
RUN_ENV = "PYTEST_SERVICES_RUN"
_REAPER = Path(__file__).with_name("reaper.py")
# The reaper of each run this process owns, told to go once the run is cleaned up.
_reapers: dict[Path, subprocess.Popen[bytes]] = {}


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
        base = base_dir()
        while True:
            run_id = secrets.token_hex(3)
            run_dir = base / f"{RUN_DIR_PREFIX}{run_id}"
            # The reaper comes first: if this process dies at any point from here on,
            # the reaper removes whatever of the run exists by then.
            reaper = _start_reaper(run_id, run_dir)
            try:
                run_dir.mkdir(mode=0o700)
                break
            except FileExistsError:  # another run's id: never let our reaper remove it
                _dismiss(reaper)
        _reapers[run_dir] = reaper
        if os.geteuid() == 0:
            # Postgres runs as an unprivileged user and must reach its data below here.
            run_dir.chmod(0o711)
        write_record(run_dir / "owner.json", {"kind": "owner", **identity(os.getpid())})
        write_record(run_dir / "reaper.json", {"kind": "reaper", **identity(reaper.pid)})
        remove_abandoned_runs(base)
        return cls(run_id, run_dir, os.getpid(), "main", worker_count)

    @classmethod
    def from_shared(cls, shared: dict[str, Any], worker: str) -> Run:
        return cls(**{**shared, "dir": Path(shared["dir"]), "worker": worker})

    def shared(self) -> dict[str, Any]:
        """What a worker needs to join this run (sent through xdist's workerinput)."""
        return {**asdict(self), "dir": str(self.dir)}  # its worker name replaces ours

    @property
    def is_owner(self) -> bool:
        return os.getpid() == self.owner_pid

    def lock(self, name: str) -> contextlib.AbstractContextManager[int]:
        """Hold a lock shared by the run's processes (see ``locked``)."""
        return locked(self.dir / f"{name}.lock")

    def state_path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def read_state(self, name: str) -> dict[str, Any] | None:
        with contextlib.suppress(FileNotFoundError):
            state: dict[str, Any] = json.loads(self.state_path(name).read_text())
            return state
        return None

    def write_state(self, name: str, state: dict[str, Any]) -> None:
        write_record(self.state_path(name), state)

    def states(self) -> dict[str, dict[str, Any]]:
        return {path.stem: state for path, state in records(self.dir)}

    def remove(self) -> None:
        """Kill whatever the run still has running, remove its directory, then let the
        reaper go: in this order, a kill at any moment still leaves nothing behind."""
        reap(self.dir)
        reaper = _reapers.pop(self.dir, None)
        if reaper is not None:
            _dismiss(reaper)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[int]:
    """An exclusive lock that the operating system releases if its holder dies; yields
    its file descriptor. Closing the descriptor, not unlocking it, ends the hold: a
    process launched while the lock was held keeps it until it lets go of its copy (see
    ``reaper.py launch``)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def _start_reaper(run_id: str, run_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-I", "-S", str(_REAPER), "watch", str(os.getpid()), str(run_dir)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C and a closed terminal reach pytest only
        env={**os.environ, RUN_ENV: run_id},
    )


def _dismiss(reaper: subprocess.Popen[bytes]) -> None:
    """Tell a reaper to go without removing anything."""
    reaper.send_signal(signal.SIGUSR1)
    reaper.wait()


def remove_abandoned_runs(base: Path) -> None:
    """Remove run directories whose owner and reaper are both provably gone (killed at
    once, as a CI runner kills a whole process tree); a directory that another machine
    or a running run owns stays."""
    for run_dir in base.glob(f"{RUN_DIR_PREFIX}*"):
        owner, reaper = read_record(run_dir / "owner.json"), read_record(run_dir / "reaper.json")
        if owner is None or reaper is None:
            continue  # being created, or not ours to read
        if process_state(owner) == "dead" and process_state(reaper) == "dead":
            reap(run_dir)


def read_record(path: Path) -> dict[str, Any] | None:
    """A JSON record, or None if it is missing or unreadable."""
    with contextlib.suppress(OSError, ValueError):
        record: dict[str, Any] = json.loads(path.read_text())
        return record
    return None
