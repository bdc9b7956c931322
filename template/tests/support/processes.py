"""Starting and stopping processes that must never outlive the test run."""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .reaper import LAUNCH_WAIT, is_zombie, kill_group, records, wait_for_exit, wait_for_lock
from .run import RUN_ENV, Run

UNPRIVILEGED_USER = "nobody"
_REAPER = Path(__file__).with_name("reaper.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unprivileged_user() -> pwd.struct_passwd | None:
    """The account to run servers as when we are root (Postgres refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise RuntimeError(
            f"running as root needs a user {UNPRIVILEGED_USER!r} to run servers as; "
            f"create it with: useradd --system {UNPRIVILEGED_USER}"
        ) from None


def start_server(
    run: Run,
    name: str,
    argv: Sequence[str],
    log: Path,
    *,
    user: pwd.struct_passwd | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a process of the run in a session of its own (Ctrl-C reaches pytest only).

    It records itself before it becomes ``argv`` (see ``reaper.py launch``), while the
    lock ``<name>-process`` is held for it: if this process is killed the moment the
    child exists, the child is still recorded before anyone else can take the lock,
    so the reaper, or the next attempt to start ``name``, finds and kills it. That
    next attempt kills whatever an earlier one left, before it starts its own.
    """
    with run.lock(f"{name}-process") as lock_fd:
        record = run.read_state(f"{name}-process")
        if record is not None:
            _stop(run.state_path(f"{name}-process"), record)
        launcher = [sys.executable, "-I", "-S", str(_REAPER), "launch", str(run.dir), name]
        launcher.append(str(lock_fd))
        if user is not None:
            launcher += ["--user", f"{user.pw_uid}:{user.pw_gid}"]
        with log.open("ab") as out:
            process = subprocess.Popen(
                [*launcher, "--", *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**(os.environ if env is None else env), RUN_ENV: run.id},
                pass_fds=(lock_fd,),
            )
    _children.append(process)
    return process


# Every process started here, kept to the end: servers are stopped through their records,
# often by another process, and a Popen dropped while its process runs (or before it is
# reaped) is a ResourceWarning. At exit the stopped ones are reaped.
_children: list[subprocess.Popen[bytes]] = []


@atexit.register
def _reap_stopped_children() -> None:
    for child in _children:
        child.poll()


def run_to_completion(
    run: Run,
    name: str,
    argv: Sequence[str],
    *,
    user: pwd.struct_passwd | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run a tool (initdb, a storage format) as a recorded process of the run.

    A tool that writes below the run directory must not go on writing there after
    whoever started it was killed, while a retry starts over.
    """
    log = run.dir / f"{name}.log"
    process = start_server(run, name, argv, log, user=user, env=env)
    if process.wait() != 0:
        raise RuntimeError(f"{' '.join(map(str, argv[:2]))} failed:\n{tail(log)}")
    run.state_path(f"{name}-process").unlink(missing_ok=True)


def stop_leftovers(run: Run, backend: str) -> None:
    """Kill every process an interrupted start of ``backend`` left (its server, its tools).

    Called before a new start touches the backend's files: a server whose starter was
    killed must not write into the data directory its successor is setting up.
    """
    for lock in run.dir.glob(f"{backend}*-process.lock"):
        wait_for_lock(lock, LAUNCH_WAIT)  # a launch in flight records itself first
    for path, record in records(run.dir):
        name = str(record.get("name", ""))
        if record.get("kind") == "process" and name.partition("-")[0] == backend:
            _stop(path, record)


def _stop(path: Path, record: dict[str, Any]) -> None:
    kill_group(record)
    wait_for_exit(record, timeout=10)
    path.unlink(missing_ok=True)


def wait_until_ready(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{tail(log)}")
        if time.monotonic() > deadline:
            stop_process_group(process.pid, signal.SIGKILL)
            raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{tail(log)}")
        time.sleep(0.005)


def tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our own child, now reaped
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not is_zombie(pid)  # a zombie still answers kill(0)


def stop_process_group(pgid: int, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    """Signal the server's process group, wait for its leader, then force it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
    deadline = time.monotonic() + timeout
    while _alive(pgid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.01)
