"""Starting and stopping server processes that must never outlive the test run."""

from __future__ import annotations

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

from .run import Run

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


def run_as(user: pwd.struct_passwd | None) -> dict[str, Any]:
    """subprocess arguments that run a child as ``user`` (no supplementary groups)."""
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def start_server(
    run: Run,
    name: str,
    argv: Sequence[str],
    log: Path,
    *,
    user: pwd.struct_passwd | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server in its own session so Ctrl-C reaches pytest, not the server.

    Its pid is recorded at once, so the reaper can kill it even if pytest dies while
    the server is still starting.
    """
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            **run_as(user),
        )
    run.write_state(f"{name}-process", {"pid": process.pid})
    return process


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
    with contextlib.suppress(OSError):
        # A zombie still answers kill(0) but is gone for our purposes.
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    return True


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


def ensure_reaper(run: Run) -> None:
    """Start, once per run, the process that cleans up if the run's owner dies."""
    if run.read_state("reaper") is not None:
        return
    reaper = subprocess.Popen(
        [sys.executable, "-I", "-S", str(_REAPER), str(run.owner_pid), str(run.dir)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    run.write_state("reaper", {"pid": reaper.pid})
