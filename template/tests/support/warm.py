"""Warm servers: the project's servers kept running between pytest runs.

``pytest --services-up`` starts a *holder*, a pytest process of its own (it reads the
same settings as any run) that starts every backend's local server in a run of its own,
writes this project's state file and waits. A run that proves from the file that the
holder and a server are still the processes recorded there uses that server as it would
a URL's (see docs/warm-runs.md). ``--services-down`` stops the holder, whose run stops
the servers and removes their data; a holder killed with ``kill -9`` takes its servers
with it, as its run's reaper watches it. The file is written atomically, so concurrent
runs read it whole or not at all; one that names processes that are gone is ignored,
and said so, by every reader.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .reaper import identity, kill_process, process_state, wait_for_exit, write_record
from .run import RUN_DIR_PREFIX, Run, base_dir, locked, read_record, remove_abandoned_runs

# The directory that holds the tests package: the project whose servers these are.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Redis gets a database index per test process (see redis_databases.py): enough for
# several concurrent runs with many xdist workers on one warm server.
WARM_WORKERS = 61
# The provider a run reports for a server the holder keeps (header, summary, release).
WARM_PROVIDER = "warm"
# A Kafka broker or MongoDB may take a while on a cold machine.
UP_TIMEOUT = 180.0
Say = Callable[[str], object]


def state_path() -> Path:
    """``pytest-warm-<hash of the project's folder>.json`` beside the run directories."""
    key = hashlib.sha256(str(PROJECT_ROOT).encode()).hexdigest()[:12]
    return base_dir() / f"pytest-warm-{key}.json"


