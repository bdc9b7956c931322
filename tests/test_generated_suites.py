"""Generated suites, for real: render, install with uv, run pytest -n 2 against real servers.

Each run must pass (coverage threshold included, as in the generated CI) with nothing
failed and nothing skipped, and every chosen backend must have had tests executed
against it. CI=true is set, so a backend that cannot be
started is an error in the generated suite, never a silent skip.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from .conftest import render
from .provisioned import ferretdb_as_documented

pytestmark = pytest.mark.slow

ALL_BACKENDS = ["postgres", "redis", "mongo", "kafka", "s3"]  # RabbitMQ has suites of its own
ALL_LAYERS = ["unit", "integration", "e2e", "performance", "security"]
ALL_APIS = ["http_api", "openai", "smtp", "supabase_auth"]
SUITES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "no-backend": {"backends": [], "python_version": "3.11"},
    "postgres-only-all-layers": {
        "backends": ["postgres"],
        "python_version": "3.11",
        "test_layers": ALL_LAYERS,
    },
    "redis-only": {"backends": ["redis"], "python_version": "3.11"},
    "mongo-only-local-ferretdb": {
        "backends": ["mongo"],
        "python_version": "3.11",
        "mongo_provider": "local",
    },
    "kafka-only": {"backends": ["kafka"], "python_version": "3.11"},
    "s3-only": {"backends": ["s3"], "python_version": "3.11"},
    "all-five-all-layers-gitlab": {
        "backends": ALL_BACKENDS,
        "python_version": "3.11",
        "ci_provider": "gitlab",
        "test_layers": ALL_LAYERS,
    },
    "all-five-async-all-layers-kafka-home": {
        "backends": ALL_BACKENDS,
        "async_fixtures": True,
        "python_version": "3.11",
        "test_layers": ALL_LAYERS,
        "kafka_provider": "KAFKA_HOME",
    },
    # Third-party API stand-ins: real local HTTP and SMTP servers.
    # The lowest Python the template supports, run for real (its mypy and runtime).
    "apis-all-no-backend": {"backends": [], "third_party_apis": ALL_APIS, "python_version": "3.10"},
    "apis-all-postgres": {
        "backends": ["postgres"],
        "third_party_apis": ALL_APIS,
        "python_version": "3.11",
    },
    # The optional FastAPI app (web_app).
    # The two named combinations of the stand-ins issue.
    # Beanie on MongoDB (FerretDB here) and AsyncOpenAI: async.
    "document-store": {
        "backends": ["mongo", "redis", "s3"],
        "third_party_apis": ["openai"],
        "async_fixtures": True,
        "python_version": "3.11",
    },
    "web-api": {
        "web_app": True,
        "backends": ["postgres", "redis"],
        "python_version": "3.11",
        "test_layers": ALL_LAYERS,
    },
    # Task queues: real workers on the suite's Redis (the stacks of the queues issue).
    "fastapi-celery": {
        "web_app": True,
        "backends": ["postgres", "redis"],
        "task_queues": ["celery"],
        "python_version": "3.11",
        "test_layers": ALL_LAYERS,
    },
    # The ML platform stack: Dramatiq (on Redis, its broker), MLflow (artifacts on the
    # suite's S3) and Supabase auth, async.
    "ml-platform": {
        "backends": ["postgres", "redis", "s3", "mlflow"],
        "task_queues": ["dramatiq"],
        "third_party_apis": ["supabase_auth"],
        "async_fixtures": True,
        "python_version": "3.11",
    },
    # Both queues on RabbitMQ (a vhost per test), results in Redis; the plain RabbitMQ
    # example over aio-pika.
    "queues-on-rabbitmq-async": {
        "backends": ["redis", "rabbitmq"],
        "task_queues": ["celery", "dramatiq"],
        "async_fixtures": True,
        "python_version": "3.11",
    },
    "web-async-postgres-mongo-s3": {
        "web_app": True,
        "async_fixtures": True,
        "backends": ["postgres", "mongo", "s3"],
        "python_version": "3.11",
        "test_layers": ALL_LAYERS,
    },
}


def find_python(version: str) -> str:
    """An interpreter for the project's Python version; uv may not download one here."""
    candidates = [
        shutil.which(f"python{version}"),
        *sorted(
            glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}"))
        ),
        *sorted(glob.glob(f"/usr/local/bin/python{version}")),
    ]
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "--version"], capture_output=True).returncode == 0:
            return candidate
    pytest.fail(
        f"no Python {version} interpreter found; install one (e.g. `uv python install {version}`)"
    )


