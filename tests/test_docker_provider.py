"""The docker provider and compose.test.yaml, live: every backend in a container.

One project with all five backends is rendered and installed for the module; its suite
runs against podman's Docker API with the stand-in images (tests/containers.py; MongoDB's
image carries FerretDB, not mongod). Every check of "nothing left" looks at this run's
own containers only: those labelled with its owner's pid, or with the compose project's
name. Ryuk is off (no ryuk image can be built here), so the run's own reaper and
teardown are what remove the containers.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import render
from .containers import RUN_LABEL, Podman
from .test_generated_suites import find_python, junit_outcomes

pytestmark = pytest.mark.slow

BACKENDS = ["postgres", "redis", "mongo", "kafka", "s3"]
OWNER_LABEL = "dev.proving-ground.owner"
# Test hooks the project's own conftest gets (tests/conftest.py is the user's file).
CONFTEST_HOOKS = """

import os as _os
import time as _time
from pathlib import Path as _Path

import pytest as _pytest


@_pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config: _pytest.Config) -> None:
    marker = _os.environ.get("PG_TEST_TEARDOWN_MARKER")
    if marker and not hasattr(config, "workerinput"):  # the controller, before teardown
        _Path(marker).write_text("teardown")
        _time.sleep(60)


if _os.environ.get("PG_TEST_BREAK_REDIS"):
    from tests.support import redis as _redis

    def _broken_version(url: str) -> str:
        with open(_os.environ["PG_TEST_BREAK_REDIS"], "a") as calls:
            calls.write(f"{_os.getpid()}\\n")
        _time.sleep(3)  # long enough for the test to see the container
        raise ValueError("version query broken on purpose")

    _redis._server_version = _broken_version
"""
# xdist workers (this suite's) ignore SIGINT, and children inherit that: the generated
# suite gets Ctrl-C's default back before it starts, as it would in a terminal.
SIGINT_AS_IN_A_TERMINAL = [
    sys.executable, "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])",
]  # fmt: skip
WAITS = """import os
import time


def test_waits(db_session, redis_client):
    time.sleep(float(os.environ.get("PG_TEST_WAIT", "0")))
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = render(
        tmp_path_factory.mktemp("docker") / "project", python_version="3.11", backends=BACKENDS
    )
    with (root / "tests" / "conftest.py").open("a") as conftest:
        conftest.write(CONFTEST_HOOKS)
    (root / "tests" / "integration" / "test_zz_docker_waits.py").write_text(WAITS)
    sync = subprocess.run(["uv", "sync", "-q"], cwd=root, env=env_for(None), capture_output=True)
    assert sync.returncode == 0, sync.stderr
    return root


def env_for(podman: Podman | None, **extra: str) -> dict[str, str]:
    base = podman.env if podman is not None else os.environ
    env = {k: v for k, v in base.items() if not k.startswith(("TEST_", "PYTEST_", "KAFKA_HOME"))}
    env.update(UV_PYTHON=find_python("3.11"), UV_PYTHON_DOWNLOADS="never", VIRTUAL_ENV="")
    env.pop("CI", None)
    env.update(extra)
    return env


class Watch:
    """Records, while a pytest run lives, its containers and their volumes."""

    def __init__(self, podman: Podman, owner_pid: int) -> None:
        self.podman, self.owner = podman, owner_pid
        self.containers: set[str] = set()
        self.volumes: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def mine(self) -> list[str]:
        """This run's containers on the daemon now (any state)."""
        found = self.podman.podman(
            "ps", "-a", "--no-trunc", "--filter", f"label={RUN_LABEL}",
            "--format", f'{{{{.ID}}}} {{{{index .Labels "{OWNER_LABEL}"}}}}',
        )  # fmt: skip
        return [cid for cid, _, owner in (line.partition(" ") for line in found.splitlines())
                if owner.endswith(f":{self.owner}")]  # fmt: skip

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                ids = self.mine()
                self.volumes |= self.podman.volumes_of(ids)
                self.containers.update(ids)
            except (AssertionError, ValueError, KeyError):
                pass  # a container removed between list and inspect
            self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def left(self) -> tuple[list[str], set[str]]:
        return self.mine(), self.podman.existing_volumes(self.volumes)


@contextmanager
def pytest_run(
    project: Path, podman: Podman, log: Path, *args: str, **env: str
) -> Iterator[tuple[subprocess.Popen[bytes], Watch]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*SIGINT_AS_IN_A_TERMINAL, str(project / ".venv" / "bin" / "pytest"),
             "-p", "no:cacheprovider", *args],
            cwd=project, env=env_for(podman, **env), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, as in a terminal
        )  # fmt: skip
    watch = Watch(podman, proc.pid)
    try:
        yield proc, watch
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        watch.stop()
        # After a failed check, leave nothing to the next test: the reaper needs this
        # session's daemon, which ends with the session.
        deadline = time.monotonic() + 30
        while watch.mine() and time.monotonic() < deadline:
            time.sleep(0.5)


