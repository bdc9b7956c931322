"""The ``local`` provider's common part: start a server of the run on this machine.

Every backend's ``start_local`` finds its binary, makes a fresh data directory, starts
the server as a recorded process of the run and waits until it answers. ``LocalStart``
does all but the first, and times each phase of the start: ``Endpoint.timings`` is what
a benchmark reads, rather than patching the backend module to time it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .processes import start_server, wait_until_ready
from .providers import Endpoint
from .run import Run


class LocalStart:
    """One start of one backend's local server, timed phase by phase.

    A phase runs from the end of the previous one, so the phases add up to the whole
    start: what the backend does before the launch is ``prepare`` unless it names its
    own steps with ``lap``; then ``launch`` (the process exists), ``ready`` (it answers)
    and ``finish`` (what the backend asks the running server before it is handed out).
    """

    def __init__(self, run: Run, backend: str) -> None:
        self.run = run
        self.backend = backend
        self.log = run.dir / f"{backend}.log"
        self.timings: dict[str, float] = {}
        self._mark = time.perf_counter()

    def lap(self, phase: str) -> None:
        """Record the time since the previous phase ended as ``phase`` (seconds)."""
        now = time.perf_counter()
        self.timings[phase] = self.timings.get(phase, 0.0) + now - self._mark
        self._mark = now

    def fresh_dir(self, *, mode: int = 0o777, owner: pwd.struct_passwd | None = None) -> Path:
        """The backend's directory in the run's, empty: what an interrupted start left goes."""
        path = self.run.dir / self.backend
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(mode=mode)
        if owner is not None:
            os.chown(path, owner.pw_uid, owner.pw_gid)
        return path

    def launch(
        self,
        argv: Sequence[str],
        ready: Callable[[], bool],
        *,
        timeout: float,
        name: str | None = None,
        user: pwd.struct_passwd | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` as a recorded process of the run and wait until ``ready()``."""
        self.lap("prepare")
        process = start_server(self.run, name or self.backend, argv, self.log, user=user, env=env)
        self.lap("launch")
        wait_until_ready(ready, process, self.log, timeout)
        self.lap("ready")
        return process

    def endpoint(
        self,
        process: subprocess.Popen[bytes],
        *,
        url: str,
        version: str,
        source: str,
        stop_signal: int = signal.SIGTERM,
        extra: dict[str, Any] | None = None,
    ) -> Endpoint:
        """The started server, with the timings of its start."""
        self.lap("finish")  # the arguments (a version asked of the server) are evaluated
        return Endpoint(
            backend=self.backend,
            provider="local",
            url=url,
            version=version,
            source=source,
            pid=process.pid,
            stop_signal=stop_signal,
            extra=extra or {},
            timings=dict(self.timings),
        )
