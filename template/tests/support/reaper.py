"""What a test run records so that nothing it starts outlives it, and the reaper.

A run keeps one record per thing that could outlive it in its run directory, a JSON
file with a ``kind``: ``process`` (a server or tool in a session of its own, killed as a
process group) and ``worker`` (an xdist worker); the docker provider's records,
``<backend>-container.json``, are of kind ``container``. Each process is named by its
pid *and* its start time, so a pid the system has since given to another program is
never signalled.

Two entry points, both standard library only (``python -I -S``) so they start in
milliseconds and never depend on the project's packages:

- ``reaper.py watch OWNER_PID RUN_DIR``: started with the run, before its directory
  exists. When the run's owner (the pytest process) exits, however it exits, it kills
  everything recorded and removes the run directory. The owner tells it to go with
  SIGUSR1 once it has cleaned up itself.
- ``reaper.py launch RUN_DIR NAME LOCK_FD [--user UID:GID] -- ARGV...``: becomes a
  process of the run. It records itself, then releases the lock its starter took and
  execs ARGV (same pid). Whoever replaces or reaps it waits for that lock, so the record
  exists before anyone can look for it, even if the starter was killed the moment it
  forked.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import runpy
import shutil
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

Record = dict[str, Any]
# How long a reaper waits for a launch in flight to record itself; a launch takes
# milliseconds, so this is only reached if one is stuck.
LAUNCH_WAIT = 10.0


def _read(path: str) -> str | None:
    with contextlib.suppress(OSError), open(path) as file:
        return file.read().strip()
    return None


def _started(pid: int) -> int | None:
    """When the process started (clock ticks since boot), or None if unknown or gone."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    return int(stat.rpartition(")")[2].split()[19])


def machine() -> dict[str, str | None]:
    """What tells this machine, boot and pid namespace apart from any other."""
    pidns = None
    with contextlib.suppress(OSError):
        pidns = os.readlink("/proc/self/ns/pid")
    return {
        "host": os.uname().nodename,  # gethostname(), without importing socket
        "boot": _read("/proc/sys/kernel/random/boot_id"),
        "pidns": pidns,
    }


def identity(pid: int) -> Record:
    """A process as it can be told apart from any later one with the same pid."""
    return {**machine(), "pid": pid, "started": _started(pid)}


def process_state(process: Record) -> str:
    """``alive``, ``dead`` or ``unknown`` (another machine, or another pid namespace)."""
    here = machine()
    if process.get("host") != here["host"]:
        return "unknown"
    if process.get("boot") and here["boot"] and process["boot"] != here["boot"]:
        return "dead"  # this machine has rebooted since
    if process.get("pidns") != here["pidns"]:
        return "unknown"
    pid = process.get("pid")
    if not isinstance(pid, int):
        return "unknown"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "dead"
    except PermissionError:
        pass  # exists, another user's
    started = _started(pid)
    if process.get("started") is not None and started is not None:
        return "alive" if started == process["started"] else "dead"
    return "alive"


def write_record(path: str | Path, record: Record) -> None:
    """Write atomically: a reader sees the whole record or none."""
    directory, name = os.path.split(path)
    partial = os.path.join(directory, f".{name}.{os.getpid()}")
    with open(partial, "w") as file:
        file.write(json.dumps(record))
    os.replace(partial, path)


