"""Pause and kill points inside a generated suite, for tests/test_chaos.py.

Copied into the generated project as ``tests/chaos_plugin.py`` and loaded with
``-p tests.chaos_plugin``; it is not part of the template. ``CHAOS`` names the point,
``CHAOS_TARGETS`` the backends it applies to, and ``CHAOS_DIR`` is where the plugin
reports, one JSON file per point reached. At a pause point the process reports and
sleeps, so the test can kill it exactly there; at a kill point it kills itself.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

POINT = os.environ.get("CHAOS", "")
TARGETS = set(filter(None, os.environ.get("CHAOS_TARGETS", "").split(",")))
OUT = Path(os.environ.get("CHAOS_DIR", "."))


def report(name: str, **info: Any) -> None:
    partial = OUT / f".{name}.{os.getpid()}"
    partial.write_text(json.dumps({"pid": os.getpid(), **info}))
    partial.replace(OUT / f"{name}.json")


def pause(name: str, **info: Any) -> None:
    report(name, **info)
    time.sleep(600)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    from tests.plugins.services import RUN_KEY

    run = config.stash[RUN_KEY]
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        report(f"worker-up-{worker}")
    if run.is_owner:
        report("run", id=run.id, dir=str(run.dir))
        _wrap_teardown()
    _wrap_start_server()
    if POINT == "cold-cache":
        _wrap_cache_fills()


def _replace(name: str, wrapper: Any, original: Any) -> None:
    """Put ``wrapper`` in place of ``original`` in every module of the plumbing."""
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("tests.") and getattr(module, name, None) is original:
            setattr(module, name, wrapper)


def _wrap_start_server() -> None:
    from tests.support import processes

    real = processes.start_server

    def start_server(run: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        process = real(run, name, *args, **kwargs)
        if name not in TARGETS:
            return process
        if POINT == "controller-at-server-start":
            pause("server-start", server=process.pid)
        elif POINT == "worker-at-server-start":
            first = OUT / f"worker-killed-{name}.json"
            with (OUT / "worker-kill.lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released by the kill
                if not first.exists():
                    _wait_for_replacements()
                    report(f"worker-killed-{name}", server=process.pid)
                    os.kill(os.getpid(), signal.SIGKILL)  # right after the fork
            killed = json.loads(first.read_text())
            report(f"retried-{name}", first_server_alive=_alive(killed["server"]))
        return process

    _replace("start_server", start_server, real)


def _wait_for_replacements() -> None:
    """Wait until xdist has replaced every worker killed so far.

    Two workers killed in the same instant crash xdist itself (the controller hands the
    first one's tests to the second before it has seen the second die: "cannot send
    (already closed?)"), which is not what the scenario tests: one kill at a time.
    """
    workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    killed = len(list(OUT.glob("worker-killed-*.json")))
    deadline = time.monotonic() + 120
    while len(list(OUT.glob("worker-up-*.json"))) < workers + killed:
        if time.monotonic() > deadline:
            raise TimeoutError(f"xdist has not replaced the {killed} workers killed")
        time.sleep(0.05)


def _wrap_cache_fills() -> None:
    """Hold every cache fill until all runs of the scenario are at the same point, so
    all of them find the entry missing and race for it at once.

    A fill made inside another (Kafka's class archive needs formatted storage) is not
    held: the other runs wait for the outer one's lock, so they could never arrive.
    """
    from tests.support import cached_trees

    barrier = Path(os.environ["CHAOS_BARRIER_DIR"])
    runs = int(os.environ["CHAOS_BARRIER"])
    real_fill_once = cached_trees.fill_once
    depth = [0]

    def fill_once(target: Path, make: Any) -> bool:
        if depth[0] == 0 and not target.exists():
            (barrier / f"{target.name}-{os.getpid()}").touch()
            deadline = time.monotonic() + 120
            while len(list(barrier.glob(f"{target.name}-*"))) < runs:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"only some runs reached the fill of {target.name}")
                time.sleep(0.01)
            report(f"reached-{target.name}")
        depth[0] += 1
        try:
            made = real_fill_once(target, make)
        finally:
            depth[0] -= 1
        if made:
            report(f"made-{target.name}")
        return made

    _replace("fill_once", fill_once, real_fill_once)


def _wrap_teardown() -> None:
    from tests.support import processes, reaper

    real_stop = processes.stop_process_group
    stopped: list[int] = []

    def stop_process_group(pgid: int, *args: Any, **kwargs: Any) -> None:
        if POINT == "teardown" and stopped:
            pause("teardown", stopped=stopped, next=pgid)
        real_stop(pgid, *args, **kwargs)
        stopped.append(pgid)

    _replace("stop_process_group", stop_process_group, real_stop)

    class HalfRemoved:
        """shutil for the run directory's removal: removes half of it, then waits."""

        def __getattr__(self, name: str) -> Any:
            return getattr(shutil, name)

        @staticmethod
        def rmtree(path: Path, **kwargs: Any) -> None:
            if POINT == "final-removal":
                for child in sorted(Path(path).iterdir())[::2]:
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink()
                pause("final-removal", left=sorted(p.name for p in Path(path).iterdir()))
            shutil.rmtree(path, **kwargs)

    reaper.shutil = HalfRemoved()  # type: ignore[assignment]