def junit_outcomes(report: Path) -> tuple[Counter[str], Counter[str]]:
    """Outcome counts, and executed (non-skipped) tests per backend (and per API stand-in,
    counted as ``api:<key>``, and per task queue, as ``queue:<key>``)."""
    outcomes: Counter[str] = Counter()
    per_backend: Counter[str] = Counter()
    for case in ET.parse(report).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        outcome = next((t for t in ("failure", "error", "skipped") if t in tags), "passed")
        outcomes[outcome] += 1
        if outcome == "passed":
            for prop in case.iter("property"):
                if prop.get("name") == "backend":
                    per_backend[prop.get("value", "")] += 1
                elif prop.get("name") == "api":
                    per_backend[f"api:{prop.get('value', '')}"] += 1
                elif prop.get("name") == "task_queue":
                    per_backend[f"queue:{prop.get('value', '')}"] += 1
    return outcomes, per_backend


def servers_env(
    request: pytest.FixtureRequest, backends: list[str], project: Path
) -> dict[str, str]:
    """Where the generated suite finds servers that no wheel carries, and how.

    Kafka: the local provider, from the jars it downloads itself (the machine-wide
    cache that .ci/provision/kafka.sh fills), or through KAFKA_HOME when the suite's
    answers say ``kafka_provider: KAFKA_HOME``. RabbitMQ: the local provider, from
    Debian's rabbitmq-server (installed by .ci/provision/rabbitmq.sh). MongoDB: FerretDB
    through the url provider (TEST_MONGO_URL), or through the local provider when the
    suite's answers say ``mongo_provider: local``: ferretdb on PATH, built by the command
    the project's own docs/testing.md gives.
    """
    env: dict[str, str] = {}
    answers = request.node.callspec.params["answers"]
    if "rabbitmq" in backends:
        request.getfixturevalue("rabbitmq_server_script")
    if "kafka" in backends and answers.get("kafka_provider") == "KAFKA_HOME":
        env["KAFKA_HOME"] = str(request.getfixturevalue("kafka_home"))
    if "mongo" in backends:
        if answers.get("mongo_provider") == "local":
            request.getfixturevalue("ferretdb_binary")  # Go, and the module's hash checked
            ferretdb = ferretdb_as_documented(project, project.parent / "ferretdb")
            env["PATH"] = f"{ferretdb.parent}{os.pathsep}{os.environ['PATH']}"
        else:
            env["TEST_MONGO_URL"] = request.getfixturevalue("ferretdb_url")
    return env


