"""A rendered project to measure: render, install, provision servers, run commands in it.

Everything that runs inside the project is a real module of ``in_project/``, copied into
the project's ``tests/pg_bench/`` (and ``peer/`` into ``peer_bench/``) before it runs.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .report import log

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
IN_PROJECT = HERE / "in_project"
PROBES = "tests/pg_bench"  # where in_project/ goes inside a project
PEER_DIR = "peer_bench"  # where in_project/peer/ goes: outside tests/, so no plugin of ours
BENCH_PACKAGE_ENV = "BENCH_PACKAGE"

# Settings that would point the generated suite at other servers or another environment,
# and PYTHONDONTWRITEBYTECODE (set on some sandboxes and CI images): without bytecode
# caches every process compiles its imports again, which no developer's machine does.
STRIPPED = (
    "VIRTUAL_ENV",
    "CI",
    "DATABASE_URL",
    "REDIS_URL",
    "MONGODB_URL",
    "AWS_ENDPOINT_URL",
    "PYTHONDONTWRITEBYTECODE",
)
STRIPPED_PREFIXES = ("TEST_", "PYTEST_", "KAFKA_HOME", "FERRETDB_BIN")


def find_python(version: str) -> str:
    """An interpreter for the project; uv may not download one here."""
    candidates = [
        *sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}")),
        Path(f"/usr/bin/python{version}"),
    ]
    found = shutil.which(f"python{version}")
    for candidate in [*candidates, *([Path(found)] if found else [])]:
        if candidate.is_file():
            return str(candidate)
    raise SystemExit(f"no Python {version} here; set UV_PYTHON to one")


def base_env(python: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in STRIPPED and not key.startswith(STRIPPED_PREFIXES)
    }
    env.update(UV_PYTHON=python, UV_PYTHON_DOWNLOADS="never", NO_COLOR="1")
    return env


def run(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    *,
    timeout: float = 900,
    check: bool = True,
    user: str | None = None,
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run a command; its wall time and outcome. ``user``: run it as that account."""
    prefix = [] if user is None else as_user(user)
    started = time.perf_counter()
    done = subprocess.run(
        [*prefix, *argv], cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    elapsed = time.perf_counter() - started
    if check and done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {done.returncode}:\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-3000:]}"
        )
    return elapsed, done


def as_user(name: str) -> list[str]:
    account = pwd.getpwnam(name)
    return [
        "setpriv",
        f"--reuid={account.pw_uid}",
        f"--regid={account.pw_gid}",
        "--clear-groups",
        "--",
    ]


def provision(backends: Sequence[str]) -> dict[str, str]:
    """Environment for servers no wheel carries: KAFKA_HOME, FerretDB's directory on PATH.

    Built into caches by ``.ci/provision`` (seconds once cached).
    """
    env: dict[str, str] = {}
    for backend, script in (("kafka", "kafka.sh"), ("mongo", "ferretdb.sh")):
        if backend not in backends:
            continue
        done = subprocess.run(
            ["bash", str(REPO / ".ci" / "provision" / script)],
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
        )
        found = done.stdout.strip().splitlines()[-1]
        if backend == "kafka":
            env["KAFKA_HOME"] = found
        else:
            env["PATH"] = f"{Path(found).parent}{os.pathsep}{os.environ['PATH']}"
    return env


@dataclass
class Project:
    """A rendered, installed project and the environment its commands run in."""

    path: Path
    env: dict[str, str]
    answers: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def create(cls, dest: Path, python: str, **answers: Any) -> Project:
        """Render the checkout (uncommitted changes included) and ``uv sync`` it."""
        from copier import run_copy

        log(f"rendering {answers or 'the defaults'} into {dest}")
        started = time.perf_counter()
        run_copy(
            str(REPO), dest, data=answers, defaults=True, unsafe=True, quiet=True, vcs_ref="HEAD"
        )
        project = cls(dest, base_env(python), answers)
        project.timings["render_s"] = time.perf_counter() - started
        project.timings["install_s"] = project.uv("sync", "-q")
        return project

    @classmethod
    def existing(cls, path: Path, python: str) -> Project:
        return cls(path.resolve(), base_env(python))

    @property
    def package(self) -> str:
        return next(p.name for p in (self.path / "src").iterdir() if (p / "__init__.py").exists())

    def backends(self) -> list[str]:
        """The backends the project was rendered with, from its answers file."""
        lines = (self.path / ".copier-answers.yml").read_text().splitlines()
        try:
            start = lines.index("backends:") + 1
        except ValueError:
            return []
        found = []
        for line in lines[start:]:
            if not line.startswith("- "):
                break
            found.append(line[2:].strip().strip("'\""))
        return found

    def uv(self, *args: str, timeout: float = 900) -> float:
        elapsed, _ = run(["uv", *args], self.path, self.env, timeout=timeout)
        return elapsed

    def install_probes(self) -> None:
        """Copy ``in_project/`` into ``tests/pg_bench`` and ``in_project/peer/`` into
        ``peer_bench``; the project's own runs leave them out with ``--ignore``."""
        for source, target in ((IN_PROJECT, PROBES), (IN_PROJECT / "peer", PEER_DIR)):
            destination = self.path / target
            shutil.rmtree(destination, ignore_errors=True)
            shutil.copytree(
                source, destination, ignore=shutil.ignore_patterns("__pycache__", "peer")
            )
        self.env[BENCH_PACKAGE_ENV] = self.package

    def python(self, *args: str, **kwargs: Any) -> tuple[float, subprocess.CompletedProcess[str]]:
        """``python -m ...`` in the project's environment (cwd on sys.path, so
        ``tests.support`` and ``tests.pg_bench`` import)."""
        env = {**self.env, **kwargs.pop("env", {})}
        return run([str(self.path / ".venv" / "bin" / "python"), *args], self.path, env, **kwargs)

    def pytest(self, *args: str, **kwargs: Any) -> tuple[float, subprocess.CompletedProcess[str]]:
        """pytest in order (no random order, no cache), one process, quiet."""
        fixed = ("-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider")
        return self.python(*fixed, *args, **kwargs)


@contextlib.contextmanager
def podman_docker_api(work: Path) -> Iterator[dict[str, str]]:
    """The Docker API served by podman for the duration, with the stand-in images of
    ``.ci/docker/`` built (cached after the first time); yields the settings that point
    Docker clients and testcontainers at it (Ryuk off, as in CI)."""
    env = base_env(os.environ.get("UV_PYTHON", ""))
    done = subprocess.run(
        ["bash", str(REPO / ".ci" / "docker" / "provision.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f".ci/docker/provision.sh failed:\n{done.stderr[-3000:]}")
    settings = {"CONTAINERS_CONF": str(REPO / ".ci" / "docker" / "containers.conf")}
    socket = work / "podman.sock"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"],
        env={**env, **settings},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not socket.exists():
            if service.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("podman system service did not start")
            time.sleep(0.05)
        yield settings | {
            "DOCKER_HOST": f"unix://{socket}",
            # /.dockerenv exists on these machines although the daemon runs on this one.
            "TESTCONTAINERS_HOST_OVERRIDE": "localhost",
            "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
            "TESTCONTAINERS_RYUK_DISABLED": "true",
        }
    finally:
        service.terminate()
        try:
            service.wait(10)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