def records(run_dir: Path) -> Iterator[tuple[Path, Record]]:
    for path in sorted(run_dir.glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(path.read_text())
            if isinstance(record, dict):
                yield path, record


def kill_process(record: Record, sig: int = signal.SIGKILL) -> bool:
    """Signal one recorded process, only if it is still the one recorded."""
    if process_state(record) != "alive":
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(record["pid"], sig)
    return True


def kill_group(record: Record) -> bool:
    """Kill a recorded process group (its leader's pid is the group id).

    A leader that is gone may have left members behind; Linux gives no new process
    the pid of a group that still has members, so signalling the group id is safe. A
    pid that now belongs to another program is left alone.
    """
    state = process_state(record)
    if state == "unknown" or (state == "dead" and _started(record["pid"]) is not None):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(record["pid"], signal.SIGKILL)
    return True


def is_zombie(pid: int) -> bool:
    """Exited, and not yet reaped by its parent: gone for every purpose of the suite."""
    stat = _read(f"/proc/{pid}/stat")
    return stat is not None and stat.rpartition(")")[2].split()[0] == "Z"


def wait_for_exit(record: Record, timeout: float) -> bool:
    """Wait until a recorded process is gone (or a zombie); False on timeout."""
    deadline = time.monotonic() + timeout
    while process_state(record) == "alive" and not is_zombie(record["pid"]):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def wait_for_lock(path: Path, timeout: float) -> None:
    """Take and drop a lock, waiting at most ``timeout``: a launch in flight has recorded."""
    deadline = time.monotonic() + timeout
    with contextlib.suppress(OSError), open(path, "rb") as lock:  # no lock file: no launch
        while time.monotonic() <= deadline:
            with contextlib.suppress(BlockingIOError):
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            time.sleep(0.01)


def reap(run_dir: Path) -> None:
    """Kill everything a run recorded, then remove its directory.

    Workers first, so nothing new is started; then every launch still in flight is
    waited for, so its record is there to be read.
    """
    killed = [record for _, record in records(run_dir) if record.get("kind") == "worker"]
    for record in killed:
        kill_process(record)
    for lock in run_dir.glob("*-process.lock"):
        wait_for_lock(lock, LAUNCH_WAIT)
    for _, record in records(run_dir):
        if record.get("kind") == "process" and kill_group(record):
            killed.append(record)
    for record in killed:
        wait_for_exit(record, 5)  # a killed server may still hold files below run_dir
    remove_containers(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)


# --- containers of the docker provider ------------------------------------------------
# After the processes above (so no worker is left to start another one): every container
# the run's <backend>-container.json records name, by id and by the run's labels, with
# its volumes. docker_api.py is loaded by path: -I keeps this file's folder off sys.path.


def remove_containers(run_dir: Path) -> None:
    if not any(record.get("kind") == "container" for _, record in records(run_dir)):
        return
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "docker_api.py")
    remove_run_containers = runpy.run_path(source)["remove_run_containers"]
    for error in remove_run_containers(run_dir):
        print(f"reaper: {error}", file=sys.stderr)


def _wait_for_owner(owner: int) -> None:
    import select

    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        try:
            fd = pidfd_open(owner)
        except ProcessLookupError:
            return
        # The reaper is the owner's child: if its parent is no longer the owner, the
        # owner died before the pidfd was opened and the pid may be another process's.
        if os.getppid() == owner:
            select.select([fd], [], [])
        os.close(fd)
        return
    while os.getppid() == owner:  # macOS: orphaned children are adopted by launchd
        time.sleep(0.2)


def watch(owner: int, run_dir: Path) -> None:
    signal.signal(signal.SIGUSR1, lambda *_: sys.exit(0))  # the owner cleaned up itself
    for ignored in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(ignored, signal.SIG_IGN)
    _wait_for_owner(owner)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    reap(run_dir)


def launch(run_dir: str, name: str, lock_fd: int, user: str | None, argv: list[str]) -> None:
    record = {"kind": "process", "name": name, **identity(os.getpid())}
    write_record(os.path.join(run_dir, f"{name}-process.json"), record)
    os.close(lock_fd)  # now whoever waits for this start may look
    if user is not None:
        uid, gid = (int(part) for part in user.split(":"))
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    os.execvp(argv[0], argv)  # noqa: S606 - the argv the suite built, no shell


def main(args: list[str]) -> None:
    if args[0] == "watch":
        from pathlib import Path

        watch(int(args[1]), Path(args[2]))
    elif args[0] == "launch":
        split = args.index("--")
        options = args[4:split]
        user = options[1] if options[:1] == ["--user"] else None
        launch(args[1], args[2], int(args[3]), user, args[split + 1 :])
    else:
        sys.exit(f"usage: {sys.argv[0]} watch OWNER RUN_DIR | launch RUN_DIR NAME LOCK_FD ...")


if __name__ == "__main__":
    main(sys.argv[1:])
