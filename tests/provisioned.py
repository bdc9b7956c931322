"""Servers that no wheel carries, provisioned for the generated suites.

Kafka comes from Apache's jars on Maven Central and FerretDB (MongoDB wire protocol on
SQLite; no MongoDB binary can be had here) from the Go module proxy, both built by the
scripts in .ci/provision/ into a cache, so a second run takes milliseconds. A backend
whose script cannot run here (no JDK, no Go) is skipped with the script's message, and
fails the run under CI=true: CI must exercise every backend.
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
    """A Kafka installation for the generated suites' local provider (KAFKA_HOME)."""
    return _provision("kafka.sh")


@pytest.fixture(scope="session")
def ferretdb_binary() -> Path:
    return _provision("ferretdb.sh")


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