def summary_start_times(output: str) -> dict[str, float]:
    found = re.findall(r"^(\w+): docker \(.*started in ([0-9.]+) s", output, re.MULTILINE)
    return {backend: float(seconds) for backend, seconds in found}


def test_every_backend_runs_on_the_docker_provider(
    project: Path, podman: Podman, tmp_path: Path
) -> None:
    report, log = tmp_path / "junit.xml", tmp_path / "pytest.log"
    args = ("-n", "2", "--services=docker", f"--junitxml={report}", "--deselect",
            "tests/integration/test_zz_docker_waits.py")  # fmt: skip
    with pytest_run(project, podman, log, *args, CI="true") as (proc, watch):
        assert proc.wait(timeout=600) == 0, log.read_text()[-6000:]
        watch.stop()
        left = watch.left()
    output = log.read_text()
    outcomes, per_backend = junit_outcomes(report)
    assert outcomes["failure"] == outcomes["error"] == outcomes["skipped"] == 0, output[-6000:]
    for backend in BACKENDS:
        assert per_backend[backend] > 0, f"no {backend} test ran:\n{output[-6000:]}"
        assert re.search(rf"^{backend}: docker \(testcontainers, ", output, re.MULTILINE), output
    assert "FerretDB" in re.search(r"^mongo: docker.*$", output, re.MULTILINE)[0]  # type: ignore[index]
    assert "docker (testcontainers, pinned)" in output  # the header says it was pinned
    assert len(watch.containers) == len(BACKENDS), watch.containers  # one each, no retries
    assert watch.volumes, "the images declare volumes; none were seen"
    assert left == ([], set()), f"left behind: {left}"
    print("docker start times:", summary_start_times(output), "outcomes:", dict(outcomes),
          "per backend:", dict(per_backend))  # fmt: skip


@pytest.mark.parametrize(
    ("moment", "sig"),
    [
        ("server start", signal.SIGKILL),
        ("mid-tests", signal.SIGKILL),
        ("teardown", signal.SIGKILL),
        ("mid-tests", signal.SIGINT),  # Ctrl-C
        ("mid-tests", signal.SIGTERM),
    ],
    ids=["kill-9-at-server-start", "kill-9-mid-tests", "kill-9-at-teardown", "ctrl-c", "sigterm"],
)
def test_a_killed_pytest_leaves_no_container_volume_or_run_directory(
    project: Path, podman: Podman, tmp_path: Path, moment: str, sig: signal.Signals
) -> None:
    base = tmp_path / "runs"
    base.mkdir()
    marker = tmp_path / "teardown"
    env = {"TEST_SERVICES_DIR": str(base), "PG_TEST_WAIT": "120"}
    if moment == "teardown":  # the controller stops before its teardown, servers up
        env.update(PG_TEST_WAIT="0", PG_TEST_TEARDOWN_MARKER=str(marker))
    args = ("-n", "2", "--services=docker", "tests/integration/test_zz_docker_waits.py")
    with pytest_run(project, podman, tmp_path / "pytest.log", *args, **env) as (proc, watch):
        run_dir = wait_for(lambda: next(base.glob("pytest-services-*"), None), "a run directory")
        if moment == "server start":
            # A container exists and is recorded, and its server is not ready yet.
            wait_for(lambda: _has_id(run_dir / "postgres-container.json"), "a postgres container")
            assert not (run_dir / "postgres.json").exists(), "postgres was ready already"
        elif moment == "mid-tests":
            wait_for(lambda: (run_dir / "postgres.json").exists(), "postgres")
            wait_for(lambda: (run_dir / "redis.json").exists(), "redis")
        else:
            wait_for(marker.exists, "the start of teardown")
        time.sleep(0.5)  # let the watcher see the volumes
        seen = set(watch.mine())
        assert seen, "no container of the run was running when pytest was killed"
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # Ctrl-C reaches the terminal's whole process group
        else:
            proc.send_signal(sig)
        killed = time.monotonic()
        # The reaper acts within 10 s of its owner's death (SIGKILL, SIGTERM). Ctrl-C is
        # pytest's own orderly shutdown, xdist's workers first: seconds more when busy.
        limit = 30 if sig == signal.SIGINT else 10
        deadline = killed + limit
        while time.monotonic() < deadline and (watch.mine() or run_dir.exists()):
            time.sleep(0.2)
        elapsed = time.monotonic() - killed
        watch.stop()
        containers, volumes = watch.left()
    what = f"{sig.name} at {moment}"
    assert elapsed < limit, f"{what}: not all gone {limit} s after the signal"
    assert containers == [], f"{what}: containers left {elapsed:.1f} s after the signal"
    assert volumes == set(), f"{what}: volumes left: {volumes}"
    assert not run_dir.exists(), f"{what}: run directory left"
    assert watch.volumes, "the containers' volumes were never seen: nothing was checked"
    print(f"{what}: {len(seen)} containers, {len(watch.volumes)} volumes, "
          f"all gone {elapsed:.1f} s after the signal")  # fmt: skip