def synced(project: Path, python_version: str, servers: dict[str, str]) -> dict[str, str]:
    """``uv sync`` the project; returns the environment its suite runs in: CI=true, the
    project's Python, these servers, and none of the caller's TEST_/PYTEST_ settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TEST_", "PYTEST_", "KAFKA_HOME"))
    }
    env.update(
        servers,
        CI="true",
        UV_PYTHON=find_python(python_version),
        UV_PYTHON_DOWNLOADS="never",
        VIRTUAL_ENV="",
    )
    sync = subprocess.run(
        ["uv", "sync", "-q"], cwd=project, env=env, capture_output=True, text=True
    )
    assert sync.returncode == 0, sync.stderr
    return env


def expected_provider(backend: str, env: dict[str, str]) -> str:
    return "url" if f"TEST_{backend.upper()}_URL" in env else "local"


@pytest.mark.parametrize("answers", SUITES.values(), ids=list(SUITES))
def test_generated_suite_passes_against_real_servers(
    request: pytest.FixtureRequest, tmp_path: Path, answers: dict[str, Any]
) -> None:
    answers = {k: v for k, v in answers.items() if k not in ("mongo_provider", "kafka_provider")}
    backends = answers.get("backends", ["postgres", "redis"])
    project = render(tmp_path / "project", **answers)
    version = answers.get("python_version", "3.12")
    servers = servers_env(request, backends, project)
    env = synced(project, version, servers)

    report = tmp_path / "junit.xml"
    pytest = ["uv", "run", "pytest", "-n", "2", "-p", "no:cacheprovider", "--cov"]
    # Nothing the suite opens (servers, the reaper, sockets) may be left to the garbage
    # collector: a ResourceWarning fails the test it shows up in, as pytest reports it
    # (an unraisable exception in the object's __del__).
    pytest += [
        "-W",
        "error::ResourceWarning",
        "-W",
        "error::pytest.PytestUnraisableExceptionWarning",
    ]
    # Random order (pytest-randomly, always installed), with a seed fixed per suite so a
    # failure here is reproduced with the same --randomly-seed; RANDOMLY_SEED overrides.
    seed = os.environ.get("RANDOMLY_SEED") or str(zlib.crc32(request.node.name.encode()))
    run = subprocess.run(
        [*pytest, "-p", "randomly", f"--randomly-seed={seed}", f"--junitxml={report}"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, output
    assert f"Using --randomly-seed={seed}" in run.stdout, output
    assert "network guard: " in run.stdout, output  # always on

    outcomes, per_backend = junit_outcomes(report)
    assert outcomes["passed"] > 0, output
    assert outcomes["failure"] == outcomes["error"] == 0, output
    assert outcomes["skipped"] == 0, output
    for backend in backends:
        assert per_backend[backend] > 0, f"no {backend} test ran:\n{output}"
        provider = expected_provider(backend, servers)
        assert f"{backend}: {provider}" in run.stdout, output  # the summary names it
        if provider == "local":  # and says how long each phase of the start took
            started = rf"^{backend}: local \(.*, started in ([0-9.]+) s by \w+(?: \((.*)\))?$"
            found = re.search(started, run.stdout, re.MULTILINE)
            assert found, output
            # Phases under 0.01 s are left out (a Redis server can be ready in 5 ms), so
            # only a start long enough that one phase must have passed 0.01 s lists some.
            if float(found[1]) >= 0.1:
                assert re.fullmatch(r"\w+ [0-9.]+ s(, \w+ [0-9.]+ s)*", found[2] or ""), output
    if "kafka" in backends:
        source = "KAFKA_HOME=" if "KAFKA_HOME" in servers else "Maven Central"
        assert f"kafka: local ({source}" in run.stdout, output
    for api in answers.get("third_party_apis", []):
        assert per_backend[f"api:{api}"] > 0, f"no {api} stand-in test ran:\n{output}"
    for queue in answers.get("task_queues", []):
        assert per_backend[f"queue:{queue}"] > 0, f"no {queue} worker test ran:\n{output}"

    mypy = subprocess.run(
        ["uv", "run", "mypy"], cwd=project, env=env, capture_output=True, text=True
    )
    assert mypy.returncode == 0, mypy.stdout

    if answers.get("web_app") and "performance" in answers.get("test_layers", []):
        # The bounded locust run is left out of the default run; it must pass when asked.
        load = subprocess.run(
            ["uv", "run", "pytest", "-m", "load", "-p", "no:cacheprovider", "-q"],
            cwd=project, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert load.returncode == 0, load.stdout[-4000:]
        assert "1 passed" in load.stdout, load.stdout[-2000:]
