"""Servers that no wheel carries, provisioned for the generated suites.

FerretDB (MongoDB wire protocol on SQLite; no MongoDB binary can be had here) is built
from the Go module proxy by .ci/provision/ferretdb.sh into a cache, so a second run
takes milliseconds. Kafka needs nothing: generated suites download its jars themselves;
.ci/provision/kafka.sh fetches them the same way (with a rendered project's own code)
and lays out a KAFKA_HOME from them for the suite that tests that provider. A backend
whose script cannot run here (no Go, no network) is skipped with the script's message,
and fails the run under CI=true: CI must exercise every backend.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REPO, under_ci

PROVISION = REPO / ".ci" / "provision"


def _provision(script: str) -> Path:
    return run_provisioning(PROVISION / script, f".{script}.lock")


def run_provisioning(script: Path, lock_name: str, timeout: float = 1200) -> Path:
    """Run a provisioning script once at a time; the path it prints last.

    A script that cannot run here is a skip with its message, and a failure under CI=true.
    """
    cache = Path(os.environ.get("PROVISION_CACHE") or Path.home() / ".cache" / "proving-ground")
    cache.mkdir(parents=True, exist_ok=True)
    # xdist workers ask at the same time; the first builds, the others wait for it.
    with (cache / lock_name).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, timeout=timeout
        )
    if done.returncode != 0:
        message = f"{script.relative_to(REPO)} failed: {done.stderr.strip()[-1500:]}"
        if under_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def kafka_home() -> Path:
    """A KAFKA_HOME laid out from the downloaded jars, for the KAFKA_HOME provider."""
    return _provision("kafka.sh")


@pytest.fixture(scope="session")
def rabbitmq_server_script() -> Path:
    """Debian's rabbitmq-server (installed if missing) for the generated suites' local
    provider, which finds it without any setting."""
    return _provision("rabbitmq.sh")


@pytest.fixture(scope="session")
def ferretdb_binary() -> Path:
    return _provision("ferretdb.sh")


def ferretdb_as_documented(project: Path, into: Path) -> Path:
    """FerretDB built by the one command a generated project's docs/testing.md gives.

    Run as written, but into ``into`` rather than ~/.local/bin and /tmp. The
    ``ferretdb_binary`` fixture must have run: it checks the module's hash against a
    pin, which lets this skip sum.golang.org (out of reach here; users have it).
    """
    docs = (project / "docs" / "testing.md").read_text()
    command = next(line for line in docs.splitlines() if "go mod download" in line)
    command = command.replace("~/.local/bin", str(into / "bin"))
    command = command.replace("/tmp/ferretdb-src", str(into / "src"))
    env = {**os.environ, "GOSUMDB": "off"}
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env,
                          timeout=1200)  # fmt: skip
    assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
    return into / "bin" / "ferretdb"


@pytest.fixture(scope="session")
def ferretdb_url(ferretdb_binary: Path) -> Iterator[str]:
    """A running FerretDB, handed to generated suites as TEST_MONGO_URL (url provider)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = Path(tempfile.mkdtemp(prefix="ferretdb-"))
    server = subprocess.Popen(
        [
            str(ferretdb_binary), "--handler=sqlite", f"--sqlite-url=file:{data}/",
            f"--listen-addr=127.0.0.1:{port}", f"--state-dir={data}", "--debug-addr=-",
            "--telemetry=disable", "--log-level=warn",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("FerretDB did not start") from None
                time.sleep(0.02)
        yield f"mongodb://127.0.0.1:{port}/"
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(data, ignore_errors=True)