def _has_id(state: Path) -> bool:
    try:
        return '"container_id": "' in state.read_text()
    except FileNotFoundError:
        return False


def wait_for(found, what: str, timeout: float = 180):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout:.0f} s")


def test_a_failed_start_is_recorded_once_and_leaves_no_container(
    project: Path, podman: Podman, tmp_path: Path
) -> None:
    calls, log = tmp_path / "calls", tmp_path / "pytest.log"
    args = ("-n", "2", "-rs", "--services=docker", "tests/integration/test_cache.py")
    with pytest_run(project, podman, log, *args, PG_TEST_BREAK_REDIS=str(calls)) as (proc, watch):
        assert proc.wait(timeout=300) == 0, log.read_text()[-4000:]
        watch.stop()
        left = watch.left()
    output = log.read_text()
    assert "failed to start: redis:7.4-alpine: ValueError: version query broken on purpose" in (
        output
    ), output[-4000:]
    assert "Fix: fix the cause the docker provider reported" in output, output[-4000:]
    assert " passed" not in output.splitlines()[-1], output[-2000:]
    assert len(calls.read_text().splitlines()) == 1, "a worker retried the failed start"
    assert len(watch.containers) == 1, watch.containers  # started once, by one worker
    assert left == ([], set()), f"left behind: {left}"


def test_compose_file_up_suite_down_leaves_nothing(
    project: Path, podman: Podman, tmp_path: Path
) -> None:
    compose_file = (project / "compose.test.yaml").read_text()
    name = re.search(r"^name: (\S+)$", compose_file, re.MULTILINE)[1]  # type: ignore[index]
    urls = dict(re.findall(r"^#   export (TEST_\w+_URL)=(\S+)$", compose_file, re.MULTILINE))
    assert sorted(urls) == sorted(f"TEST_{b.upper()}_URL" for b in BACKENDS), urls
    compose = [str(podman.compose), "-f", "compose.test.yaml"]
    project_label = f"label=com.docker.compose.project={name}"
    env = env_for(podman)

    def health_checks(stop: threading.Event) -> None:
        # podman runs health checks from systemd timers; with no systemd, run them here.
        while not stop.wait(1):
            for container in podman.containers(project_label):
                subprocess.run(["podman", "healthcheck", "run", container], env=env,
                               capture_output=True, check=False)  # fmt: skip

    stop = threading.Event()
    pump = threading.Thread(target=health_checks, args=(stop,), daemon=True)
    pump.start()
    report = tmp_path / "junit.xml"
    try:
        started = time.monotonic()
        up = subprocess.run([*compose, "up", "-d", "--wait"], cwd=project, env=env,
                            capture_output=True, text=True, timeout=600)  # fmt: skip
        stop.set()
        assert up.returncode == 0, up.stdout + up.stderr
        up_seconds = time.monotonic() - started
        containers = podman.containers(project_label)
        volumes = podman.volumes_of(containers)
        suite_env = {k: v for k, v in env_for(None, CI="true", **urls).items()
                     if k != "DOCKER_HOST"}  # fmt: skip
        run = subprocess.run(
            [str(project / ".venv" / "bin" / "pytest"), "-p", "no:cacheprovider", "-n", "2",
             f"--junitxml={report}", "--deselect", "tests/integration/test_zz_docker_waits.py"],
            cwd=project, env=suite_env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        stop.set()
        down = subprocess.run([*compose, "down", "-v"], cwd=project, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
    assert down.returncode == 0, down.stdout + down.stderr
    assert run.returncode == 0, run.stdout[-6000:]
    outcomes, per_backend = junit_outcomes(report)
    assert outcomes["failure"] == outcomes["error"] == outcomes["skipped"] == 0, run.stdout[-4000:]
    for backend in BACKENDS:
        assert per_backend[backend] > 0, f"no {backend} test ran:\n{run.stdout[-4000:]}"
        assert f"{backend}: url (TEST_{backend.upper()}_URL)" in run.stdout, run.stdout[-4000:]
    assert len(containers) == len(BACKENDS), containers
    assert podman.containers(project_label) == []
    assert podman.existing_volumes(volumes) == set()
    assert name not in podman.podman("network", "ls", "--format", "{{.Name}}")
    print(f"compose up --wait: {up_seconds:.1f} s; {len(volumes)} volumes removed by down -v;"
          f" outcomes {dict(outcomes)}, per backend {dict(per_backend)}")  # fmt: skip