@dataclass(frozen=True)
class Warm:
    """What ``--services-up`` started, as its state file records it."""

    root: str
    holder: dict[str, Any]
    run: dict[str, Any]
    since: float
    servers: dict[str, dict[str, Any]]
    unavailable: dict[str, str]

    @property
    def run_dir(self) -> Path:
        return Path(self.run["dir"])

    def age(self) -> str:
        minutes = int((time.time() - self.since) // 60)
        if minutes < 1:
            return "less than a minute"
        return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"

    def stale(self) -> str | None:
        """Why the file cannot be trusted (its holder or run directory is gone), or None."""
        if self.root != str(PROJECT_ROOT):
            return f"it was written for {self.root}"
        state = process_state(self.holder)
        if state != "alive":
            return f"its holder (pid {self.holder.get('pid')}) is {state}"
        if not self.run_dir.is_dir():
            return f"its run directory {self.run_dir} is gone"
        return None

    def server(self, name: str) -> dict[str, Any] | None:
        """The recorded endpoint of a backend whose server is still the one recorded."""
        server = self.servers.get(name)
        if server is None or process_state(server["process"]) != "alive":
            return None
        return server

    def describe(self) -> str:
        holder, run = self.holder["pid"], self.run["id"]
        lines = [f"services up {self.age()} ago (holder pid {holder}, run {run})"]
        for name, server in self.servers.items():
            alive = "" if self.server(name) is not None else " (exited)"
            lines.append(f"  {name}: {server['url']}, {server['version']}{alive}")
        lines += [f"  {name}: not started ({why})" for name, why in self.unavailable.items()]
        return "\n".join(lines)


# A state file being replaced, or one an older version wrote.
_UNREADABLE = (OSError, ValueError, TypeError)


def read() -> Warm | None:
    """The state file, if this user wrote it: /dev/shm is everyone's to write in."""
    path = state_path()
    try:
        if path.stat().st_uid != os.geteuid():
            return None
        return Warm(**json.loads(path.read_text()))
    except _UNREADABLE:
        return None


def current() -> Warm | None:
    """This project's warm servers, or None; a stale file is never trusted."""
    warm = read()
    return warm if warm is not None and warm.stale() is None else None


def stale_notice() -> str | None:
    """What the header says about warm servers that are gone."""
    warm = read()
    if warm is None:
        return None
    reason = warm.stale()
    if reason is not None:
        return (
            f"services: ignoring {state_path()}: {reason}, so its servers are gone; "
            "--services-up starts them again"
        )
    exited = [name for name in warm.servers if warm.server(name) is None]
    if not exited:
        return None
    return (
        f"services: the warm {', '.join(exited)} server(s) exited; runs start their own "
        "until --services-down and --services-up"
    )


def endpoint_state(name: str, run: Run) -> dict[str, Any] | None:
    """The warm server of backend ``name`` as an endpoint this run uses like a URL's,
    or None (no warm servers, or this is the holder's own run)."""
    warm = current()
    server = warm.server(name) if warm is not None and warm.run["id"] != run.id else None
    if warm is None or server is None:
        return None
    endpoint = {key: value for key, value in server.items() if key != "process"}
    warmth = {"run": warm.run["id"], "holder": warm.holder, "since": warm.since}
    return {
        **endpoint,
        "provider": WARM_PROVIDER,
        "source": f"services up {warm.age()} ago; {endpoint['provider']}: {endpoint['source']}",
        # The holder's run started the server and stops it: this run neither.
        **dict.fromkeys(("started_in", "pid", "stop_signal", "container_id")),
        "started_by": "",
        "extra": {**endpoint.get("extra", {}), "warm": warmth},
    }


def plan(name: str) -> str | None:
    """The header's line for a backend that a warm server will serve."""
    warm = current()
    server = warm.server(name) if warm is not None else None
    if warm is None or server is None:
        return None
    return f"warm (services up {warm.age()} ago) at {server['url']}, {server['version']}"


# --- the holder ------------------------------------------------------------------------


def record(run: Run, endpoints: dict[str, dict[str, Any]], unavailable: dict[str, str]) -> None:
    """Write the state file: called by the holder once every server answers."""
    servers = {
        name: {**endpoint, "process": identity(endpoint["pid"])}
        for name, endpoint in endpoints.items()
        if endpoint.get("pid") is not None
    }
    warm = Warm(
        root=str(PROJECT_ROOT),
        holder=identity(os.getpid()),
        run={"id": run.id, "dir": str(run.dir)},
        since=time.time(),
        servers=servers,
        unavailable=unavailable,
    )
    write_record(state_path(), asdict(warm))


def hold() -> None:
    """Wait until told to stop (``--services-down`` sends SIGTERM)."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal is not a `down`
    while not stopping:
        signal.pause()


# --- up, down, status ------------------------------------------------------------------


def up(pytest_args: Sequence[str], say: Say) -> int:
    """Start the holder and wait until its servers answer (or it fails)."""
    with locked(state_path().with_suffix(".lock")):  # one up or down at a time
        warm = read()
        if warm is not None and warm.stale() is None:
            say(f"services are already up; --services-down stops them\n{warm.describe()}")
            return 0
        if warm is not None:
            say(f"services: removing the stale state file ({warm.stale()})")
            _remove_leftovers(warm)
        log = state_path().with_suffix(".log")
        with log.open("wb") as out:
            holder = subprocess.Popen(
                [sys.executable, "-m", "pytest", "--services-hold", *pytest_args],
                cwd=PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives this command and its terminal
            )
        deadline = time.monotonic() + UP_TIMEOUT
        while (warm := read()) is None or warm.holder["pid"] != holder.pid:
            if holder.poll() is not None or time.monotonic() > deadline:
                if holder.poll() is None:
                    holder.kill()
                    holder.wait()
                say(f"services: --services-up failed; its output ({log}):")
                say(log.read_text(errors="replace")[-4000:])
                return 1
            time.sleep(0.05)
        say(warm.describe())
        return 0


def down(say: Say) -> int:
    """Stop the holder (its run stops the servers and removes their data), then the file."""
    with locked(state_path().with_suffix(".lock")):
        warm = read()
        if warm is None:
            say("services: no warm servers for this project")
            state_path().unlink(missing_ok=True)
            return 0
        stale = warm.stale()
        if stale is not None:
            say(f"services: the state file was stale ({stale})")
        elif kill_process(warm.holder, signal.SIGTERM) and not wait_for_exit(warm.holder, 60):
            kill_process(warm.holder)  # its reaper still removes the servers
            wait_for_exit(warm.holder, 10)
        _remove_leftovers(warm)
        state_path().with_suffix(".lock").unlink(missing_ok=True)
        names = ", ".join(warm.servers) or "nothing"
        say(f"services down: stopped {names} (run {warm.run['id']})")
        return 0


def _remove_leftovers(warm: Warm) -> None:
    """The holder's run, once its reaper is done with it; if holder and reaper are both
    gone (killed together), its servers and directory, as any run's would be."""
    reaper = read_record(warm.run_dir / "reaper.json") or {}
    deadline = time.monotonic() + 15
    while warm.run_dir.is_dir() and time.monotonic() < deadline:
        if process_state(warm.holder) == "dead" and process_state(reaper) == "dead":
            break
        time.sleep(0.02)
    if warm.run_dir.is_dir() and warm.run_dir.name.startswith(RUN_DIR_PREFIX):
        remove_abandoned_runs(warm.run_dir.parent)
    state_path().unlink(missing_ok=True)
    state_path().with_suffix(".log").unlink(missing_ok=True)


def status(say: Say) -> int:
    warm = read()
    if warm is None:
        say("services: not up (pytest --services-up starts them)")
        return 1
    if (stale := warm.stale()) is not None:
        say(f"services: not up; the state file is stale ({stale}); --services-down removes it")
        return 1
    say(warm.describe())
    return 0
